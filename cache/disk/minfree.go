package disk

import (
	"sync"
	"time"
)

// freeFloor is the free space kept on the cache's file system, as nginx's
// min_free: whatever else fills the disk (builds, logs, the Nix store),
// least recently used NAR files make room, with or without MaxSize.
type freeFloor struct {
	bytes   int64
	percent float64

	running  sync.Mutex // one check at a time: two would evict twice for one shortfall
	mu       sync.Mutex
	lastWarn time.Time // of "nothing left to evict"
}

func newFreeFloor(o Options) *freeFloor {
	if o.MinFreeBytes <= 0 && o.MinFreePercent <= 0 {
		return nil
	}
	return &freeFloor{bytes: o.MinFreeBytes, percent: o.MinFreePercent}
}

// floor is the bytes to keep free on a file system of total bytes.
func (f *freeFloor) floor(total int64) int64 {
	if f.bytes > 0 {
		return f.bytes
	}
	return int64(float64(total) * f.percent / 100)
}

// keepFreeSpace evicts least recently used files when the free space is
// under the floor, until it is 5% of the floor over it, so that the next
// few commits do not evict again. It runs after each commit batch and
// every FlushInterval. Files still open by readers free their space only
// once closed; the next check sees that, and evicts no more than needed.
func (c *Cache) keepFreeSpace() {
	if c.floor == nil {
		return
	}
	c.floor.running.Lock()
	defer c.floor.running.Unlock()
	free, total, ok := fsSpace(c.opts.Dir)
	if !ok {
		return
	}
	floor := c.floor.floor(total)
	need := floor - free
	if need <= 0 {
		return
	}
	size, _ := c.Size()
	removed, freed := c.evictDown(size-need, size-need-floor/20)
	if removed > 0 {
		c.log.Info("evicted nar files to keep free space", "count", removed, "bytes", freed,
			"free", free, "min_free", floor)
	}
	if freed < need {
		c.floor.warnFull(c, free, floor)
	}
}

// warnFull says, at most every 10 minutes, that the floor cannot be kept.
func (f *freeFloor) warnFull(c *Cache, free, floor int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.lastWarn) < 10*time.Minute {
		return
	}
	f.lastWarn = time.Now()
	size, files := c.Size()
	c.log.Warn("free space under min-free and the cache cannot make enough room", "dir", c.opts.Dir,
		"free", free, "min_free", floor, "cache_bytes", size, "cache_files", files)
}

func (c *Cache) floorLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.keepFreeSpace()
		}
	}
}
