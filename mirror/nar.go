package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// maxAttempts bounds the upstreams tried for one NAR request.
const maxAttempts = 3

// maxTimeouts bounds the attempts of one NAR request that may end in a
// timeout: one retry covers a hiccup, more only keep the client waiting
// on an upstream that holds connections without answering.
const maxTimeouts = 2

func setNARHeaders(h http.Header) {
	h.Set("Content-Type", "application/x-nix-nar")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
}

// ServeNAR serves GET and HEAD of /nar/mirror/<name>. A stored file is
// served with http.ServeContent (Range, HEAD, sendfile). Otherwise the
// NAR is downloaded once from the upstream its narinfo came from, and this
// client follows the download; when that upstream fails or serves wrong
// bytes before the response began, the path is looked up again (another
// upstream may have it; the same one is asked again after a pause when
// none does). Errors are returned only before the response began:
// fs.ErrNotExist (404) when no upstream has the NAR, else errors with an
// HTTPStatus method: 502 for an upstream that failed, served bad bytes or
// could not be reached, 504 for one that did not answer in time. After the
// response began, an upstream body that breaks off is resumed from where it
// stopped (the cache does that a few times, for a NAR it stores as for one
// it only streams); a failure then aborts the connection
// (panic(http.ErrAbortHandler)), so that a client never takes a cut body
// for a whole one.
func (m *Mirror) ServeNAR(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fmt.Errorf("nar %s: method %s: %w", name, r.Method, fs.ErrNotExist)
	}
	storeHash, _, _, ok := narinfo.ParseNarFileKey(name)
	if !ok {
		return fmt.Errorf("nar %q: not a mirror NAR name: %w", name, fs.ErrNotExist)
	}
	ctx := r.Context()
	n, err := m.cache.OpenNAR(ctx, name, nil)
	if err == nil {
		m.serveHit(w, r, n)
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err = m.fill(w, r, name, storeHash)
	if err != nil {
		m.m.narErrors.WithLabelValues("before").Inc()
	}
	return withStatus(ctx, err)
}

func (m *Mirror) fill(w http.ResponseWriter, r *http.Request, name, storeHash string) error {
	ctx := r.Context()
	var lastErr error
	var lastUp string // the upstream of the failed attempt
	timeouts := 0     // attempts that ended without response headers
	for attempt := range maxAttempts {
		e, err := m.entry(ctx, storeHash)
		var ne *notExistError
		if errors.As(err, &ne) && errors.Is(ne.err, upstream.ErrUnavailable) {
			// Without the narinfo's fs.ErrNotExist: a 5xx, so that the
			// client retries, rather than a 404 that makes it build.
			return fmt.Errorf("nar %s: %w", name, ne.err)
		}
		if err != nil {
			if lastErr != nil {
				return fmt.Errorf("nar %s: %w (after: %w)", name, err, lastErr)
			}
			return fmt.Errorf("nar %s: %w", name, err)
		}
		if e.Key != name {
			// The narinfo now names another file (another NarHash, or an
			// upstream with another compression): this URL is dead.
			return fmt.Errorf("nar %s: narinfo now points to %s: %w", name, e.Key, fs.ErrNotExist)
		}
		src := m.byName[e.Upstream]
		if src == nil {
			// Its upstream is no longer configured: ask the current ones.
			m.setStale(storeHash, true)
			lastErr = fmt.Errorf("upstream %s not configured", e.Upstream)
			continue
		}
		if lastErr != nil && e.Upstream == lastUp && !errors.Is(lastErr, cache.ErrStorage) {
			// The same upstream again (no other has the path, or the
			// failure was transient): give it a moment.
			if err := pause(ctx, time.Duration(attempt)*200*time.Millisecond); err != nil {
				return fmt.Errorf("nar %s: %w (after: %w)", name, err, lastErr)
			}
		}
		if r.Method == http.MethodHead {
			serveHead(w, e.NarInfo)
			return nil
		}
		n, err := m.cache.OpenNAR(ctx, name, m.fillSpec(e, src, storeHash))
		if err != nil {
			return fmt.Errorf("nar %s: %w", name, err)
		}
		if n.Hit() {
			m.serveHit(w, r, n)
			return nil
		}
		if err := n.Wait(); err != nil {
			n.Close()
			if ctx.Err() != nil {
				return fmt.Errorf("nar %s: %w", name, err)
			}
			// Nothing was sent yet, so try again: after a storage failure
			// the cache streams without storing; an upstream that served
			// bad bytes is now the last choice for the path, one that
			// lacks the NAR is skipped, and the path is looked up again.
			lastErr, lastUp = err, e.Upstream
			if errors.Is(err, upstream.ErrTimeout) {
				// Each try waited the whole header timeout: the client
				// is not kept for more than maxTimeouts of them.
				if timeouts++; timeouts >= maxTimeouts {
					return fmt.Errorf("nar %s: %w", name, err)
				}
			}
			continue
		}
		m.stream(w, r, name, n)
		return nil
	}
	return fmt.Errorf("nar %s: %d attempts failed, last: %w", name, maxAttempts, lastErr)
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// serveHead answers a HEAD request for a NAR that is not stored.
func serveHead(w http.ResponseWriter, ni *narinfo.NarInfo) {
	h := w.Header()
	setNARHeaders(h)
	if size := ni.KnownFileSize(); size > 0 {
		h.Set("Content-Length", strconv.FormatUint(size, 10))
	}
	w.WriteHeader(http.StatusOK)
}

// entry returns the narinfo entry for a NAR request: the cached one unless
// its upstream failed the NAR, else a fresh lookup. When that lookup fails
// (upstreams unavailable, a timeout, even a miss), the cached entry is used
// still, unless its upstream is now excluded for the path: a path goes
// only when its upstream both lacks the NAR and answers 404 for the
// narinfo, never on one answer of a flaky upstream.
func (m *Mirror) entry(ctx context.Context, storeHash string) (*cache.NarInfoEntry, error) {
	stale := m.isStale(storeHash)
	cached, cerr := m.cache.NarInfo(storeHash)
	if cerr != nil && !errors.Is(cerr, fs.ErrNotExist) {
		m.log.Warn("read cached narinfo; asking upstreams", "hash", storeHash, "err", cerr)
	}
	if cerr == nil && !stale {
		return cached, nil
	}
	e, err := m.lookup(ctx, storeHash)
	if err != nil && cerr == nil && ctx.Err() == nil && errors.Is(err, fs.ErrNotExist) && m.usable(cached, storeHash) {
		return cached, nil
	}
	return e, err
}

// usable reports whether a cached entry's upstream may still be asked for
// its NAR.
func (m *Mirror) usable(cached *cache.NarInfoEntry, storeHash string) bool {
	src := m.byName[cached.Upstream]
	return src != nil && m.ups != nil && !m.ups.Excluded(src, storeHash)
}

func (m *Mirror) fillSpec(e *cache.NarInfoEntry, src *upstream.Upstream, storeHash string) *cache.FillSpec {
	ni := e.NarInfo
	url := e.UpstreamURL
	return &cache.FillSpec{
		Compression: ni.Compression,
		FileHash:    ni.FileHash,
		FileSize:    ni.FileSize,
		NarHash:     ni.NarHash,
		NarSize:     ni.NarSize,
		Upstream:    src.Name(),
		Fetch: func(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
			return src.FetchNAR(ctx, url, offset)
		},
		Done: func(err error) {
			switch {
			case m.ups == nil:
			case err == nil:
				m.ups.MarkGood(src, storeHash)
			case upstreamLacks(err):
				m.log.Warn("upstream lacks a nar; skipping it for this path", "hash", storeHash,
					"upstream", src.Name(), "err", err)
				m.ups.MarkMissing(src, storeHash)
				m.setStale(storeHash, true)
			case errors.Is(err, cache.ErrVerify):
				m.log.Warn("upstream served a bad nar; it is the last choice for this path", "hash", storeHash,
					"upstream", src.Name(), "err", err)
				m.ups.MarkBad(src, storeHash)
				m.setStale(storeHash, true)
			}
		},
	}
}

// upstreamLacks reports failures that make an upstream unfit for a path: it
// lacks the NAR its narinfo names, or names it by a URL that is refused.
// Bad bytes (cache.ErrVerify) only make it the last choice; transient
// failures (5xx, resets, stalls, timeouts) and local ones are not held
// against it.
func upstreamLacks(err error) bool {
	return err != nil && !errors.Is(err, cache.ErrStorage) && !errors.Is(err, cache.ErrVerify) &&
		(errors.Is(err, fs.ErrNotExist) || errors.Is(err, upstream.ErrBadNARURL))
}

func (m *Mirror) serveHit(w http.ResponseWriter, r *http.Request, n *cache.NAR) {
	defer n.Close()
	setNARHeaders(w.Header())
	http.ServeContent(w, r, "", n.ModTime(), n.File())
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
		m.m.served.Add(float64(n.Size()))
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// stream sends a download in progress as it grows. Content-Length is sent
// when the size is known; either way a failure cuts the connection.
func (m *Mirror) stream(w http.ResponseWriter, r *http.Request, name string, n *cache.NAR) {
	defer n.Close()
	h := w.Header()
	setNARHeaders(h)
	if size := n.Size(); size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var sent int64
	defer func() { m.m.served.Add(float64(sent)) }()
	for {
		k, err := n.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				m.abort(r, name, werr)
			}
			sent += int64(k)
			_ = rc.Flush() // the first bytes must not wait in a buffer
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			m.abort(r, name, err)
		}
	}
}

// abort cuts the response: a client never sees a failed body as complete.
func (m *Mirror) abort(r *http.Request, name string, err error) {
	m.m.narErrors.WithLabelValues("after").Inc()
	if r.Context().Err() == nil {
		m.log.Warn("nar response cut", "name", name, "err", err)
	}
	panic(http.ErrAbortHandler)
}
