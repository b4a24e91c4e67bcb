package fill

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

func TestFillManyReadersOneDownload(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 2<<20, "zstd", true)
	src := &fakeSource{data: b.file, chunk: 64 << 10, delay: time.Millisecond}
	spec, done := specFor(b, src)

	readConcurrently(t, c, b, spec, done, src, 50, nil)
	assertStored(t, c, b.key)
	if got := tmpFiles(t, c); len(got) != 0 {
		t.Fatalf("temp files left: %v", got)
	}
}

func TestFillFirstByteEarly(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 1<<20, "none", true)
	// 64 chunks 10 ms apart: a reader slowed by a loaded machine still
	// gets its first byte well before half the file is there.
	src := &fakeSource{data: b.file, chunk: 16 << 10, delay: 10 * time.Millisecond}
	spec, done := specFor(b, src)
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Wait(); err != nil {
		t.Fatal(err)
	}
	if n.Size() != int64(len(b.file)) {
		t.Fatalf("Size() = %d, want %d", n.Size(), len(b.file))
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(n, one); err != nil {
		t.Fatal(err)
	}
	if sent := src.sent.Load(); sent >= int64(len(b.file))/2 {
		t.Fatalf("first byte after %d of %d bytes were sent", sent, len(b.file))
	}
	rest, err := io.ReadAll(n)
	if err != nil || !bytes.Equal(append(one, rest...), b.file) {
		t.Fatalf("content wrong: %v", err)
	}
	done.wait(t)
}

func TestFillSlowReaderAndLeavingReader(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 1<<20, "zstd", false)
	// Paced, so the download is still running when the leaving reader goes.
	src := &fakeSource{data: b.file, chunk: 32 << 10, delay: 5 * time.Millisecond}
	spec, done := specFor(b, src)

	// The slow reader reads one byte and then nothing until the end.
	slow, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	// The leaving reader goes away after its first byte.
	ctx, cancel := context.WithCancel(context.Background())
	leaving, err := c.OpenNAR(ctx, b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(leaving, one); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(leaving); !errors.Is(err, context.Canceled) {
		t.Fatalf("reader with a cancelled context: %v", err)
	}
	leaving.Close()
	if _, err := io.ReadFull(slow, one); err != nil {
		t.Fatal(err)
	}
	// The download finishes while the slow reader sleeps.
	if err := done.wait(t); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(slow)
	if err != nil || !bytes.Equal(append(one, rest...), b.file) {
		t.Fatalf("slow reader: %v", err)
	}
	if src.calls.Load() != 1 {
		t.Fatalf("fetched %d times", src.calls.Load())
	}
}

func TestFillVerifiesEveryCompression(t *testing.T) {
	for _, comp := range []string{"none", "zstd", "xz", "gzip"} {
		for _, withFileHash := range []bool{true, false} {
			name := comp
			if withFileHash {
				name += "/filehash"
			} else {
				name += "/narhash"
			}
			t.Run(name, func(t *testing.T) {
				c := openTest(t, testOptions{})
				size := 200 << 10
				if comp == "xz" {
					size = 32 << 10 // the test's xz encoder is slow
				}
				good := makeBlob(t, size, comp, withFileHash)
				spec, done := specFor(good, &fakeSource{data: good.file, chunk: 8 << 10})
				n, err := c.OpenNAR(context.Background(), good.key, spec)
				if err != nil {
					t.Fatal(err)
				}
				if got := mustRead(t, n); !bytes.Equal(got, good.file) {
					t.Fatal("good file read back wrong")
				}
				n.Close()
				if err := done.wait(t); err != nil {
					t.Fatalf("good file rejected: %v", err)
				}

				bad := makeBlob(t, size, comp, withFileHash)
				corrupt := append([]byte(nil), bad.file...)
				corrupt[len(corrupt)*3/4] ^= 0x55
				spec, done = specFor(bad, &fakeSource{data: corrupt, chunk: 8 << 10})
				n, err = c.OpenNAR(context.Background(), bad.key, spec)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readAllNAR(t, n)
				n.Close()
				if err == nil || !errors.Is(done.wait(t), cache.ErrVerify) {
					t.Fatalf("corrupt file accepted (read %d bytes, %v)", len(got), err)
				}
				if len(got) >= len(corrupt) {
					t.Fatalf("reader got all %d bytes of a corrupt file", len(got))
				}
				assertNotStored(t, c, bad.key)
			})
		}
	}
}

// assertStored fails unless key is in the cache.
func assertStored(t testing.TB, c *testCache, key string) {
	t.Helper()
	n, err := c.OpenNAR(context.Background(), key, nil)
	if err != nil || !n.Hit() {
		t.Fatalf("%s not stored: %v", key, err)
	}
	n.Close()
}

func assertNotStored(t testing.TB, c *testCache, key string) {
	t.Helper()
	if n, err := c.OpenNAR(context.Background(), key, nil); err == nil {
		n.Close()
		t.Fatalf("%s stored", key)
	}
	if _, err := os.Stat(c.narPath(key)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s file exists: %v", key, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(tmpFiles(t, c)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("temp files left: %v", tmpFiles(t, c))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFillFaults(t *testing.T) {
	b := makeBlob(t, 256<<10, "zstd", true)
	noSize := *b
	noSize.spec.FileHash, noSize.spec.FileSize = nil, 0
	tests := []struct {
		name      string
		blob      *blob
		src       *fakeSource
		beforeAny bool // the error comes from Wait, before any byte
		wantErr   error
	}{
		{name: "not found", blob: b, src: &fakeSource{err: fs.ErrNotExist}, beforeAny: true, wantErr: fs.ErrNotExist},
		{name: "server error", blob: b, src: &fakeSource{err: errors.New("500 Internal Server Error")}, beforeAny: true},
		{name: "slow first byte", blob: b, src: &fakeSource{firstWait: 5 * time.Second}, beforeAny: true},
		{name: "stall mid-body", blob: b, src: &fakeSource{stallAt: 100 << 10}},
		{name: "reset mid-body", blob: b, src: &fakeSource{cutAt: 100 << 10}},
		{name: "truncated", blob: b, src: &fakeSource{data: b.file[:200<<10], length: int64(len(b.file))}, wantErr: cache.ErrVerify},
		{name: "announced size differs", blob: b, src: &fakeSource{length: int64(len(b.file)) + 1}, beforeAny: true, wantErr: cache.ErrVerify},
		{name: "too long", blob: b, src: &fakeSource{data: append(append([]byte(nil), b.file...), 1, 2, 3), length: -1}, wantErr: cache.ErrVerify},
		{name: "truncated without size", blob: &noSize, src: &fakeSource{data: b.file[:200<<10], length: -1}, wantErr: cache.ErrVerify},
		{name: "stall without size", blob: &noSize, src: &fakeSource{stallAt: 100 << 10, length: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const stall = time.Second // the good retry must not trip it on a loaded machine
			c := openTest(t, testOptions{StallTimeout: stall})
			src := tt.src
			if src.data == nil {
				src.data = b.file
			}
			src.chunk = 16 << 10
			spec, done := specFor(tt.blob, src)
			start := time.Now()
			n, err := c.OpenNAR(context.Background(), tt.blob.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			werr := n.Wait()
			// A fast failure may already be known to Wait; a slow one
			// must come through Read.
			if tt.beforeAny && werr == nil {
				t.Fatalf("Wait() = %v", werr)
			}
			got, rerr := io.ReadAll(n)
			if werr == nil && rerr == nil {
				t.Fatalf("read %d bytes without error", len(got))
			}
			if n.Size() >= 0 && int64(len(got)) >= n.Size() {
				t.Fatalf("reader got all %d bytes", len(got))
			}
			derr := done.wait(t)
			if derr == nil || (tt.wantErr != nil && !errors.Is(derr, tt.wantErr)) {
				t.Fatalf("download error = %v, want %v", derr, tt.wantErr)
			}
			if errors.Is(derr, cache.ErrStorage) {
				t.Fatalf("upstream fault reported as a storage failure: %v", derr)
			}
			if tt.wantErr == nil && errors.Is(derr, cache.ErrVerify) {
				t.Fatalf("transient fault reported as wrong content: %v", derr)
			}
			// Canceled is for stalls and timeouts (a gateway timeout to clients).
			if src.stallAt == 0 && src.firstWait == 0 && errors.Is(derr, context.Canceled) {
				t.Fatalf("upstream fault reported as canceled: %v", derr)
			}
			// A body that breaks off every time is resumed maxResumes times.
			if d := time.Since(start); d > (maxResumes+1)*stall+2*time.Second {
				t.Fatalf("failure took %s", d)
			}
			assertNotStored(t, c, tt.blob.key)
			// The next request downloads again, and succeeds from a good source.
			good := &fakeSource{data: b.file}
			spec2, done2 := specFor(tt.blob, good)
			n2, err := c.OpenNAR(context.Background(), tt.blob.key, spec2)
			if err != nil {
				t.Fatal(err)
			}
			defer n2.Close()
			if got := mustRead(t, n2); !bytes.Equal(got, b.file) {
				t.Fatal("retry read back wrong")
			}
			if err := done2.wait(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}
