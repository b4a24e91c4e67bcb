package cache

import (
	"context"
	"fmt"
	"hash"
	"io"
)

// passthrough streams one upstream body to one client without storing it,
// for when the cache cannot store (disk full or read-only, unverifiable
// compression, too big). It still checks what it can, and holds back the
// last byte until the check passes, so a bad file is an error, not a
// short success. A body that breaks off is resumed from the bytes sent,
// as a fill's is.
type passthrough struct {
	c      *Cache
	key    string
	spec   *FillSpec
	why    string
	client context.Context // the request's; when it ends nobody is to blame
	ctx    context.Context
	cancel context.CancelCauseFunc

	started bool
	body    *resumingBody
	size    int64
	n       int64

	fileHash hash.Hash
	narPipe  *io.PipeWriter
	narCheck chan error

	held     byte
	hasHeld  bool
	finished bool
	err      error
}

func (c *Cache) passthrough(ctx context.Context, key string, spec *FillSpec, why string) *NAR {
	c.m.passthrough.Inc()
	c.log.Debug("streaming nar without storing", "key", key, "why", why)
	p := &passthrough{c: c, key: key, spec: spec, why: why, client: ctx, size: -1}
	p.ctx, p.cancel = context.WithCancelCause(ctx)
	return &NAR{ctx: ctx, pass: p}
}

func (p *passthrough) start() error {
	if p.started {
		return p.err
	}
	p.started = true
	body, err := p.c.openResuming(p.ctx, p.key, p.spec)
	if err != nil {
		p.err = err
		p.report(err)
		return err
	}
	p.body, p.size = body, body.size
	if p.spec.FileHash != nil {
		if p.fileHash, err = newHash(p.spec.FileHash); err != nil {
			p.err = fmt.Errorf("%w: FileHash: %w", ErrVerify, err)
			return p.err
		}
	} else if canDecode(p.spec.Compression) {
		pr, pw := io.Pipe()
		p.narPipe, p.narCheck = pw, make(chan error, 1)
		go func() {
			err := verifyNar(p.spec, pr)
			pr.CloseWithError(err)
			p.narCheck <- err
		}()
	}
	return nil
}

func (p *passthrough) report(err error) {
	if p.spec.Done != nil && p.client.Err() == nil {
		p.spec.Done(err)
	}
}

func (p *passthrough) fail(err error) (int, error) {
	p.err = err
	if p.narPipe != nil {
		p.narPipe.CloseWithError(err)
	}
	p.report(err)
	return 0, err
}

func (p *passthrough) Read(b []byte) (int, error) {
	if !p.started {
		if err := p.start(); err != nil {
			return 0, err
		}
	}
	if p.err != nil {
		return 0, p.err
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
			chunk := b[off : off+n]
			p.n += int64(n)
			p.c.m.fetched.Add(float64(n))
			if limit := p.limit(); limit >= 0 && p.n > limit {
				return p.fail(fmt.Errorf("%w: upstream sent more than %d bytes for a NAR of %d", ErrVerify, limit, p.spec.NarSize))
			}
			if p.fileHash != nil {
				p.fileHash.Write(chunk)
			}
			if p.narPipe != nil {
				if _, werr := p.narPipe.Write(chunk); werr != nil {
					return p.fail(<-p.narCheck)
				}
			}
		}
		total := off + n
		if err == io.EOF {
			if verr := p.finish(); verr != nil {
				return p.fail(verr)
			}
			p.finished, p.hasHeld = true, false
			p.report(nil)
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

// finish checks the whole file once the body ended where its size says
// (resumingBody makes sure of that).
func (p *passthrough) finish() error {
	if p.fileHash != nil {
		if err := checkDigest("FileHash", p.spec.FileHash, p.fileHash.Sum(nil)); err != nil {
			return err
		}
	}
	if p.narPipe != nil {
		p.narPipe.Close()
		select {
		case err := <-p.narCheck:
			return err
		case <-p.ctx.Done():
			return context.Cause(p.ctx)
		}
	}
	return nil
}

func (p *passthrough) Close() error {
	p.cancel(context.Canceled)
	if p.narPipe != nil {
		p.narPipe.CloseWithError(io.ErrClosedPipe)
	}
	if p.body != nil {
		return p.body.Close()
	}
	return nil
}

// limit is the most bytes the file may have: its size when known, else a
// bound from NarSize (maxFileSize), else -1.
func (p *passthrough) limit() int64 {
	if p.size >= 0 {
		return p.size
	}
	return maxFileSize(p.spec)
}
