package disk

import (
	"errors"
	"io/fs"
	"os"
	"sort"
)

// evict removes least recently used NAR files, and the narinfos that name
// them, once the total is over MaxSize, down to its low-water mark (95%):
// the sort of every file under c.mu that it takes then runs once per few
// commits, not after every one.
// Files are unlinked under c.mu so that a fill of the same key cannot
// commit in between and lose its new file; readers holding a file open
// keep reading it (unlink while open).
func (c *Cache) evict() (removed int, freed int64) {
	c.keepFreeSpace()
	if c.opts.MaxSize <= 0 {
		return 0, 0
	}
	return c.evictDown(c.opts.MaxSize, lowWater(c.opts.MaxSize))
}

// lowWater is what eviction leaves of max: 95%, so that a few more
// average files fit before the next eviction.
func lowWater(max int64) int64 { return max - max/20 }

// evictTo evicts until the total is at most max, exactly (GC).
func (c *Cache) evictTo(max int64) (removed int, freed int64) {
	return c.evictDown(max, max)
}

// evictDown evicts, when the total is over max, until it is at most to.
func (c *Cache) evictDown(max, to int64) (removed int, freed int64) {
	c.mu.Lock()
	if c.total <= max {
		c.mu.Unlock()
		return 0, 0
	}
	type victim struct {
		key string
		e   *fileEntry
	}
	all := make([]victim, 0, len(c.files))
	for k, e := range c.files {
		all = append(all, victim{k, e})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].e.atime != all[j].e.atime {
			return all[i].e.atime < all[j].e.atime
		}
		return all[i].key < all[j].key
	})
	var keys []string
	for _, v := range all {
		if c.total <= to {
			break
		}
		if err := os.Remove(c.narPath(v.key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("evict nar file", "key", v.key, "err", err)
			continue
		}
		delete(c.files, v.key)
		c.touchedNar.forget(v.key)
		c.total -= v.e.size
		freed += v.e.size
		keys = append(keys, v.key)
	}
	c.mu.Unlock()
	if len(keys) == 0 {
		return 0, 0
	}
	if err := c.forgetNarFiles(keys); err != nil {
		c.log.Warn("drop evicted entries and their narinfos from index", "err", err)
	}
	c.m.evicted.Add(float64(len(keys)))
	c.log.Debug("evicted nar files", "count", len(keys), "bytes", freed)
	c.updateGauges()
	return len(keys), freed
}
