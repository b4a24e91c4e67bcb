package server

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"syscall"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// UpstreamHeader says, on a 404, that the upstreams could not be asked
// (unreachable, timed out) rather than that none has the path.
const UpstreamHeader = "X-Private-Nix-Cache-Upstream"

var (
	errNotFound   = fs.ErrNotExist
	errBadRequest = errors.New("bad request")
)

// handle turns a handler that returns an error into an http.HandlerFunc.
// Errors are mapped to statuses in one place; an error after the response
// has begun can only cut the connection, so the handler must not return one.
func (s *Server) handle(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// fail answers a request whose handler returned err, and returns the
// status and the body bytes written.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) (code, n int) {
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errBadRequest) && r.Context().Err() == nil {
		// One line per failed request; the mirror logs the cause.
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	return writeError(w, err)
}

// narGatewayError is a mirrored NAR request that failed at the upstream
// before the response began: 502 for an upstream that failed, served bad
// bytes or could not be reached, 504 for one that did not answer in time.
// Nix retries both, where a 500 would blame this server.
type narGatewayError struct {
	status int
	err    error
}

func (e *narGatewayError) Error() string   { return e.err.Error() }
func (e *narGatewayError) Unwrap() error   { return e.err }
func (e *narGatewayError) HTTPStatus() int { return e.status }

// mirrorNARError gives err, a failure of a mirrored NAR request before
// the response began, the status the client should see. It is left as is
// when the client left (ctx done), when no upstream has the NAR
// (fs.ErrNotExist alone: 404) and for local failures (storage: 500). A
// narinfo request maps the same failures to 404 (see writeError).
func mirrorNARError(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, cache.ErrStorage) {
		return err
	}
	switch {
	case errors.Is(err, upstream.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		// Not the client's: the download's own stall guard or deadline.
		errors.Is(err, context.Canceled):
		return &narGatewayError{status: http.StatusGatewayTimeout, err: err}
	case errors.Is(err, upstream.ErrUnavailable), errors.Is(err, cache.ErrVerify):
		return &narGatewayError{status: http.StatusBadGateway, err: err}
	case errors.Is(err, fs.ErrNotExist):
		return err
	}
	return &narGatewayError{status: http.StatusBadGateway, err: err}
}

// statusError is an error that knows its HTTP status, such as a mirror's
// 502 for an upstream that failed or 504 for one that stalled.
type statusError interface {
	HTTPStatus() int
}

// writeError answers with the status err maps to, and returns it and the
// body bytes written.
func writeError(w http.ResponseWriter, err error) (int, int) {
	code := http.StatusInternalServerError
	var se statusError
	switch {
	case errors.As(err, &se) && se.HTTPStatus() >= 400:
		code = se.HTTPStatus()
	case errors.Is(err, fs.ErrNotExist):
		code = http.StatusNotFound
		if errors.Is(err, upstream.ErrUnavailable) {
			// Not a miss: say so to whoever debugs a build that did not
			// substitute (Nix itself only sees the 404).
			w.Header().Set(UpstreamHeader, "unavailable")
		}
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, context.Canceled):
		code = 499 // the client left; nobody reads this
	}
	return code, writeStatus(w, code)
}

// writeStatus writes a short plain-text error that no cache may keep.
// It returns the body bytes written.
func writeStatus(w http.ResponseWriter, code int) int {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Accept-Ranges")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	text := http.StatusText(code)
	if text == "" {
		text = "status " + strconv.Itoa(code)
	}
	w.WriteHeader(code)
	n, _ := w.Write([]byte(text + "\n"))
	return n
}

// ignoreClientGone drops the errors of writing to a client that left.
func ignoreClientGone(err error) error {
	if err == nil || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// abort cuts the connection so that a client never mistakes a body that
// failed half-way for a complete one.
func abort() { panic(http.ErrAbortHandler) }
