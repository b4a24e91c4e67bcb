package disk

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func TestNarKeyRoundTrip(t *testing.T) {
	b := makeBlob(t, 10, "none", false)
	for _, comp := range []string{"none", "xz", "zstd", "bzip2", "gzip", "br", "lz4", "lzip"} {
		key, err := narinfo.NarFileKey(b.key[:32], b.spec.NarHash, comp)
		if err != nil {
			t.Fatal(err)
		}
		sh, h, gotComp, ok := narinfo.ParseNarFileKey(key)
		if !ok || sh != b.key[:32] || !bytes.Equal(h.Digest(), b.spec.NarHash.Digest()) || gotComp != comp {
			t.Errorf("narinfo.ParseNarFileKey(%q) = %q, %v, %q, %v", key, sh, h, gotComp, ok)
		}
	}
	if _, err := narinfo.NarFileKey(b.key[:32], b.spec.NarHash, "rar"); err == nil {
		t.Error("NarKey accepted an unknown compression")
	}
	for _, bad := range []string{"", "x", "../etc/passwd", b.key + "/", strings.ToUpper(b.key), b.key[:40], "nar/" + b.key} {
		if _, _, _, ok := narinfo.ParseNarFileKey(bad); ok {
			t.Errorf("narinfo.ParseNarFileKey(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "..", ".hidden", "a/b", "a\x00b", "AB", strings.Repeat("a", 201)} {
		if validKey(bad) {
			t.Errorf("validKey(%q) = true", bad)
		}
	}
}

func TestWriterCommitAndCancel(t *testing.T) {
	c := openTest(t, Options{})

	w, err := c.Create("abc-cancel.nar")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	if got := tmpFiles(t, c); len(got) != 1 {
		t.Fatalf("temp files while writing = %v, want one", got)
	}
	if _, err := openHit(c, "abc-cancel.nar"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("uncommitted file visible: %v", err)
	}
	w.Cancel()
	w.Cancel() // idempotent
	if got := tmpFiles(t, c); len(got) != 0 {
		t.Fatalf("temp files after Cancel = %v", got)
	}

	commitBytes(t, c, "abc-commit.nar", []byte("hello"))
	if got := tmpFiles(t, c); len(got) != 0 {
		t.Fatalf("temp files after Commit = %v", got)
	}
	n, err := openHit(c, "abc-commit.nar")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !n.Hit() || n.Size() != 5 {
		t.Fatalf("hit = %v, size = %d", n.Hit(), n.Size())
	}
	if got, _ := io.ReadAll(n.File()); string(got) != "hello" {
		t.Fatalf("content = %q", got)
	}
	if size, files := c.Size(); size != 5 || files != 1 {
		t.Fatalf("Size() = %d, %d", size, files)
	}
	// Two writers of the same key never share a temp file.
	w1, _ := c.Create("abc-twice.nar")
	w2, _ := c.Create("abc-twice.nar")
	if w1.tmp == w2.tmp {
		t.Fatal("two writers got the same temp file")
	}
	w1.Cancel()
	w2.Cancel()
}

func TestReconcileAtOpen(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir})
	commitBytes(t, c, "aa-kept.nar", []byte("kept"))
	commitBytes(t, c, "bb-lost.nar", []byte("lost"))
	commitBytes(t, c, "cc-resized.nar", []byte("resized"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash leaves a temp file, an orphan file and an entry without file.
	os.WriteFile(filepath.Join(dir, "tmp", "dd-half.nar.123"), []byte("half"), 0o644)
	os.MkdirAll(filepath.Join(dir, "nar", "ee"), 0o755)
	os.WriteFile(filepath.Join(dir, "nar", "ee", "ee-orphan.nar"), []byte("orphan"), 0o644)
	os.Remove(filepath.Join(dir, "nar", "bb", "bb-lost.nar"))
	os.WriteFile(filepath.Join(dir, "nar", "cc", "cc-resized.nar"), []byte("other size"), 0o644)

	c = openTest(t, Options{Dir: dir})
	if got := tmpFiles(t, c); len(got) != 0 {
		t.Errorf("temp files not swept: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "nar", "ee", "ee-orphan.nar")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("orphan file kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nar", "cc", "cc-resized.nar")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file of the wrong size kept: %v", err)
	}
	for key, want := range map[string]bool{"aa-kept.nar": true, "bb-lost.nar": false, "cc-resized.nar": false, "ee-orphan.nar": false} {
		n, err := openHit(c, key)
		if got := err == nil; got != want {
			t.Errorf("%s present = %v, want %v (%v)", key, got, want, err)
		}
		if n != nil {
			n.Close()
		}
	}
	if size, files := c.Size(); size != 4 || files != 1 {
		t.Errorf("Size() = %d, %d, want 4, 1", size, files)
	}
	c.Close()
	// The dropped entries stay dropped.
	c = openTest(t, Options{Dir: dir})
	if size, files := c.Size(); size != 4 || files != 1 {
		t.Errorf("after reopen Size() = %d, %d, want 4, 1", size, files)
	}
}

func TestEvictionLRU(t *testing.T) {
	// Files of 950 bytes: evicting one leaves 95% of 3000 (and of 2000).
	c := openTest(t, Options{MaxSize: 3000})
	for i := range 3 {
		commitBytes(t, c, keyN(i), make([]byte, 950))
		time.Sleep(2 * time.Millisecond) // distinct access times
	}
	// Touch the oldest: now k0001 is the least recently used.
	n, err := openHit(c, keyN(0))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	time.Sleep(2 * time.Millisecond)
	commitBytes(t, c, keyN(3), make([]byte, 950))

	// Checked without opening: an open counts as an access.
	want := map[string]bool{keyN(0): true, keyN(1): false, keyN(2): true, keyN(3): true}
	for key, present := range want {
		_, err := os.Stat(c.narPath(key))
		if got := err == nil; got != present {
			t.Errorf("%s present = %v, want %v", key, got, present)
		}
	}
	if size, files := c.Size(); size != 2850 || files != 3 {
		t.Errorf("Size() = %d, %d, want 2850, 3", size, files)
	}
	// The order survives a reopen with a smaller limit (access times flushed on Close).
	dir := c.Dir()
	c.Close()
	c = openTest(t, Options{Dir: dir, MaxSize: 2000}) // 2850 → 1900
	for key, present := range map[string]bool{keyN(0): true, keyN(2): false, keyN(3): true} {
		_, err := os.Stat(c.narPath(key))
		if got := err == nil; got != present {
			t.Errorf("after reopen %s present = %v, want %v", key, got, present)
		}
	}
}

func TestReaderSurvivesEviction(t *testing.T) {
	c := openTest(t, Options{})
	data := randomBytes(7, 1<<20)
	commitBytes(t, c, "ab-big.nar", data)
	n, err := openHit(c, "ab-big.nar")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	first := make([]byte, 1000)
	io.ReadFull(n.File(), first)
	if removed, _ := c.evictTo(0); removed != 1 {
		t.Fatalf("evicted %d files, want 1", removed)
	}
	if _, err := os.Stat(c.narPath("ab-big.nar")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file still there after eviction: %v", err)
	}
	rest, err := io.ReadAll(n.File())
	if err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, data) {
		t.Fatal("evicted file read back wrong")
	}
}

func testNarInfo(t testing.TB, b *blob, name string) *narinfo.NarInfo {
	t.Helper()
	return &narinfo.NarInfo{
		StorePath: "/nix/store/" + b.key[:32] + "-" + name, URL: "nar/mirror/" + b.key,
		Compression: b.spec.Compression, FileHash: b.spec.FileHash, FileSize: b.spec.FileSize,
		NarHash: b.spec.NarHash, NarSize: b.spec.NarSize, References: []string{b.key[:32] + "-" + name},
	}
}

func TestNarInfosSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir})
	want := make(map[string][]byte)
	var entries []cache.NarInfoEntry
	for range 1000 {
		b := makeBlob(t, 8, "none", true)
		ni := testNarInfo(t, b, "p")
		entries = append(entries, cache.NarInfoEntry{NarInfo: ni, Key: b.key, Upstream: "up", UpstreamURL: "nar/x" + b.key})
		want[ni.HashPart()] = ni.Bytes()
	}
	// Stored by concurrent writers, as lookups do.
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < len(entries); i += 10 {
				if err := c.PutNarInfo(entries[i]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	c = openTest(t, Options{Dir: dir, HotNarInfos: 10})
	for hp, raw := range want {
		e, err := c.NarInfo(hp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Raw, raw) || !bytes.Equal(e.NarInfo.Bytes(), raw) {
			t.Fatalf("narinfo %s changed:\n%s\nwant\n%s", hp, e.Raw, raw)
		}
		if e.Upstream != "up" || e.UpstreamURL != "nar/x"+e.Key {
			t.Fatalf("entry %s = %+v", hp, e)
		}
	}
	if _, err := c.NarInfo("00000000000000000000000000000000"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing narinfo: %v", err)
	}
	hp := func() string {
		for hp := range want {
			return hp
		}
		return ""
	}()
	if err := c.DeleteNarInfo(hp); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NarInfo(hp); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("deleted narinfo: %v", err)
	}
}

func TestNegativeTTL(t *testing.T) {
	// Long enough that a loaded machine sees the entry before it expires.
	c := openTest(t, Options{NegativeTTL: time.Second})
	const hp = "0123456789abcdfghijklmnpqrsvwxyz"
	if c.Negative(hp) {
		t.Fatal("negative before put")
	}
	if err := c.PutNegative(hp); err != nil {
		t.Fatal(err)
	}
	if !c.Negative(hp) {
		t.Fatal("no negative after put")
	}
	time.Sleep(1100 * time.Millisecond)
	if c.Negative(hp) {
		t.Fatal("negative entry outlived its TTL")
	}
	if _, err := c.sweepNegatives(negativeSweepChunk); err != nil {
		t.Fatal(err)
	}
	// A narinfo clears the negative entry.
	c.PutNegative(hp)
	b := makeBlob(t, 8, "none", true)
	ni := testNarInfo(t, b, "p")
	ni.StorePath = "/nix/store/" + hp + "-p"
	if err := c.PutNarInfo(cache.NarInfoEntry{NarInfo: ni, Key: b.key}); err != nil {
		t.Fatal(err)
	}
	if c.Negative(hp) {
		t.Fatal("negative entry kept after a narinfo was stored")
	}
}

func TestLockedIndex(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir})
	_ = c
	start := time.Now()
	_, err := Open(Options{Dir: dir, LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another process holds the cache index at "+filepath.Join(dir, "index.db")) {
		t.Fatalf("second Open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second Open took %s", d)
	}
	if _, err := GC(dir, 0); err == nil || !strings.Contains(err.Error(), "index is locked by a running server") {
		t.Fatalf("GC on a locked cache: %v", err)
	}
	if _, err := Verify(dir); err == nil || !strings.Contains(err.Error(), "index is locked by a running server") {
		t.Fatalf("Verify on a locked cache: %v", err)
	}
}

func TestGCAndVerify(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, Options{Dir: dir})
	var blobs []*blob
	for i, comp := range []string{"zstd", "xz", "none", "gzip"} {
		b := makeBlob(t, 5000+i, comp, i%2 == 0)
		blobs = append(blobs, b)
		commitBytes(t, c, b.key, b.file)
		if i < 2 { // the others are checked from their key alone
			if err := c.PutNarInfo(cache.NarInfoEntry{NarInfo: testNarInfo(t, b, "p"), Key: b.key}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	commitBytes(t, c, "zz-unknown.nar", []byte("no narinfo"))
	c.Close()

	// Corrupt two files, keeping their sizes.
	for _, b := range blobs[:2] {
		p := filepath.Join(dir, "nar", b.key[:2], b.key)
		data, _ := os.ReadFile(p)
		data[len(data)/2] ^= 0xff
		os.WriteFile(p, data, 0o644)
	}
	rep, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 4 || len(rep.Bad) != 2 || len(rep.Unverifiable) != 1 {
		t.Fatalf("Verify report = %+v", rep)
	}
	for _, b := range blobs[:2] {
		if _, err := os.Stat(filepath.Join(dir, "nar", b.key[:2], b.key)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("bad file %s kept", b.key)
		}
	}
	res, err := GC(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Removed != 2 {
		t.Fatalf("GC result = %+v", res)
	}
	// The most recently used file is the one left.
	if _, err := os.Stat(filepath.Join(dir, "nar", "zz", "zz-unknown.nar")); err != nil {
		t.Errorf("most recent file evicted: %v", err)
	}
}
