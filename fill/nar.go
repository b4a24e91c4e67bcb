package fill

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// NAR is one reader's view of a NAR file, one of three kinds: a committed
// file (a hit, hitNAR), a follower of a download in progress (into the
// store's writer, or into memory when small; followNAR), or a stream
// straight from the upstream when the file cannot be stored
// (passthrough). Close it when done.
type NAR interface {
	cache.NARReader

	// Hit reports whether the NAR is a committed file: ModTime is then
	// valid, File too when the store keeps it in a local file, and
	// Read/Wait are not needed (serve File with ServeContent).
	Hit() bool
	// File returns the committed file of a hit when the store keeps it in
	// a local file (nil otherwise).
	File() *os.File
	// Stored reports whether the bytes are (being) stored in the cache.
	Stored() bool
	// Wait blocks until the upstream has answered (the size is known or
	// known to be unknown) or failed. Errors returned here come before any
	// byte.
	Wait() error
}

// hitNAR is a committed file.
type hitNAR struct {
	stored cache.NARReader
}

func (n *hitNAR) Hit() bool    { return true }
func (n *hitNAR) Stored() bool { return true }
func (n *hitNAR) Wait() error  { return nil }

func (n *hitNAR) File() *os.File {
	if f, ok := n.stored.(interface{ File() *os.File }); ok {
		return f.File()
	}
	return nil
}

func (n *hitNAR) ModTime() time.Time         { return n.stored.ModTime() }
func (n *hitNAR) Size() int64                { return n.stored.Size() }
func (n *hitNAR) Read(p []byte) (int, error) { return n.stored.Read(p) }
func (n *hitNAR) Close() error               { return n.stored.Close() }

// OpenNAR returns the NAR file key: the committed file when there is one;
// else, when spec is not nil, a follower of its download, started if none
// is in progress (one download per key). ctx bounds this reader only.
// Without spec only committed files are returned (Hit is true), and
// anything else is fs.ErrNotExist.
func (c *Cache) OpenNAR(ctx context.Context, key string, spec *FillSpec) (NAR, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("nar %q: %w", key, fs.ErrNotExist)
	}
	for range 3 {
		if stored, err := c.store.OpenFile(key); err == nil {
			c.m.hits.WithLabelValues("nar").Inc()
			return &hitNAR{stored: stored}, nil
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("nar %s: %w: cache closed", key, cache.ErrStorage)
		}
		if spec == nil {
			// A probe for hits: the miss is counted when the caller comes
			// back with a spec.
			c.mu.Unlock()
			return nil, fmt.Errorf("nar %s: %w", key, fs.ErrNotExist)
		}
		if f := c.fills[key]; f != nil && !f.failed() {
			c.mu.Unlock()
			c.m.misses.WithLabelValues("nar").Inc()
			return f.join(ctx, false)
		}
		c.mu.Unlock()
		// A download may have committed between the open and the lock.
		if _, _, err := c.store.StatFile(key); err == nil {
			continue
		}
		c.m.misses.WithLabelValues("nar").Inc()
		return c.startFill(ctx, key, spec)
	}
	return nil, fmt.Errorf("nar %s: %w: evicted while opening", key, cache.ErrStorage)
}

// startFill starts the download of key, or follows one that started
// meanwhile, or streams without storing when nothing can be stored.
func (c *Cache) startFill(ctx context.Context, key string, spec *FillSpec) (NAR, error) {
	if why := c.cannotStore(spec); why != "" {
		return c.passthrough(ctx, key, spec, why), nil
	}
	// A small file is downloaded into memory and written to the store
	// once verified: no file is created while a client waits.
	var w cache.FileWriter
	var follow cache.FileFollower
	memSize := c.reserveMemory(spec)
	if c.opts.testHookMemoryReserved != nil {
		c.opts.testHookMemoryReserved()
	}
	if memSize == 0 {
		var err error
		if w, err = c.store.CreateFile(key); err != nil {
			return c.passthrough(ctx, key, spec, err.Error()), nil
		}
		if follow, err = w.Follow(); err != nil {
			w.Cancel()
			return c.passthrough(ctx, key, spec, "the store cannot follow its file: "+err.Error()), nil
		}
	}
	c.mu.Lock()
	if f := c.fills[key]; (f != nil && !f.failed()) || c.closed {
		// Someone started it meanwhile: follow theirs.
		c.mu.Unlock()
		c.releaseMemory(memSize)
		if w != nil {
			follow.Close()
			w.Cancel()
		}
		if f == nil {
			return nil, fmt.Errorf("nar %s: %w: cache closed", key, cache.ErrStorage)
		}
		return f.join(ctx, false)
	}
	f := &fill{c: c, key: key, spec: spec, w: w, inMemory: w == nil, size: -1, notify: make(chan struct{})}
	if w == nil {
		f.mem = make([]byte, 0, memSize) // reserved above; run releases it
	}
	f.incomingDone = c.store.Incoming(key, f.remaining)
	c.fills[key] = f
	c.wg.Add(1)
	c.mu.Unlock()
	var r NAR = &followNAR{ctx: ctx, follow: follow, fill: f}
	if w == nil {
		r, _ = f.join(ctx, false) // never fails in memory
	}
	go f.run()
	return r, nil
}

// Small files with a known size are downloaded into memory, within a
// budget shared by the downloads in progress (Options.memoryBudget).
const memoryFillMax = 1 << 20

// reserveMemory returns the size of the buffer to download spec into, now
// counted in the budget (the caller gives it back if it creates no fill),
// or 0 for a file of the store. Check and reservation are one step, so
// concurrent downloads cannot all pass the check and overshoot the budget
// together.
func (c *Cache) reserveMemory(spec *FillSpec) int64 {
	size := int64(fileSize(spec))
	if size <= 0 || size > memoryFillMax {
		return 0
	}
	c.memMu.Lock()
	defer c.memMu.Unlock()
	if c.memBytes+size > c.opts.memoryBudget {
		return 0
	}
	c.memBytes += size
	return size
}

// releaseMemory gives back what reserveMemory counted.
func (c *Cache) releaseMemory(size int64) {
	c.memMu.Lock()
	c.memBytes -= size
	c.memMu.Unlock()
}

// cannotStore says why a download would not be stored, or "".
func (c *Cache) cannotStore(spec *FillSpec) string {
	if !narinfo.CanDecode(spec.Compression) {
		// NarHash, the signed field, could not be checked.
		return "cannot decompress " + spec.Compression + " to check NarHash"
	}
	return c.store.CannotStore(fileSize(spec))
}
