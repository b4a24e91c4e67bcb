package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// refusedHint is logged with every 401/403: the usual cause is a wrong,
// expired or missing token.
const refusedHint = "check its token-file / netrc-file"

// isRefusedStatus reports the statuses that refuse our credentials. Nix
// reads them as misses, and so do lookups here, but unlike a 404 they say
// nothing about the path: every path of the upstream looks absent.
func isRefusedStatus(code int) bool {
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// refusedStatus returns the status of err when it is a 401 or 403.
func refusedStatus(err error) (int, bool) {
	var se *StatusError
	if errors.As(err, &se) && isRefusedStatus(se.Code) {
		return se.Code, true
	}
	return 0, false
}

// refused counts a request that u answered with 401 or 403 (errors kind
// "auth", whatever was asked) and logs a warning, at most one per warnEvery
// for u.
func (u *Upstream) refused(ctx context.Context, kind string, code int, attrs ...any) {
	u.m.errors.WithLabelValues(u.name, kindAuth).Inc()
	ok, suppressed := u.refusals.allow(time.Now(), warnEvery)
	if !ok {
		return
	}
	attrs = append(attrs, "request", kind, "status", code, "credentials", u.credentials,
		"hint", refusedHint, "similar_suppressed", suppressed)
	u.log.Log(ctx, slog.LevelWarn, "upstream refused our credentials; its paths look absent", attrs...)
}
