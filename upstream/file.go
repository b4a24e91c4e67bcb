package upstream

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"sync/atomic"
	"time"
)

// kindFile labels the metrics of FetchFile requests.
const kindFile = "file"

// ErrTooLarge is returned by FetchFile for a file over its limit, as sent
// or once decoded.
var ErrTooLarge = errors.New("upstream file too large")

// ErrEncoding is returned by FetchFile for a Content-Encoding it cannot
// decode. The error also wraps fs.ErrNotExist: the file is of no use here.
var ErrEncoding = errors.New("unsupported content encoding")

// FetchFile fetches a small file of u by its path relative to the
// upstream ("<hash>.ls", "log/<drv>", "realisations/…"), reading at most
// limit bytes. The body comes decoded as its Content-Encoding says (gzip,
// zstd, br; others fail with ErrEncoding), limit bounding it before and
// after decoding; the header is the one received, less Content-Encoding
// and Content-Length, which described the encoded body. Accept-Encoding
// offers those three encodings. The response headers must come within
// Options.NARHeaderTimeout; the body has no deadline but ctx.
//
// Errors: fs.ErrNotExist for a missing file (404, 410, and 401/403, which
// are also warned about as refused credentials); ErrTooLarge; ErrBadNARURL
// for a path that is not a plain relative one; ErrUnavailable at once
// while u backs off after failures to reach it; a *StatusError for other
// statuses. Only failures to reach u count toward its back-off: a 5xx of
// one file says nothing about the other paths.
func (u *Upstream) FetchFile(ctx context.Context, path string, limit int64) (body []byte, header http.Header, err error) {
	start := time.Now()
	body, header, err = u.fetchFile(ctx, path, limit)
	if err != nil {
		err = fmt.Errorf("fetch %s: %w", path, err)
		u.log.Log(ctx, slogLevelFor(err), "upstream file fetch failed", "path", path, "duration", time.Since(start), "err", err)
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrBadNARURL) && ctx.Err() == nil {
			u.m.errors.WithLabelValues(u.name, kindFile).Inc()
		}
		return nil, nil, err
	}
	u.log.Debug("upstream file fetched", "path", path, "bytes", len(body), "duration", time.Since(start))
	return body, header, nil
}

func (u *Upstream) fetchFile(ctx context.Context, path string, limit int64) ([]byte, http.Header, error) {
	target, err := u.narTarget(path)
	if err != nil {
		return nil, nil, err
	}
	if !u.breaker.allow() {
		return nil, nil, u.breaker.backingOff()
	}
	start := time.Now()
	resp, cancel, err := u.getFile(ctx, target)
	if err != nil {
		h := healthUnknown
		if ctx.Err() == nil && connectionFailure(err) {
			h = healthDown
		}
		u.report(h, err)
		return nil, nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	u.m.latency.WithLabelValues(u.name, kindFile).Observe(time.Since(start).Seconds())
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case isMissStatus(code):
		u.report(healthUp, nil)
		if isRefusedStatus(code) {
			u.refused(ctx, kindFile, code, "path", path)
		}
		return nil, nil, fmt.Errorf("%w: %w", fs.ErrNotExist, &StatusError{URL: target, Code: code})
	default:
		// Up or not, a failing file is the caller's to handle per path.
		u.report(healthUnknown, nil)
		return nil, nil, &StatusError{URL: target, Code: code}
	}
	body, err := readFileBody(resp, limit)
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrEncoding):
		u.report(healthUp, nil)
		return nil, nil, err
	case err != nil:
		u.report(healthUnknown, nil)
		return nil, nil, err
	}
	u.report(healthUp, nil)
	header := resp.Header.Clone()
	header.Del("Content-Encoding")
	header.Del("Content-Length")
	return body, header, nil
}

// readFileBody reads and decodes a 200's body, at most limit bytes of it
// either way.
func readFileBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, resp.ContentLength, limit)
	}
	raw, err := readLimited(resp.Body, limit)
	if errors.Is(err, errBodyTooLarge) {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return decodeBody(raw, resp.Header.Get("Content-Encoding"), limit)
}

// getFile sends a GET for target and waits for the response headers, at
// most u.headerTimeout. The returned cancel ends the body's request.
func (u *Upstream) getFile(ctx context.Context, target string) (*http.Response, context.CancelFunc, error) {
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
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := u.client.Do(req)
	if !timer.Stop() && err == nil {
		resp.Body.Close() // the timer fired as the headers came
		err = context.DeadlineExceeded
	}
	if err == nil {
		return resp, cancel, nil
	}
	cancel()
	if headerTimedOut.Load() {
		err = fmt.Errorf("%w: no response headers within %s", ErrTimeout, u.headerTimeout)
	}
	return nil, nil, err
}

// FetchFile asks the upstreams for a small file (see Upstream.FetchFile),
// one after the other by priority (lower first, then configuration order),
// and returns the first that has it and where it came from. Errors:
// fs.ErrNotExist when every upstream lacks it (or sent it in an encoding
// not decoded here); ErrTooLarge when one had it, but over limit, and
// none had it within; otherwise ErrUnavailable, wrapping the reasons, when
// an upstream failed or was backing off.
func (s *Set) FetchFile(ctx context.Context, path string, limit int64) (body []byte, header http.Header, from *Upstream, err error) {
	var tooLarge error
	var failed []error
	for _, u := range s.byPriority(ctx) {
		body, header, err := u.FetchFile(ctx, path, limit)
		switch {
		case err == nil:
			return body, header, u, nil
		case ctx.Err() != nil:
			return nil, nil, nil, fmt.Errorf("fetch %s: %w", path, context.Cause(ctx))
		case errors.Is(err, ErrTooLarge):
			tooLarge = err
		case errors.Is(err, ErrBadNARURL):
			return nil, nil, nil, err // the same for every upstream
		case !errors.Is(err, fs.ErrNotExist):
			failed = append(failed, err)
		}
	}
	switch {
	case tooLarge != nil:
		return nil, nil, nil, tooLarge
	case len(failed) > 0:
		return nil, nil, nil, fmt.Errorf("fetch %s: %w: %w", path, ErrUnavailable, errors.Join(failed...))
	}
	return nil, nil, nil, fmt.Errorf("fetch %s: %w", path, fs.ErrNotExist)
}

// byPriority returns the upstreams by priority, then configuration order.
// Unknown priorities are fetched (nix-cache-info), at most once at a time
// per upstream.
func (s *Set) byPriority(ctx context.Context) []*Upstream {
	ups := s.Upstreams()
	prio := make(map[*Upstream]int, len(ups))
	for _, u := range ups {
		prio[u] = u.resolvePriority(ctx)
	}
	sort.SliceStable(ups, func(i, j int) bool { return prio[ups[i]] < prio[ups[j]] })
	return ups
}
