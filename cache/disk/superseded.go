package disk

import (
	"sync"
	"time"
)

// StoredSize returns the size of a committed file, as the index records
// it.
func (c *Cache) StoredSize(key string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.files[key]; e != nil {
		return e.size, true
	}
	return 0, false
}

// Supersede marks a file as replaced by a re-encoded copy: new narinfos
// name the copy, so the file is removed once nobody read it for
// SupersededGrace (clients keep the narinfos they had for 30 days; after
// that the mirror fetches the file again for them).
func (c *Cache) Supersede(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.superseded) < 1_000_000 { // beyond: left to eviction
		c.superseded[key] = time.Now().UnixNano()
	}
}

// dropSuperseded removes the superseded files not read since now minus
// SupersededGrace.
func (c *Cache) dropSuperseded(now time.Time) {
	cutoff := now.Add(-c.opts.SupersededGrace).UnixNano()
	var drop []string
	c.mu.Lock()
	for key, since := range c.superseded {
		if since > cutoff || c.incoming.has(key) {
			continue
		}
		if e := c.files[key]; e != nil && e.atime <= cutoff {
			drop = append(drop, key)
		} else if e != nil {
			continue
		}
		delete(c.superseded, key)
	}
	c.mu.Unlock()
	for _, key := range drop {
		if err := c.DeleteFile(key); err != nil {
			c.log.Warn("remove superseded nar file", "key", key, "err", err)
		}
	}
	if len(drop) > 0 {
		c.log.Debug("removed superseded nar files", "count", len(drop))
	}
}

// incomingFiles are the files on their way (Incoming), under a mutex of
// their own: it is taken under c.mu (dropSuperseded, the narinfo sweep),
// never the other way round.
type incomingFiles struct {
	mu    sync.Mutex
	keys  map[string]int // key → incoming files of it
	files map[*incomingFile]struct{}
}

type incomingFile struct {
	key       string
	remaining func() int64
}

func newIncomingFiles() *incomingFiles {
	return &incomingFiles{keys: make(map[string]int), files: make(map[*incomingFile]struct{})}
}

// Incoming records that a file of key is on its way until done is called:
// its narinfos are not swept, a superseded file of key is not removed,
// and remaining() bytes count as taken when CannotStore judges room.
func (c *Cache) Incoming(key string, remaining func() int64) (done func()) {
	in := c.incoming
	f := &incomingFile{key: key, remaining: remaining}
	in.mu.Lock()
	in.keys[key]++
	in.files[f] = struct{}{}
	in.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			in.mu.Lock()
			defer in.mu.Unlock()
			delete(in.files, f)
			if in.keys[key]--; in.keys[key] == 0 {
				delete(in.keys, key)
			}
		})
	}
}

// has reports whether a file of key is on its way.
func (in *incomingFiles) has(key string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.keys[key] > 0
}

// remaining is the bytes the incoming files still expect to write.
func (in *incomingFiles) remaining() int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	var n int64
	for f := range in.files {
		n += f.remaining()
	}
	return n
}
