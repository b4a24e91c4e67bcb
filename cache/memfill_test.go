package cache

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// Readers joining a download into memory while it runs must not race
// with the download appending to its buffer.
func TestFillMemoryLateJoiners(t *testing.T) {
	c := openTest(t, Options{})
	b := makeBlob(t, 512<<10, "none", true)
	src := &fakeSource{data: b.file, chunk: 16 << 10, delay: time.Millisecond}
	spec, done := specFor(b, src)

	const readers = 64
	var wg sync.WaitGroup
	results := make([][]byte, readers)
	errs := make([]error, readers)
	for i := range readers {
		wg.Go(func() {
			// Spread the joins over the download.
			time.Sleep(time.Duration(i%16) * time.Millisecond)
			n, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				errs[i] = err
				return
			}
			defer n.Close()
			results[i], errs[i] = readAllNAR(t, n)
		})
	}
	wg.Wait()
	if err := done.wait(t); err != nil {
		t.Fatal(err)
	}
	for i := range readers {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		if !bytes.Equal(results[i], b.file) {
			t.Fatalf("reader %d got %d bytes, not the file", i, len(results[i]))
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("upstream fetched %d times, want 1", got)
	}
}
