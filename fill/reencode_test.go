package fill

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/internal/narcheck"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// reencodeLog records what Reencode.Done was called with.
type reencodeLog struct {
	ch chan reencoded
}

type reencoded struct {
	fileHash *nixhash.Hash
	fileSize uint64
}

func withReencode(t *testing.T, b *blob, spec *FillSpec, compression string) (string, *reencodeLog) {
	t.Helper()
	key, err := narinfo.NarFileKey(b.key[:narinfo.HashPartLen], b.spec.NarHash, compression)
	if err != nil {
		t.Fatal(err)
	}
	l := &reencodeLog{ch: make(chan reencoded, 1)}
	spec.Reencode = &Reencode{Key: key, Compression: compression, Level: 1,
		Done: func(h *nixhash.Hash, n uint64) { l.ch <- reencoded{h, n} }}
	return key, l
}

func (l *reencodeLog) wait(t *testing.T) reencoded {
	t.Helper()
	select {
	case r := <-l.ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("not re-encoded")
		return reencoded{}
	}
}

// A download is re-encoded during its NarHash check: the new file decodes
// to the NAR, Done gets its FileHash and FileSize, and the reader got the
// upstream's bytes.
func TestReencodeDuringFill(t *testing.T) {
	for _, tt := range []struct{ from, to string }{
		{"xz", "zstd"}, {"gzip", "zstd"}, {"zstd", "none"}, {"xz", "none"},
	} {
		t.Run(tt.from+"-"+tt.to, func(t *testing.T) {
			c := openTest(t, testOptions{})
			b := makeBlob(t, 1<<20+100, tt.from, true)
			spec, done := specFor(b, &fakeSource{data: b.file, chunk: 64 << 10})
			key, l := withReencode(t, b, spec, tt.to)
			n, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustRead(t, n); !bytes.Equal(got, b.file) {
				t.Fatal("reader got other bytes than the upstream's")
			}
			n.Close()
			if err := done.wait(t); err != nil {
				t.Fatal(err)
			}
			r := l.wait(t)
			file, err := os.ReadFile(c.narPath(key))
			if err != nil {
				t.Fatal(err)
			}
			if r.fileSize != uint64(len(file)) || r.fileHash == nil || !bytes.Equal(r.fileHash.Digest(), sha(file).Digest()) {
				t.Fatalf("Done(%v, %d) for a file of %d bytes", r.fileHash, r.fileSize, len(file))
			}
			check := &FillSpec{Compression: tt.to, NarHash: b.spec.NarHash, NarSize: b.spec.NarSize, FileHash: r.fileHash, FileSize: r.fileSize}
			if _, err := verifyPath(t, c.narPath(key), check); err != nil {
				t.Fatalf("re-encoded file: %v", err)
			}
		})
	}
}

// A NAR that does not match its NarHash leaves nothing stored, in any
// compression.
func TestReencodeBadNarStoresNothing(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 1<<20+100, "xz", false)
	b.spec.NarHash = sha([]byte("another NAR"))
	spec, done := specFor(b, &fakeSource{data: b.file, chunk: 64 << 10})
	key, l := withReencode(t, b, spec, "zstd")
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, rerr := readAllNAR(t, n)
	n.Close()
	if rerr == nil || len(got) >= len(b.file) {
		t.Fatalf("reader got %d of %d bytes, error %v", len(got), len(b.file), rerr)
	}
	if err := done.wait(t); err == nil {
		t.Fatal("bad NAR stored")
	}
	assertNotStored(t, c, b.key)
	assertNotStored(t, c, key)
	select {
	case r := <-l.ch:
		t.Fatalf("Done called for a bad NAR: %+v", r)
	default:
	}
}

// The original file is superseded once its copy is stored (cache/disk
// removes it once unread for SupersededGrace: TestSupersededFileRemoved
// there); a re-encoded file already stored is not written again, and the
// original refetched for an old narinfo is superseded again.
func TestSupersededFileRemoved(t *testing.T) {
	c := openTest(t, testOptions{SupersededGrace: time.Minute})
	b := makeBlob(t, 1<<20+5, "xz", true)
	for round := range 2 {
		spec, done := specFor(b, &fakeSource{data: b.file})
		key, l := withReencode(t, b, spec, "zstd")
		n, err := c.OpenNAR(context.Background(), b.key, spec)
		if err != nil {
			t.Fatal(err)
		}
		mustRead(t, n)
		n.Close()
		if err := done.wait(t); err != nil {
			t.Fatal(err)
		}
		if r := l.wait(t); r.fileHash == nil || r.fileSize == 0 {
			t.Fatalf("round %d: Done(%v, %d)", round, r.fileHash, r.fileSize)
		}
		waitFillEnded(t, c, b.key) // Done runs before the fill is let go
		if _, ok := c.storedSize(b.key); !ok {
			t.Fatal("original removed within its grace period")
		}
		if got := c.st.supersededKeys(); len(got) != round+1 || got[round] != b.key {
			t.Fatalf("round %d: superseded %v, want %s", round, got, b.key)
		}
		// As cache/disk does once the grace period is over.
		if err := c.disk.DeleteFile(b.key); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.storedSize(key); !ok {
			t.Fatal("re-encoded file removed")
		}
	}
}

// A write error of the new file drops it and does not fail the download.
func TestReencodeWriteErrorDropsOnlyTheCopy(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 1<<20+100, "xz", true)
	spec, _ := specFor(b, &fakeSource{data: b.file})
	_, l := withReencode(t, b, spec, "none")
	f := &fill{c: c.Cache, key: b.key, spec: spec}
	r := f.newReencoder()
	r.w = failingWriter{r.w} // every write now fails
	if _, err := r.Write(b.nar); err != nil {
		t.Fatal(err)
	}
	r.finish(nil)
	if r.err == nil {
		t.Fatal("write error not seen")
	}
	assertNotStored(t, c, spec.Reencode.Key)
	select {
	case <-l.ch:
		t.Fatal("Done called for a dropped file")
	default:
	}
}

// A file stored before re-encoding was asked for is re-encoded from disk;
// verify checks the copy against the narinfo naming it, and finds it bad
// once corrupted.
func TestReencodeStoredThenVerify(t *testing.T) {
	dir := t.TempDir()
	c := openTest(t, testOptions{Dir: dir})
	b := makeBlob(t, 1<<20+100, "xz", true)
	commitBytes(t, c, b.key, b.file)
	spec := b.spec
	key, l := withReencode(t, b, &spec, "zstd")
	c.ReencodeStored(b.key, &spec)
	r := l.wait(t)
	ni := testNarInfo(t, b, "p")
	ni.URL, ni.Compression, ni.FileHash, ni.FileSize = "nar/mirror/"+key, "zstd", r.fileHash, r.fileSize
	if err := c.PutNarInfo(cache.NarInfoEntry{NarInfo: ni, Key: key, UpstreamKey: b.key}); err != nil {
		t.Fatal(err)
	}
	path := c.narPath(key)
	c.Close()
	rep, err := disk.Verify(dir)
	if err != nil || rep.Checked != 2 || len(rep.Bad) != 0 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file[len(file)/2] ^= 1
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = disk.Verify(dir)
	if err != nil || len(rep.Bad) != 1 || rep.Bad[0] != key {
		t.Fatalf("Verify of a corrupt copy = %+v, %v", rep, err)
	}
}

// verifyPath checks the file at path as verify does.
func verifyPath(t *testing.T, path string, spec *FillSpec) (int64, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return narcheck.VerifyFile(f, f, spec.check())
}

// failingWriter is a writer whose writes fail.
type failingWriter struct{ cache.FileWriter }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("write refused") }

// waitFillEnded waits until no download of key is registered.
func waitFillEnded(t *testing.T, c *testCache, key string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.mu.Lock()
		f := c.fills[key]
		c.mu.Unlock()
		if f == nil {
			return
		}
	}
	t.Fatalf("download of %s still registered after 10s", key)
}
