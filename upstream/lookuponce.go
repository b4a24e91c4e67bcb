package upstream

import (
	"context"
	"log/slog"
	"time"
)

// lookupOnce runs one small lookup request to u (a narinfo, a
// realisation) under the lookup timeout and records what its answer tells:
// the breaker, the error metric, a refused credential, one log line. do
// makes the request; judge reads a result's verdict and error; canceled
// is the result of a request whose caller went away meanwhile.
func lookupOnce[R any](ctx context.Context, u *Upstream, kind, keyName, key string,
	do func(context.Context) (R, health), judge func(R) (verdict, error), canceled func(error) R) R {
	rctx, cancel := context.WithTimeout(ctx, u.lookupTimeout)
	defer cancel()
	start := time.Now()
	r, h := do(rctx)
	if ctx.Err() != nil {
		// Decided (or abandoned) while this request ran: its failure
		// says nothing about the upstream.
		r, h = canceled(context.Cause(ctx)), healthUnknown
	}
	v, err := judge(r)
	u.report(h, err)
	if v == verdictTransient {
		u.m.errors.WithLabelValues(u.name, kind).Inc()
	}
	if code, ok := refusedStatus(err); ok && v == verdictMiss {
		u.refused(ctx, kind, code, keyName, key)
	}
	level := slog.LevelDebug
	attrs := []any{keyName, key, "verdict", v.String(), "err", err, "duration", time.Since(start)}
	if v == verdictTransient {
		if ok, suppressed := u.warnings.allow(time.Now(), warnEvery); ok {
			level = slog.LevelWarn
			attrs = append(attrs, "similar_suppressed", suppressed)
		}
	}
	u.log.Log(ctx, level, "upstream "+kind, attrs...)
	return r
}
