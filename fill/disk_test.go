package fill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/tmpfs"
)

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

func fetchAll(t *testing.T, c *testCache, b *blob, src *fakeSource) (got []byte, stored bool, err, doneErr error) {
	t.Helper()
	spec, done := specFor(b, src)
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got, err = readAllNAR(t, n)
	return got, n.Stored(), err, done.wait(t)
}

func TestDiskFullAndReadOnly(t *testing.T) {
	dir := tmpfs.Mount(t, "2m")
	// DiskRetry must outlast the steps that expect the disk to count as bad.
	c := openTest(t, testOptions{Dir: dir, DiskRetry: time.Second})

	// Known size that does not fit: streamed without storing from the start.
	big := makeBlob(t, 3<<20, "none", true)
	got, stored, err, derr := fetchAll(t, c, big, &fakeSource{data: big.file, chunk: 64 << 10})
	if err != nil || derr != nil || stored || !bytes.Equal(got, big.file) {
		t.Fatalf("too big for the disk: stored %v, %v, %v", stored, err, derr)
	}

	// Unknown size: the disk fills up during the download, which stops
	// storing (a storage error, not the upstream's fault) and is cleaned
	// up; its client goes on without storing and gets the whole file.
	// (Compressed: an uncompressed file's size is NarSize, always known.)
	unsized := makeBlob(t, 3<<20, "zstd", false)
	src := &fakeSource{data: unsized.file, chunk: 64 << 10, length: -1}
	spec, done := specFor(unsized, src)
	n, err := c.OpenNAR(context.Background(), unsized.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAllNAR(t, n)
	n.Close()
	if err != nil || !bytes.Equal(got, unsized.file) {
		t.Fatalf("disk full during download: read %d of %d bytes, %v", len(got), len(unsized.file), err)
	}
	if derr := done.wait(t); !errors.Is(derr, cache.ErrStorage) {
		t.Fatalf("disk full during download: %v, want cache.ErrStorage", derr)
	}
	if derr := done.wait(t); derr != nil {
		t.Fatalf("the stream that took over: %v", derr)
	}
	if offs := src.fetched(); len(offs) != 2 || offs[1] == 0 {
		t.Errorf("upstream asked from %v, want 0 then where the file stopped", offs)
	}
	assertNotStored(t, c, unsized.key)
	if tmp := tmpFiles(t, c); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
	// The next request is streamed without trying to store.
	got, stored, err, derr = fetchAll(t, c, unsized, &fakeSource{data: unsized.file, length: -1})
	if err != nil || derr != nil || stored || !bytes.Equal(got, unsized.file) {
		t.Fatalf("after disk full: stored %v, %v, %v", stored, err, derr)
	}

	// Space is back (the failed temp file is gone): after DiskRetry small files are stored again.
	time.Sleep(1100 * time.Millisecond)
	small := makeBlob(t, 10<<10, "zstd", true)
	if _, stored, err, derr = fetchAll(t, c, small, &fakeSource{data: small.file}); err != nil || derr != nil || !stored {
		t.Fatalf("no recovery: stored %v, %v, %v", stored, err, derr)
	}

	// A read-only temp folder (a read-only bind mount over it; the index
	// stays writable): served, not stored, then recovered.
	tmp := filepath.Join(dir, "tmp")
	run(t, "mount", "--bind", tmp, tmp)
	t.Cleanup(func() { exec.Command("umount", tmp).Run() }) // if the test stops early
	run(t, "mount", "-o", "remount,bind,ro", tmp)
	// A small file is downloaded into memory and written once verified:
	// the client has it all, and only the storing fails.
	inMemory := makeBlob(t, 10<<10, "zstd", true)
	got, _, err, derr = fetchAll(t, c, inMemory, &fakeSource{data: inMemory.file})
	if err != nil || !errors.Is(derr, cache.ErrStorage) || !bytes.Equal(got, inMemory.file) {
		t.Fatalf("read-only disk, small file: %v, %v", err, derr)
	}
	assertNotStored(t, c, inMemory.key)
	// Without FileSize the temp file comes first: streamed without storing.
	ro := makeBlob(t, 10<<10, "zstd", false)
	got, stored, err, derr = fetchAll(t, c, ro, &fakeSource{data: ro.file})
	if err != nil || derr != nil || stored || !bytes.Equal(got, ro.file) {
		t.Fatalf("read-only disk: stored %v, %v, %v", stored, err, derr)
	}
	run(t, "umount", tmp)
	time.Sleep(1100 * time.Millisecond)
	if _, stored, err, derr = fetchAll(t, c, ro, &fakeSource{data: ro.file}); err != nil || derr != nil || !stored {
		t.Fatalf("no recovery after read-only: stored %v, %v, %v", stored, err, derr)
	}
	// The hit is served from disk.
	assertStored(t, c, ro.key)
}

// While the store refuses new files (cache/disk: for DiskRetry after the
// disk refused a write, TestDiskErrorRecovery there), downloads stream
// without storing; once it takes them again, they are stored.
func TestDiskErrorRecovery(t *testing.T) {
	c := openTest(t, testOptions{DiskRetry: time.Second})
	c.diskFailed(os.NewSyscallError("write", errnoENOSPC))
	b := makeBlob(t, 10<<10, "none", true)
	if _, stored, err, derr := fetchAll(t, c, b, &fakeSource{data: b.file}); err != nil || derr != nil || stored {
		t.Fatalf("while disk bad: stored %v, %v, %v", stored, err, derr)
	}
	c.st.refused.Store(false)
	if _, stored, err, derr := fetchAll(t, c, b, &fakeSource{data: b.file}); err != nil || derr != nil || !stored {
		t.Fatalf("after DiskRetry: stored %v, %v, %v", stored, err, derr)
	}
}

// Fills that meet a full disk mid-write go on as pass-through streams:
// each of their followers gets the whole, correct file, the temp files
// go, and the cache keeps working. On a 4 MiB tmpfs (needs root; skipped
// otherwise, failed when $CI is set).
func TestDiskFullMidFillKeepsFollowers(t *testing.T) {
	dir := tmpfs.Mount(t, "4m")
	c := openTest(t, testOptions{Dir: dir, DiskRetry: time.Minute})
	const fills, followers = 6, 3
	type follower struct {
		b *blob
		n NAR
	}
	var all []follower
	var dones []*doneLog
	// Size unknown (no FileSize, no Content-Length), so that nothing tells
	// beforehand that they will not fit; made first, so that the fills
	// run side by side.
	var blobs []*blob
	for range fills {
		blobs = append(blobs, makeBlob(t, 1536<<10, "zstd", false))
	}
	for _, b := range blobs {
		spec, done := specFor(b, &fakeSource{data: b.file, chunk: 32 << 10, delay: time.Millisecond, length: -1})
		dones = append(dones, done)
		for range followers {
			n, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, follower{b, n})
		}
	}
	errs := make(chan error, len(all))
	for _, f := range all {
		go func() {
			defer f.n.Close()
			got, err := readAllNAR(t, f.n)
			if err == nil && !bytes.Equal(got, f.b.file) {
				err = errors.New("wrong bytes")
			}
			if err != nil {
				err = fmt.Errorf("%s: read %d of %d bytes: %w", f.b.key, len(got), len(f.b.file), err)
			}
			errs <- err
		}()
	}
	for range all {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	full := 0
	for _, d := range dones {
		if errors.Is(d.wait(t), cache.ErrStorage) {
			full++
		}
	}
	if full == 0 {
		t.Fatal("no fill met the full disk")
	}
	t.Logf("%d of %d fills met the full disk", full, fills)
	waitFor(t, "temp files removed", func() bool { return len(tmpFiles(t, c)) == 0 })
	// Still serving, without storing for now.
	small := makeBlob(t, 10<<10, "zstd", false)
	if got, _, err, derr := fetchAll(t, c, small, &fakeSource{data: small.file}); err != nil || derr != nil || !bytes.Equal(got, small.file) {
		t.Fatalf("after the disk filled up: %v, %v", err, derr)
	}
}
