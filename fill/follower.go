package fill

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// followNAR follows a download in progress: into the store's writer (its
// own reader of the file, follow), or into memory. When the temp file
// refuses a write it is handed over to a pass-through stream from where
// the file stopped (handOver), and from then on delegates to it.
type followNAR struct {
	ctx context.Context

	follow   cache.FileFollower // the follower's own reader of the file
	fill     *fill
	internal bool // a follower that may read to the end before verification
	pos      int64

	pass *passthrough // set once handed over
}

func (n *followNAR) Hit() bool          { return false }
func (n *followNAR) File() *os.File     { return nil }
func (n *followNAR) ModTime() time.Time { return time.Time{} }
func (n *followNAR) Stored() bool       { return n.pass == nil }

// Wait blocks until the upstream has answered (the size is known or known
// to be unknown) or failed. Errors returned here come before any byte.
func (n *followNAR) Wait() error {
	if n.pass != nil {
		return n.pass.Wait()
	}
	for {
		st := n.fill.state()
		if err := n.fillErr(&st); err != nil {
			return err
		} else if n.pass != nil {
			return n.pass.Wait()
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
func (n *followNAR) Size() int64 {
	if n.pass != nil {
		return n.pass.Size()
	}
	st := n.fill.state()
	if !st.started {
		return -1
	}
	return st.size
}

// Read follows the download: it returns bytes as soon as they are written,
// holds back the last byte until the file is verified (NarHash and
// NarSize, whatever FileHash says; never the commit that follows), and
// returns the download's error (never a silent short read) when it fails.
// When the temp file refuses a write, the reader goes on as a pass-through
// stream from where the file stopped.
func (n *followNAR) Read(p []byte) (int, error) {
	if n.pass != nil {
		return n.pass.Read(p)
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
func (n *followNAR) readAt(p []byte, st *fillState, limit int64) (int, error) {
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
func (n *followNAR) Close() error {
	if n.pass != nil {
		return n.pass.Close()
	}
	if n.follow != nil {
		return n.follow.Close()
	}
	return nil
}

// join returns a new reader following f: of its memory, or of the file
// its writer hands out.
func (f *fill) join(ctx context.Context, internal bool) (NAR, error) {
	if f.inMemory {
		return &followNAR{ctx: ctx, fill: f, internal: internal}, nil
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
	return &followNAR{ctx: ctx, follow: r, fill: f, internal: internal}, nil
}
