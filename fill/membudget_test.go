package fill

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Downloads starting together must not all pass the memory budget check
// before any of them counts: check and reservation are one step, and a
// reservation not used by a fill is given back.
func TestMemoryBudgetConcurrentStarts(t *testing.T) {
	const file, fits, starts = 64 << 10, 4, 16

	// Every start waits here until all have decided memory or disk.
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	onReserved := func() {
		mu.Lock()
		if arrived++; arrived == starts {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
		}
	}

	c := openTest(t, testOptions{memoryBudget: fits * file, testHookMemoryReserved: onReserved})
	// Two starts per key: the one that loses the race gives its
	// reservation back.
	var blobs []*blob
	for range starts / 2 {
		blobs = append(blobs, makeBlob(t, file, "none", true))
	}
	var wg sync.WaitGroup
	for i := range starts {
		wg.Go(func() {
			b := blobs[i/2]
			// The upstream never answers: the fills stay in progress.
			spec, _ := specFor(b, &fakeSource{data: b.file, firstWait: time.Minute})
			n, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				t.Error(err)
				return
			}
			n.Close()
		})
	}
	wg.Wait()
	c.mu.Lock()
	c.memMu.Lock()
	reserved, inMemory := c.memBytes, 0
	for _, f := range c.fills {
		if f.inMemory {
			inMemory++
		}
	}
	c.memMu.Unlock()
	c.mu.Unlock()
	if got, want := reserved, int64(inMemory*file); got != want {
		t.Errorf("reserved %d bytes for %d downloads into memory, want %d", got, inMemory, want)
	}
	if reserved > c.opts.memoryBudget || inMemory > fits {
		t.Errorf("%d downloads into memory hold %d bytes, budget %d", inMemory, reserved, c.opts.memoryBudget)
	}
	c.Close() // cancels the fills, which release their buffers
	c.memMu.Lock()
	defer c.memMu.Unlock()
	if c.memBytes != 0 {
		t.Errorf("%d bytes still reserved after every download ended", c.memBytes)
	}
}
