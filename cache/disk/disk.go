package disk

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// diskState remembers that the disk refused a write, so that CannotStore
// says so until DiskRetry has passed.
type diskState struct {
	mu       sync.Mutex
	bad      bool
	badUntil time.Time
}

// isDiskError reports errors that mean "cannot store now" rather than a bug.
func isDiskError(err error) bool {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EACCES, syscall.EPERM, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// diskUsable reports whether new files may be written now.
func (c *Cache) diskUsable() bool {
	c.disk.mu.Lock()
	defer c.disk.mu.Unlock()
	return !c.disk.bad || time.Now().After(c.disk.badUntil)
}

// diskFailed notes a disk error; it logs only on the transition to bad.
func (c *Cache) diskFailed(err error) {
	if err == nil || !isDiskError(err) {
		return
	}
	c.disk.mu.Lock()
	wasBad := c.disk.bad
	c.disk.bad = true
	c.disk.badUntil = time.Now().Add(c.opts.DiskRetry)
	c.disk.mu.Unlock()
	if !wasBad {
		c.log.Error("cache disk refused a write; serving without storing until it works again",
			"dir", c.opts.Dir, "retry_every", c.opts.DiskRetry, "err", err)
	}
}

// diskRecovered notes a successful commit; it logs once after a failure.
func (c *Cache) diskRecovered() {
	c.disk.mu.Lock()
	wasBad := c.disk.bad
	c.disk.bad = false
	c.disk.mu.Unlock()
	if wasBad {
		c.log.Info("cache disk writable again; storing downloads", "dir", c.opts.Dir)
	}
}

// roomFor reports whether size more bytes fit on the cache filesystem,
// counting what the incoming files still have to write. Unknown free
// space counts as room.
func (c *Cache) roomFor(size int64) bool {
	free, ok := freeBytes(c.tmpDir)
	if !ok {
		return true
	}
	pending := c.incoming.remaining()
	const margin = 64 << 10 // room for the index to grow
	return free >= size+pending+margin
}

// CannotStore says why a new file of size bytes (0: unknown) would not be
// stored now, or "".
func (c *Cache) CannotStore(size uint64) string {
	switch {
	case !c.diskUsable():
		return "cache disk refused recent writes"
	case c.opts.MaxSize > 0 && size > uint64(c.opts.MaxSize):
		return "larger than the cache size limit"
	case size > 0 && !c.roomFor(int64(size)):
		return "not enough free disk space"
	}
	return ""
}
