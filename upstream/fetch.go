package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBadNARURL is returned by FetchNAR for a URL that is not a plain path
// relative to the upstream (absolute, another host, "..", a scheme, escapes).
var ErrBadNARURL = errors.New("refusing NAR URL")

// FetchNAR downloads a NAR (compressed as its narinfo says) from u. narURL
// is the narinfo's URL field, relative to the upstream. With offset > 0 it
// asks for the rest from offset on: a 206 must start there, and from an
// upstream that ignores the range (200) the bytes before offset are read
// and dropped (while that lasts, the caller sees no bytes). The body has no
// deadline except ctx; the response headers must come within
// Options.NARHeaderTimeout. size is the length of the body from offset, or
// -1 when unknown. A missing NAR gives fs.ErrNotExist; other statuses a
// *StatusError; an upstream backing off after failures (see Lookup)
// ErrUnavailable at once, wrapping ErrTimeout when it stopped answering.
//
// Only failures to reach the upstream at all (refused or reset
// connections, no response headers in time) count toward its back-off:
// a NAR that fails on its own (5xx, a redirect loop) says nothing about
// the other paths, and the caller handles it per path.
func (u *Upstream) FetchNAR(ctx context.Context, narURL string, offset int64) (body io.ReadCloser, size int64, err error) {
	start := time.Now()
	if offset < 0 {
		return u.narFailed(ctx, narURL, offset, start, fmt.Errorf("fetch nar %s: negative offset %d", narURL, offset))
	}
	target, err := u.narTarget(narURL)
	if err != nil {
		return u.narFailed(ctx, narURL, offset, start, err)
	}
	if !u.breaker.allow() {
		return u.narFailed(ctx, narURL, offset, start, fmt.Errorf("fetch nar %s: %w", narURL, u.breaker.backingOff()))
	}
	resp, cancel, err := u.getNAR(ctx, target, offset)
	if err != nil {
		h := healthUnknown
		if ctx.Err() == nil && connectionFailure(err) {
			h = healthDown
		}
		u.report(h, err)
		return u.narFailed(ctx, narURL, offset, start, fmt.Errorf("fetch nar %s: %w", narURL, err))
	}
	u.m.latency.WithLabelValues(u.name, kindNAR).Observe(time.Since(start).Seconds())
	if err := u.checkNARResponse(resp, target, offset); err != nil {
		resp.Body.Close()
		cancel()
		h := healthUp // it answered; a failing NAR is the caller's to handle per path
		var se *StatusError
		if errors.As(err, &se) && se.Transient() {
			h = healthUnknown // a 5xx of one NAR must not close the breaker either
		}
		u.report(h, err)
		return u.narFailed(ctx, narURL, offset, start, fmt.Errorf("fetch nar %s: %w", narURL, err))
	}
	u.report(healthUp, nil)
	size = resp.ContentLength
	var skip int64
	if offset > 0 && resp.StatusCode == http.StatusOK {
		skip = offset
		if size >= 0 {
			size -= offset
		}
		u.log.Info("upstream ignored a range request; skipping the bytes before it", "url", narURL, "offset", offset)
	}
	return &narBody{
		ReadCloser: resp.Body, cancel: cancel, u: u, ctx: ctx,
		url: narURL, offset: offset, skip: skip, size: size, start: start,
	}, size, nil
}

// narFailed logs and counts a failed NAR fetch and returns err.
func (u *Upstream) narFailed(ctx context.Context, narURL string, offset int64, start time.Time, err error) (io.ReadCloser, int64, error) {
	attrs := []any{"url", narURL, "offset", offset, "duration", time.Since(start), "err", err}
	kind := kindNAR
	if _, ok := refusedStatus(err); ok {
		kind = kindAuth
		attrs = append(attrs, "credentials", u.credentials, "hint", refusedHint)
	}
	u.log.Log(ctx, slogLevelFor(err), "upstream nar fetch failed", attrs...)
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrBadNARURL) {
		u.m.errors.WithLabelValues(u.name, kind).Inc()
	}
	return nil, 0, err
}

// getNAR sends the request for a NAR and waits for the response headers,
// at most u.headerTimeout. The returned cancel ends the body's request.
func (u *Upstream) getNAR(ctx context.Context, target string, offset int64) (*http.Response, context.CancelFunc, error) {
	rctx, cancel := context.WithCancel(ctx)
	var headerTimedOut atomic.Bool
	timer := time.AfterFunc(u.headerTimeout, func() {
		headerTimedOut.Store(true)
		cancel()
	})
	req, err := u.newRequest(rctx, target)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := u.client.Do(req)
	if !timer.Stop() && err == nil {
		// The timer fired just as the headers came: the body is doomed.
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err == nil {
		return resp, cancel, nil
	}
	cancel()
	switch {
	case headerTimedOut.Load():
		err = fmt.Errorf("%w: no response headers within %s", ErrTimeout, u.headerTimeout)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		// The client may report only the cause of the cancellation
		// (a stall detector's, say): keep the kind visible.
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return nil, nil, err
}

// connectionFailure reports whether err says the upstream could not be
// reached or did not answer at all, whatever the path asked: refused or
// reset connections, DNS and TLS failures, timeouts before the headers.
// A redirect loop or a body cut mid-way is left to the path.
func connectionFailure(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &op), errors.As(err, &dns):
		return true
	}
	return errors.As(err, &ne) && ne.Timeout()
}

func (u *Upstream) checkNARResponse(resp *http.Response, target string, offset int64) error {
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("%w: HTTP %d", fs.ErrNotExist, resp.StatusCode)
	case offset == 0 && resp.StatusCode == http.StatusOK:
		return nil
	case offset > 0 && resp.StatusCode == http.StatusPartialContent:
		// Content-Range: bytes START-END/TOTAL; the start must be ours.
		cr := resp.Header.Get("Content-Range")
		rest, ok := strings.CutPrefix(cr, "bytes ")
		startStr, _, ok2 := strings.Cut(rest, "-")
		if !ok || !ok2 || startStr != strconv.FormatInt(offset, 10) {
			return fmt.Errorf("asked for bytes from %d, got Content-Range %q", offset, cr)
		}
		return nil
	case offset > 0 && resp.StatusCode == http.StatusOK:
		// The whole file instead of the rest: FetchNAR skips to offset.
		if resp.ContentLength >= 0 && resp.ContentLength < offset {
			return fmt.Errorf("asked for bytes from %d of a file of %d (HTTP 200, range ignored)", offset, resp.ContentLength)
		}
		return nil
	default:
		return &StatusError{URL: target, Code: resp.StatusCode}
	}
}

// narTarget resolves narURL against the upstream's base, refusing anything
// but a plain relative path (a hostile narinfo must not point us elsewhere).
func (u *Upstream) narTarget(narURL string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrBadNARURL, narURL, why)
	}
	if narURL == "" {
		return bad("empty")
	}
	for _, r := range narURL {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '#' {
			return bad("control character, space, backslash or fragment")
		}
	}
	pathPart, _, _ := strings.Cut(narURL, "?")
	if strings.HasPrefix(pathPart, "/") {
		return bad("absolute path")
	}
	if strings.Contains(pathPart, ":") {
		return bad("scheme or colon in path")
	}
	lower := strings.ToLower(pathPart)
	for _, esc := range []string{"%2e", "%2f", "%5c", "%00"} {
		if strings.Contains(lower, esc) {
			return bad("escaped dot, slash or NUL")
		}
	}
	for _, seg := range strings.Split(pathPart, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return bad("empty, . or .. path segment")
		}
	}
	target := u.name + "/" + narURL
	t, err := url.Parse(target)
	if err != nil {
		return bad(err.Error())
	}
	if t.Scheme != u.base.Scheme || t.Host != u.base.Host || t.User != nil ||
		!strings.HasPrefix(t.EscapedPath(), strings.TrimRight(u.base.EscapedPath(), "/")+"/") {
		return bad("leaves the upstream")
	}
	return target, nil
}

// narBody counts the bytes read, and logs the fetch once when closed.
type narBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	u      *Upstream
	ctx    context.Context
	url    string
	offset int64
	skip   int64 // bytes still to drop: the upstream sent the whole file
	size   int64 // from offset
	start  time.Time

	n       atomic.Int64 // from offset
	readErr atomic.Value // first non-EOF read error
	once    sync.Once
}

func (b *narBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for b.skip > 0 {
		n, err := b.read(p[:min(int64(len(p)), b.skip)])
		b.skip -= int64(n)
		if err == io.EOF && b.skip > 0 {
			err = io.ErrUnexpectedEOF
			b.readErr.CompareAndSwap(nil, err)
		}
		if err != nil && b.skip > 0 {
			return 0, fmt.Errorf("skip to offset %d: %w", b.offset, err)
		}
	}
	n, err := b.read(p)
	b.n.Add(int64(n))
	return n, err
}

// read reads from the response, counting the bytes in the metrics.
func (b *narBody) read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.u.m.bytes.WithLabelValues(b.u.name).Add(float64(n))
	}
	if err != nil && err != io.EOF {
		b.readErr.CompareAndSwap(nil, err)
	}
	return n, err
}

func (b *narBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.cancel()
		n := b.n.Load()
		attrs := []any{"url", b.url, "offset", b.offset, "size", b.size, "bytes", n, "duration", time.Since(b.start)}
		if rerr, _ := b.readErr.Load().(error); rerr != nil {
			b.u.m.errors.WithLabelValues(b.u.name, kindNAR).Inc()
			b.u.log.Warn("upstream nar fetch cut", append(attrs, "err", rerr)...)
			return
		}
		if b.size >= 0 && n < b.size {
			b.u.log.Info("upstream nar fetch closed early", attrs...)
			return
		}
		b.u.log.Info("upstream nar fetched", attrs...)
	})
	return err
}
