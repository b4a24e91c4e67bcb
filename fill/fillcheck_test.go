package fill

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func TestPassthroughUnverifiable(t *testing.T) {
	// br cannot be decoded here: NarHash cannot be checked, so the file is
	// streamed but never stored, FileHash or not.
	for _, withFileHash := range []bool{false, true} {
		t.Run(map[bool]string{false: "narhash", true: "filehash"}[withFileHash], func(t *testing.T) {
			c := openTest(t, testOptions{})
			b := makeBlob(t, 100<<10, "none", withFileHash)
			b.spec.Compression = "br"
			key, _ := narinfo.NarFileKey(b.key[:32], b.spec.NarHash, "br")
			src := &fakeSource{data: b.file}
			spec, done := specFor(b, src)
			n, err := c.OpenNAR(context.Background(), key, spec)
			if err != nil {
				t.Fatal(err)
			}
			if n.Stored() {
				t.Fatal("unverifiable download stored")
			}
			if got := mustRead(t, n); !bytes.Equal(got, b.file) {
				t.Fatal("pass-through content wrong")
			}
			n.Close()
			if err := done.wait(t); err != nil {
				t.Fatal(err)
			}
			assertNotStored(t, c, key)
		})
	}
}

func TestPassthroughChecksFileHash(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 100<<10, "zstd", true)
	c.diskFailed(os.NewSyscallError("write", errnoENOSPC)) // as if the disk were full
	for _, corrupt := range []bool{false, true} {
		data := append([]byte(nil), b.file...)
		if corrupt {
			data[10] ^= 1
		}
		spec, done := specFor(b, &fakeSource{data: data, chunk: 4096})
		n, err := c.OpenNAR(context.Background(), b.key, spec)
		if err != nil {
			t.Fatal(err)
		}
		if n.Stored() {
			t.Fatal("stored although the disk is marked bad")
		}
		got, err := readAllNAR(t, n)
		n.Close()
		derr := done.wait(t)
		if corrupt {
			if err == nil || !errors.Is(derr, cache.ErrVerify) || len(got) >= len(data) {
				t.Fatalf("corrupt pass-through: read %d bytes, err %v, done %v", len(got), err, derr)
			}
		} else if err != nil || derr != nil || !bytes.Equal(got, data) {
			t.Fatalf("good pass-through: %v, %v", err, derr)
		}
	}
	assertNotStored(t, c, b.key)
}

func TestCloseCancelsFills(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 100<<10, "none", true)
	src := &fakeSource{data: b.file, stallAt: 1000}
	spec, done := specFor(b, src)
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := done.wait(t); !errors.Is(err, cache.ErrStorage) {
		t.Fatalf("download error after Close = %v, want cache.ErrStorage", err)
	}
	if _, err := io.ReadAll(n); err == nil {
		t.Fatal("reader ended cleanly after Close")
	}
	if _, err := c.OpenNAR(context.Background(), b.key, spec); !errors.Is(err, cache.ErrStorage) {
		t.Fatalf("OpenNAR after Close = %v", err)
	}
}

func TestFillChecksNarHashDespiteFileHash(t *testing.T) {
	// FileHash and FileSize are not signed: an upstream may give ones that
	// match the bytes it serves while NarHash (signed) does not.
	for _, comp := range []string{"none", "zstd", "xz", "gzip"} {
		t.Run(comp, func(t *testing.T) {
			c := openTest(t, testOptions{})
			size := 256 << 10
			if comp == "xz" {
				size = 32 << 10
			}
			b := makeBlob(t, size, comp, true)
			nar := append([]byte(nil), b.nar...)
			nar[len(nar)/2] ^= 0x55
			lie := *b
			lie.file = compress(t, comp, nar)
			lie.spec.FileHash, lie.spec.FileSize = sha(lie.file), uint64(len(lie.file))
			spec, done := specFor(&lie, &fakeSource{data: lie.file, chunk: 16 << 10, delay: 2 * time.Millisecond})

			// One follower reads one byte and then waits for the outcome;
			// another reads as fast as it can.
			waiting, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer waiting.Close()
			if _, err := io.ReadFull(waiting, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			fast, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			got, ferr := readAllNAR(t, fast)
			fast.Close()
			// It may get every byte once FileHash matched (Nix rejects them
			// by NarHash), but never bytes other than the upstream's.
			if ferr == nil && !bytes.Equal(got, lie.file) {
				t.Fatalf("fast follower got %d wrong bytes", len(got))
			}
			if err := done.wait(t); !errors.Is(err, cache.ErrVerify) || errors.Is(err, cache.ErrStorage) {
				t.Fatalf("download error = %v, want cache.ErrVerify", err)
			}
			assertNotStored(t, c, b.key)
			// Done runs just before readers learn the outcome.
			waitFor(t, "readers told of the failure", func() bool { return waiting.(*followNAR).fill.state().done })
			if rest, err := io.ReadAll(waiting); err == nil {
				t.Fatalf("waiting follower read %d more bytes without error", len(rest))
			}

			// The next request downloads again, from a source that does not lie.
			spec2, done2 := specFor(b, &fakeSource{data: b.file})
			n, err := c.OpenNAR(context.Background(), b.key, spec2)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustRead(t, n); !bytes.Equal(got, b.file) {
				t.Fatal("retry read back wrong")
			}
			n.Close()
			if err := done2.wait(t); err != nil {
				t.Fatal(err)
			}
			assertStored(t, c, b.key)
		})
	}
}

func TestFillLastByteWaitsForNarHash(t *testing.T) {
	// FileHash is not signed: with it or without, followers get the last
	// byte only once NarHash and NarSize matched, and the file is
	// committed only after that.
	for _, withFileHash := range []bool{true, false} {
		t.Run(map[bool]string{true: "filehash", false: "narhash"}[withFileHash], func(t *testing.T) {
			gate := make(chan struct{})
			c := openTest(t, testOptions{testHookNarCheck: func() { <-gate }})
			release := sync.OnceFunc(func() { close(gate) })
			t.Cleanup(release) // before Close, which waits for the check
			b := makeBlob(t, 64<<10, "zstd", withFileHash)
			spec, done := specFor(b, &fakeSource{data: b.file})
			// Long enough for the whole file on a loaded machine; the
			// reader waits for this deadline.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := c.OpenNAR(ctx, b.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			got, err := readAllNAR(t, n)
			if !errors.Is(err, context.DeadlineExceeded) || len(got) != len(b.file)-1 {
				t.Fatalf("read %d of %d bytes before the NarHash check: %v", len(got), len(b.file), err)
			}
			assertNotStoredYet(t, c, b.key)
			release()
			if err := done.wait(t); err != nil {
				t.Fatal(err)
			}
			assertStored(t, c, b.key)
		})
	}
}

func TestVerifyNarBlamesContentOnly(t *testing.T) {
	for _, comp := range []string{"none", "zstd", "gzip"} {
		b := makeBlob(t, 64<<10, comp, false)
		corrupt := append([]byte(nil), b.file...)
		corrupt[len(corrupt)/2] ^= 0x55
		readFail := errors.New("read failed")
		tests := []struct {
			name   string
			r      io.Reader
			verify bool // want cache.ErrVerify
			cause  error
		}{
			{"good", bytes.NewReader(b.file), false, nil},
			{"corrupt", bytes.NewReader(corrupt), true, nil},
			{"truncated", bytes.NewReader(b.file[:len(b.file)/2]), true, nil},
			{"read error", io.MultiReader(bytes.NewReader(b.file[:len(b.file)/2]), iotest.ErrReader(readFail)), false, readFail},
		}
		for _, tt := range tests {
			t.Run(comp+"/"+tt.name, func(t *testing.T) {
				err := verifyNar(&b.spec, tt.r)
				if got := errors.Is(err, cache.ErrVerify); got != tt.verify {
					t.Fatalf("verifyNar = %v, cache.ErrVerify %v, want %v", err, got, tt.verify)
				}
				if tt.cause != nil && !errors.Is(err, tt.cause) {
					t.Fatalf("verifyNar = %v, want %v", err, tt.cause)
				}
				if tt.name == "good" && err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestReadersBetweenVerifiedAndCommitted(t *testing.T) {
	// The commit waits for its batch; meanwhile the first reader has had
	// every byte, and a new reader is served from the download in full.
	dir := t.TempDir()
	c := openTest(t, testOptions{Dir: dir, CommitDelay: time.Hour})
	for _, withFileHash := range []bool{false, true} {
		b := makeBlob(t, 64<<10, "zstd", withFileHash)
		spec, _ := specFor(b, &fakeSource{data: b.file, chunk: 8 << 10})
		first, err := c.OpenNAR(context.Background(), b.key, spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, first); !bytes.Equal(got, b.file) {
			t.Fatal("first reader got wrong bytes")
		}
		first.Close()
		second, err := c.OpenNAR(context.Background(), b.key, spec)
		if err != nil {
			t.Fatal(err)
		}
		if second.Hit() {
			t.Fatal("committed before its batch")
		}
		if got := mustRead(t, second); !bytes.Equal(got, b.file) {
			t.Fatal("reader joining before the commit got wrong bytes")
		}
		second.Close()
		if n, err := c.OpenNAR(context.Background(), b.key, nil); err == nil {
			n.Close()
			t.Fatal("in the index before its commit")
		}
		waitVerified(t, c, b.key) // with FileHash, readers may finish before
	}
	// Close commits what waits; the files are there after a reopen.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openTest(t, testOptions{Dir: dir})
	if _, files := c.Size(); files != 2 {
		t.Fatalf("%d files after reopen, want 2", files)
	}
}

// waitVerified waits until the download of key has checked NarHash.
func waitVerified(t *testing.T, c *testCache, key string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		f := c.fills[key]
		c.mu.Unlock()
		if f == nil {
			t.Fatalf("no download of %s in progress", key)
		}
		if st := f.state(); st.verified {
			return
		} else if st.err != nil {
			t.Fatal(st.err)
		}
		if time.Now().After(deadline) {
			t.Fatal("NarHash never checked")
		}
	}
}
