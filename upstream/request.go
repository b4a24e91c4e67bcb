package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
)

// userAgent identifies this server to upstreams.
const userAgent = "private-nix-cache"

// StatusError is an unexpected HTTP status from an upstream.
type StatusError struct {
	URL  string
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Transient reports whether retrying later may help (5xx, 408, 429).
func (e *StatusError) Transient() bool { return isTransientStatus(e.Code) }

func isTransientStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// isMissStatus reports the statuses Nix reads as "not there".
func isMissStatus(code int) bool {
	switch code {
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden, http.StatusUnauthorized,
		http.StatusProxyAuthRequired: // Nix 2.8 takes all these for "not there"
		return true
	}
	return false
}

// newRequest builds a GET with credentials. Never log its headers.
func (u *Upstream) newRequest(ctx context.Context, target string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if u.authorization != "" {
		req.Header.Set("Authorization", u.authorization)
	}
	return req, nil
}

// errBodyTooLarge is returned by readLimited for bodies over the limit.
var errBodyTooLarge = errors.New("response body too large")

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w (over %d bytes)", errBodyTooLarge, limit)
	}
	return b, nil
}

// slogLevelFor logs misses and refusals quieter than failures.
func slogLevelFor(err error) slog.Level {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, context.Canceled) {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
