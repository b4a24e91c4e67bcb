package fill

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// passthrough streams one upstream body to one client without storing it,
// for when the cache cannot store (disk full or read-only, unverifiable
// compression, too big), or no longer can (a fill whose temp file refused
// a write, see handOver). It checks the file as a fill does (fileCheck),
// and holds back the last byte until the check passes, so a bad file is
// an error, not a short or whole success. A body that breaks off is
// resumed from the bytes sent, as a fill's is.
type passthrough struct {
	c      *Cache
	key    string
	spec   *FillSpec
	why    string
	client context.Context // the request's; when it ends nobody is to blame
	ctx    context.Context
	cancel context.CancelCauseFunc

	started bool
	body    io.ReadCloser
	size    int64
	check   *fileCheck
	skip    int64 // bytes of the file the client already had (a fill's follower)

	held     byte
	hasHeld  bool
	finished bool
	err      error
}

func (c *Cache) newPassthrough(ctx context.Context, key string, spec *FillSpec, why string) *passthrough {
	c.m.passthrough.Inc()
	c.log.Debug("streaming nar without storing", "key", key, "why", why)
	p := &passthrough{c: c, key: key, spec: spec, why: why, client: ctx, size: -1}
	p.ctx, p.cancel = context.WithCancelCause(ctx)
	return p
}

func (c *Cache) passthrough(ctx context.Context, key string, spec *FillSpec, why string) NAR {
	return c.newPassthrough(ctx, key, spec, why)
}

// A passthrough is a NAR that is not stored: never a hit, no file.
func (p *passthrough) Hit() bool          { return false }
func (p *passthrough) File() *os.File     { return nil }
func (p *passthrough) ModTime() time.Time { return time.Time{} }
func (p *passthrough) Stored() bool       { return false }

// Wait opens the upstream body (start).
func (p *passthrough) Wait() error { return p.start() }

// Size returns the length in bytes, or -1 when unknown (call after Wait).
func (p *passthrough) Size() int64 { return p.size }

// start opens the upstream body, once; it returns the error that ended
// the stream, if any.
func (p *passthrough) start() error {
	if p.started {
		return p.err
	}
	p.started = true
	body, err := p.c.openResuming(p.ctx, p.key, p.spec)
	if err != nil {
		p.fail(err)
		return err
	}
	return p.begin(body, body.size)
}

// begin streams body, the file of size bytes (-1: unknown), from its start.
func (p *passthrough) begin(body io.ReadCloser, size int64) error {
	p.started, p.body, p.size = true, body, size // Close closes body
	check, err := newFileCheck(p.spec, size)
	if err != nil {
		p.fail(err)
		return err
	}
	p.check = check
	if narinfo.CanDecode(p.spec.Compression) {
		check.checkStream()
	} else {
		// NarHash cannot be checked here: FileHash, when there is one, is
		// all there is (the file is never stored).
		check.nar.ch <- nil
	}
	return nil
}

// fail ends the stream with err: the upstream is told (bad bytes make it
// the last choice for the path), and bad content is counted and logged as
// a fill's is.
func (p *passthrough) fail(err error) (int, error) {
	p.err = err
	if p.check != nil {
		p.check.abort(err)
	}
	if p.client.Err() != nil {
		return 0, err // the client left: nobody is to blame
	}
	if p.spec.Done != nil {
		p.spec.Done(err)
	}
	if errors.Is(err, cache.ErrVerify) {
		p.c.m.verifyFailed.Inc()
	}
	p.c.log.Warn("nar stream failed", "key", p.key, "upstream", p.spec.Upstream, "err", err)
	return 0, err
}

func (p *passthrough) Read(b []byte) (int, error) {
	if err := p.start(); err != nil {
		return 0, err
	}
	if p.finished {
		if p.hasHeld && len(b) > 0 {
			b[0], p.hasHeld = p.held, false
			return 1, nil
		}
		return 0, io.EOF
	}
	if len(b) < 2 {
		return 0, nil
	}
	for {
		off := 0
		if p.hasHeld {
			b[0], off = p.held, 1
		}
		n, err := p.body.Read(b[off:])
		if n > 0 {
			if cerr := p.check.add(b[off : off+n]); cerr != nil {
				return p.fail(cerr)
			}
			n = p.skipSent(b[off:], n)
		}
		total := off + n
		if err == io.EOF {
			if verr := p.check.verify(p.ctx); verr != nil {
				return p.fail(verr)
			}
			p.finished, p.hasHeld = true, false
			if p.spec.Done != nil && p.client.Err() == nil {
				p.spec.Done(nil)
			}
			return total, nil
		}
		if err != nil {
			return p.fail(err)
		}
		if total == 0 {
			continue
		}
		p.held, p.hasHeld = b[total-1], true
		if total > 1 {
			return total - 1, nil
		}
	}
}

// skipSent drops, from the n bytes read into b, those the client already
// had; it returns how many are left.
func (p *passthrough) skipSent(b []byte, n int) int {
	if p.skip == 0 {
		return n
	}
	d := int(min(p.skip, int64(n)))
	p.skip -= int64(d)
	return copy(b, b[d:n])
}

func (p *passthrough) Close() error {
	p.cancel(context.Canceled)
	if p.check != nil {
		p.check.abort(io.ErrClosedPipe)
	}
	if p.body != nil {
		return p.body.Close()
	}
	return nil
}
