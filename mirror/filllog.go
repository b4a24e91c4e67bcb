package mirror

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/fill"
)

// withFillLog makes each download spec starts log one info line when it
// ends (Done, the one place every fill ends): the path, the upstream, the
// bytes fetched (all attempts), the time since the first request, and
// whether the NAR was stored, only streamed, or failed.
func (m *Mirror) withFillLog(storePath, key string, spec *fill.FillSpec) *fill.FillSpec {
	var (
		fetched atomic.Int64
		once    sync.Once
		start   time.Time
	)
	fetch, done := spec.Fetch, spec.Done
	spec.Fetch = func(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
		once.Do(func() { start = time.Now() })
		body, n, err := fetch(ctx, offset)
		if err != nil {
			return nil, n, err
		}
		return &countedBody{ReadCloser: body, n: &fetched}, n, nil
	}
	spec.Done = func(err error) {
		if done != nil {
			done(err)
		}
		once.Do(func() { start = time.Now() })
		attrs := []slog.Attr{slog.String("path", storePath), slog.String("upstream", spec.Upstream),
			slog.Int64("bytes", fetched.Load()), slog.Duration("took", time.Since(start).Round(time.Millisecond)),
			slog.String("outcome", m.fillOutcome(key, err))}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		m.log.LogAttrs(context.Background(), slog.LevelInfo, "mirror fill", attrs...)
	}
	return spec
}

// fillOutcome names how a download ended: a committed file is stored
// (Done(nil) comes after the commit), a success without one was streamed
// through only, a storage failure leaves the clients streaming.
func (m *Mirror) fillOutcome(key string, err error) string {
	switch {
	case errors.Is(err, cache.ErrStorage):
		return "not stored"
	case err != nil:
		return "failed"
	}
	if _, _, serr := m.cache.StatFile(key); serr == nil {
		return "stored"
	}
	return "streamed"
}

// countedBody adds the bytes read to n.
type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}
