package fill

import (
	"context"
	"fmt"
	"io"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// maxResumes bounds how often one download asks for the rest of a body
// that broke off.
const maxResumes = 3

// resumingBody reads one NAR file from its upstream, for a fill or a
// pass-through stream. When a body breaks off (cut, reset, stalled, ended
// short) it asks for the rest from the bytes read so far, at most
// maxResumes times: the bytes simply run on, so the caller's hashes check
// the whole file at the end as they would one download. Read returns
// io.EOF only once the whole file came (its size, when known).
type resumingBody struct {
	c    *Cache
	key  string
	spec *FillSpec
	ctx  context.Context // the download's: no resume once it ended

	body    *upstreamBody // the request of the moment
	size    int64         // the file's, -1 when unknown
	read    int64
	resumes int
	err     error // the failure that ended it
}

// openResuming asks the upstream for the file and checks the size it
// announces against the narinfo.
func (c *Cache) openResuming(ctx context.Context, key string, spec *FillSpec) (*resumingBody, error) {
	return c.openResumingAt(ctx, key, spec, 0)
}

// openResumingAt is openResuming for the file from offset on: the bytes
// before it were read elsewhere.
func (c *Cache) openResumingAt(ctx context.Context, key string, spec *FillSpec, offset int64) (*resumingBody, error) {
	r := &resumingBody{c: c, key: key, spec: spec, ctx: ctx, read: offset}
	body, err := r.open(offset)
	if err != nil {
		return nil, err
	}
	length := body.length
	if length >= 0 {
		length += offset
	}
	if r.size, err = expectedSize(spec, length); err != nil {
		body.close()
		return nil, err
	}
	r.body = body
	return r, nil
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for r.err == nil {
		n, err := r.body.Read(p)
		if n > 0 {
			r.body.guard.progress()
			r.read += int64(n)
			r.c.m.fetched.Add(float64(n))
		}
		if err == io.EOF && (r.size < 0 || r.read == r.size) {
			r.body.guard.stop()
			return n, io.EOF
		}
		if err == nil {
			return n, nil
		}
		r.err = r.resume(err)
		if r.err != nil || n > 0 {
			return n, r.err
		}
	}
	return 0, r.err
}

// resume is called when the body broke off with rerr: it closes it and
// asks for the rest, unless maxResumes were made or the download is over.
func (r *resumingBody) resume(rerr error) error {
	var broke error
	if rerr == io.EOF {
		broke = fmt.Errorf("%w: expected %d bytes, upstream sent %d", cache.ErrVerify, r.size, r.read)
	} else {
		broke = fmt.Errorf("read upstream body: %w", withCause(r.body.ctx, rerr))
	}
	r.body.close() // after reading why its context ended: closing ends it too
	r.body = nil
	if r.resumes == maxResumes || r.ctx.Err() != nil {
		if r.resumes > 0 {
			return fmt.Errorf("%w (after %d resumes)", broke, r.resumes)
		}
		return broke
	}
	r.resumes++
	r.c.m.resumes.Inc()
	r.c.log.Info("resuming nar download", "upstream", r.spec.Upstream, "key", r.key,
		"offset", r.read, "attempt", r.resumes, "err", broke)
	next, err := r.open(r.read)
	if err != nil {
		return fmt.Errorf("%w; resume from %d: %w", broke, r.read, err)
	}
	if r.size >= 0 && next.length >= 0 && next.length != r.size-r.read {
		next.close()
		return fmt.Errorf("%w: upstream announces %d bytes from %d, expected %d", cache.ErrVerify, next.length, r.read, r.size-r.read)
	}
	r.body = next
	return nil
}

// Close ends the request of the moment.
func (r *resumingBody) Close() error {
	r.body.close()
	return nil
}

// upstreamBody is one upstream request's body, with a stall detector of
// its own: a stall ends the request, and the download may resume.
type upstreamBody struct {
	io.ReadCloser
	length int64
	ctx    context.Context // the request's; a stall cancels it
	cancel context.CancelCauseFunc
	guard  *stallGuard
}

// open asks the upstream for the file from offset on.
func (r *resumingBody) open(offset int64) (*upstreamBody, error) {
	ctx, cancel := context.WithCancelCause(r.ctx)
	guard := newStallGuard(r.c.opts.StallTimeout, cancel)
	body, length, err := r.spec.Fetch(ctx, offset)
	if err != nil {
		err = fmt.Errorf("fetch: %w", withCause(ctx, err)) // before cancel adds a cause
		guard.stop()
		cancel(nil)
		return nil, err
	}
	return &upstreamBody{ReadCloser: body, length: length, ctx: ctx, cancel: cancel, guard: guard}, nil
}

// close ends the request; nil is fine (after a resume that failed).
func (b *upstreamBody) close() {
	if b == nil {
		return
	}
	b.guard.stop()
	b.ReadCloser.Close()
	b.cancel(nil)
}

// withCause adds why ctx ended, if it did, to err: a client may report
// only the cancellation, not whose (a stall detector's, a deadline's).
func withCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	return err
}
