package server

import (
	"log/slog"
	"net/http"
	"time"
)

// CacheOutcomeHeader is the response header that says where an answer
// came from, as nginx's X-Cache-Status does: LOCAL (the local store),
// PUSHED (uploaded here), HIT (the mirror's store) or MISS (fetched from
// an upstream now). The access log repeats it.
const CacheOutcomeHeader = "X-Cache"

// Outcome values, as header value slices assigned without allocating.
var (
	outcomeLocal  = []string{"LOCAL"}
	outcomePushed = []string{"PUSHED"}
	outcomeHit    = []string{"HIT"}
	outcomeMiss   = []string{"MISS"}
)

// setOutcome says where the answer came from (CacheOutcomeHeader).
func setOutcome(h http.Header, outcome []string) { h[CacheOutcomeHeader] = outcome }

// logAccess serves r through next and writes one line for it to log: what
// was asked, how it was answered, how long it took.
func logAccess(log *slog.Logger, next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status()),
				slog.Int64("bytes", sw.written),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote", r.RemoteAddr),
			}
			if outcome := w.Header().Get(CacheOutcomeHeader); outcome != "" {
				attrs = append(attrs, slog.String("cache", outcome))
			}
			// A panic (a cut NAR) is logged too, then goes on to net/http.
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		next(sw, r)
	}
}
