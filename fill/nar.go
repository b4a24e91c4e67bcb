package fill

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// NAR is one reader's view of a NAR file: a committed file (a hit), a
// follower of a download in progress (into the store's writer, or into
// memory when small), or a stream straight from the upstream when the
// file cannot be stored. Close it when done.
type NAR struct {
	ctx context.Context

	stored cache.NARReader    // the hit
	follow cache.FileFollower // the follower's own reader of the file

	fill     *fill
	internal bool // a follower that may read to the end before verification
	pos      int64

	pass *passthrough
}

// Hit reports whether the NAR is a committed file: ModTime is then valid,
// File too when the store keeps it in a local file, and Read/Wait are not
// needed (serve File with ServeContent).
func (n *NAR) Hit() bool { return n.fill == nil && n.pass == nil }

// File returns the committed file of a hit when the store keeps it in a
// local file (nil otherwise).
func (n *NAR) File() *os.File {
	if f, ok := n.stored.(interface{ File() *os.File }); ok && n.Hit() {
		return f.File()
	}
	return nil
}

// ModTime of a hit.
func (n *NAR) ModTime() time.Time {
	if n.stored == nil {
		return time.Time{}
	}
	return n.stored.ModTime()
}

// Stored reports whether the bytes are (being) stored in the cache.
func (n *NAR) Stored() bool { return n.pass == nil }

// Wait blocks until the upstream has answered (the size is known or known
// to be unknown) or failed. Errors returned here come before any byte.
func (n *NAR) Wait() error {
	switch {
	case n.pass != nil:
		return n.pass.start()
	case n.fill == nil:
		return nil
	}
	for {
		st := n.fill.state()
		if err := n.fillErr(&st); err != nil {
			return err
		} else if n.pass != nil {
			return n.pass.start()
		}
		if st.started || st.done {
			return nil
		}
		select {
		case <-st.notify:
		case <-n.ctx.Done():
			return context.Cause(n.ctx)
		}
	}
}

// Size returns the length in bytes, or -1 when unknown (call after Wait).
func (n *NAR) Size() int64 {
	switch {
	case n.pass != nil:
		return n.pass.size
	case n.fill != nil:
		st := n.fill.state()
		if !st.started {
			return -1
		}
		return st.size
	}
	return n.stored.Size()
}

// Read follows the download: it returns bytes as soon as they are written,
// holds back the last byte until the file is verified (NarHash and
// NarSize, whatever FileHash says; never the commit that follows), and
// returns the download's error (never a silent short read) when it fails.
// When the temp file refuses a write, the reader goes on as a pass-through
// stream from where the file stopped.
func (n *NAR) Read(p []byte) (int, error) {
	switch {
	case n.pass != nil:
		return n.pass.Read(p)
	case n.fill == nil:
		return n.stored.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		st := n.fill.state()
		if err := n.fillErr(&st); err != nil {
			return 0, err
		} else if n.pass != nil {
			return n.pass.Read(p)
		}
		limit := st.written
		end := st.done || st.verified || (n.internal && st.eof)
		if !end && limit > 0 && (st.size < 0 || limit >= st.size) {
			limit-- // the last byte waits for verification
		}
		if n.pos < limit {
			return n.readAt(p, &st, limit)
		}
		if end {
			return 0, io.EOF
		}
		select {
		case <-st.notify:
		case <-n.ctx.Done():
			return 0, context.Cause(n.ctx)
		}
	}
}

// readAt reads what the download wrote from n.pos up to limit.
func (n *NAR) readAt(p []byte, st *fillState, limit int64) (int, error) {
	m := min(int64(len(p)), limit-n.pos)
	if st.mem != nil {
		k := copy(p[:m], st.mem[n.pos:])
		n.pos += int64(k)
		return k, nil
	}
	k, err := n.follow.ReadAt(p[:m], n.pos)
	n.pos += int64(k)
	if k > 0 {
		return k, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return 0, fmt.Errorf("read %s: %w", n.fill.key, err)
}

// Close releases the reader; it never cancels a download.
func (n *NAR) Close() error {
	if n.pass != nil {
		return n.pass.Close()
	}
	if n.stored != nil {
		return n.stored.Close()
	}
	if n.follow != nil {
		return n.follow.Close()
	}
	return nil
}

// join returns a new reader following f: of its memory, or of the file
// its writer hands out.
func (f *fill) join(ctx context.Context, internal bool) (*NAR, error) {
	if f.inMemory {
		return &NAR{ctx: ctx, fill: f, internal: internal}, nil
	}
	if st := f.state(); st.readErr() != nil {
		return nil, st.readErr()
	}
	r, err := f.w.Follow()
	if err != nil {
		if st := f.state(); st.readErr() != nil {
			ferr := st.readErr()
			return nil, ferr // it failed meanwhile: its file went
		}
		return nil, fmt.Errorf("follow download of %s: %w", f.key, err)
	}
	return &NAR{ctx: ctx, follow: r, fill: f, internal: internal}, nil
}

// OpenNAR returns the NAR file key: the committed file when there is one;
// else, when spec is not nil, a follower of its download, started if none
// is in progress (one download per key). ctx bounds this reader only.
// Without spec only committed files are returned (Hit is true), and
// anything else is fs.ErrNotExist.
func (c *Cache) OpenNAR(ctx context.Context, key string, spec *FillSpec) (*NAR, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("nar %q: %w", key, fs.ErrNotExist)
	}
	for range 3 {
		if stored, err := c.store.OpenFile(key); err == nil {
			c.m.hits.WithLabelValues("nar").Inc()
			return &NAR{ctx: ctx, stored: stored}, nil
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
func (c *Cache) startFill(ctx context.Context, key string, spec *FillSpec) (*NAR, error) {
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
	r := &NAR{ctx: ctx, follow: follow, fill: f}
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
