package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/fill"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// maxAttempts bounds the upstreams tried for one NAR request.
const maxAttempts = 3

// maxTimeouts bounds the attempts of one NAR request that may end in a
// timeout: one retry covers a hiccup, more only keep the client waiting
// on an upstream that holds connections without answering.
const maxTimeouts = 2

// OpenNAR opens /nar/mirror/<name> for a GET, or for a HEAD (then
// without a body unless stored). A stored file is returned as it is
// (File, for ServeContent). Otherwise the NAR is downloaded once from the
// upstream its narinfo came from, and the reader follows the download;
// when that upstream fails or serves wrong bytes before the first byte,
// the path is looked up again (another upstream may have it; the same one
// is asked again after a pause when none does). Errors come only before
// the first byte: fs.ErrNotExist when no upstream has the NAR, else the
// upstream's failure (the server maps both to a status). After it, an
// upstream body that breaks off is resumed from where it stopped (the
// cache does that a few times, for a NAR it stores as for one it only
// streams); a failure then is a Read error, and the last byte comes only
// once the NAR verified.
func (m *Mirror) OpenNAR(ctx context.Context, name string, head bool) (cache.NARReader, error) {
	hashPart, _, _, ok := narinfo.ParseNarFileKey(name)
	if !ok {
		return nil, fmt.Errorf("nar %q: not a mirror NAR name: %w", name, fs.ErrNotExist)
	}
	n, err := m.fills.OpenNAR(ctx, name, nil)
	if err == nil {
		m.reencodeHit(name, hashPart)
		return m.served(ctx, name, n), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	r, err := m.fill(ctx, name, hashPart, head)
	if err != nil {
		m.m.narErrors.WithLabelValues("before").Inc()
		return nil, err
	}
	return r, nil
}

func (m *Mirror) fill(ctx context.Context, name, hashPart string, head bool) (cache.NARReader, error) {
	var lastErr error
	var lastUp string // the upstream of the failed attempt
	timeouts := 0     // attempts that ended without response headers
	for attempt := range maxAttempts {
		e, err := m.entry(ctx, hashPart)
		var ne *notExistError
		if errors.As(err, &ne) && errors.Is(ne.err, upstream.ErrUnavailable) {
			// Without the narinfo's fs.ErrNotExist: a 5xx, so that the
			// client retries, rather than a 404 that makes it build.
			return nil, fmt.Errorf("nar %s: %w", name, ne.err)
		}
		if err != nil {
			if lastErr != nil {
				return nil, fmt.Errorf("nar %s: %w (after: %w)", name, err, lastErr)
			}
			return nil, fmt.Errorf("nar %s: %w", name, err)
		}
		if e.Key != name && e.UpstreamKey != name {
			// The narinfo now names another file (another NarHash, or an
			// upstream with another compression): this URL is dead. The
			// upstream's file of a re-encoded NAR is still served.
			return nil, fmt.Errorf("nar %s: narinfo now points to %s: %w", name, e.Key, fs.ErrNotExist)
		}
		src := m.byName[e.Upstream]
		if src == nil {
			// Its upstream is no longer configured: ask the current ones.
			m.setStale(hashPart, true)
			lastErr = fmt.Errorf("upstream %s not configured", e.Upstream)
			continue
		}
		if lastErr != nil && e.Upstream == lastUp && !errors.Is(lastErr, cache.ErrStorage) {
			// The same upstream again (no other has the path, or the
			// failure was transient): give it a moment.
			if err := pause(ctx, time.Duration(attempt)*200*time.Millisecond); err != nil {
				return nil, fmt.Errorf("nar %s: %w (after: %w)", name, err, lastErr)
			}
		}
		if head {
			return headOf(e, name), nil
		}
		n, err := m.fills.OpenNAR(ctx, name, m.fillSpec(e, src, hashPart, name))
		if err != nil {
			return nil, fmt.Errorf("nar %s: %w", name, err)
		}
		if n.Hit() {
			return m.served(ctx, name, n), nil
		}
		if err := n.Wait(); err != nil {
			n.Close()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("nar %s: %w", name, err)
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
					return nil, fmt.Errorf("nar %s: %w", name, err)
				}
			}
			continue
		}
		return m.served(ctx, name, n), nil
	}
	return nil, fmt.Errorf("nar %s: %d attempts failed, last: %w", name, maxAttempts, lastErr)
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

// headNAR answers a HEAD for a NAR that is not stored: its size as the
// narinfo tells it (0: unknown), and no body.
type headNAR struct{ size uint64 }

func (h headNAR) Read([]byte) (int, error) { return 0, io.EOF }
func (h headNAR) Close() error             { return nil }
func (h headNAR) ModTime() time.Time       { return time.Time{} }
func (h headNAR) Size() int64 {
	if h.size == 0 {
		return -1
	}
	return int64(h.size)
}

// headOf answers a HEAD of the file name of e: the upstream's file of a
// re-encoded NAR has a size the narinfo no longer tells.
func headOf(e *cache.NarInfoEntry, name string) headNAR {
	if name != e.Key {
		return headNAR{}
	}
	return headNAR{size: e.NarInfo.KnownFileSize()}
}

// entry returns the narinfo entry for a NAR request: the cached one unless
// its upstream failed the NAR, else a fresh lookup. When that lookup fails
// (upstreams unavailable, a timeout, even a miss), the cached entry is used
// still, unless its upstream is now excluded for the path: a path goes
// only when its upstream both lacks the NAR and answers 404 for the
// narinfo, never on one answer of a flaky upstream.
func (m *Mirror) entry(ctx context.Context, hashPart string) (*cache.NarInfoEntry, error) {
	stale := m.isStale(hashPart)
	cached, cerr := m.cache.NarInfo(hashPart)
	if cerr != nil && !errors.Is(cerr, fs.ErrNotExist) {
		m.log.Warn("read cached narinfo; asking upstreams", "hash", hashPart, "err", cerr)
	}
	if cerr == nil && !stale {
		return cached, nil
	}
	e, err := m.lookup(ctx, hashPart)
	if err != nil && cerr == nil && ctx.Err() == nil && errors.Is(err, fs.ErrNotExist) && m.usable(cached, hashPart) {
		return cached, nil
	}
	return e, err
}

// usable reports whether a cached entry's upstream may still be asked for
// its NAR.
func (m *Mirror) usable(cached *cache.NarInfoEntry, hashPart string) bool {
	src := m.byName[cached.Upstream]
	return src != nil && m.ups != nil && !m.ups.Excluded(src, hashPart)
}

func (m *Mirror) fillSpec(e *cache.NarInfoEntry, src *upstream.Upstream, hashPart, name string) *fill.FillSpec {
	ni := e.NarInfo
	url := e.UpstreamURL
	spec := &fill.FillSpec{
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
				m.ups.MarkGood(src, hashPart)
			case upstreamLacks(err):
				m.log.Warn("upstream lacks a nar; skipping it for this path", "hash", hashPart,
					"upstream", src.Name(), "err", err)
				m.ups.MarkMissing(src, hashPart)
				m.setStale(hashPart, true)
			case errors.Is(err, cache.ErrVerify):
				m.log.Warn("upstream served a bad nar; it is the last choice for this path", "hash", hashPart,
					"upstream", src.Name(), "err", err)
				m.ups.MarkBad(src, hashPart)
				m.setStale(hashPart, true)
			}
		},
	}
	m.setReencode(spec, e, name)
	return m.withFillLog(ni.StorePath, e.Key, spec)
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

// servedNAR is a NAR handed to the server, which tells how the response
// went (Finished).
type servedNAR struct {
	fill.NAR
	m    *Mirror
	ctx  context.Context
	name string
}

func (m *Mirror) served(ctx context.Context, name string, n fill.NAR) *servedNAR {
	return &servedNAR{NAR: n, m: m, ctx: ctx, name: name}
}

// Finished counts the bytes sent, and a response cut by err.
func (n *servedNAR) Finished(sent int64, err error) {
	n.m.m.served.Add(float64(sent))
	if err == nil {
		return
	}
	n.m.m.narErrors.WithLabelValues("after").Inc()
	if n.ctx.Err() == nil {
		n.m.log.Warn("nar response cut", "name", n.name, "err", err)
	}
}
