package mirror

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// gatewayError is a NAR request that failed at the upstream before the
// response began. It carries its status: 502 for an upstream that failed,
// served bad bytes or could not be reached, 504 for one that did not answer
// in time. Nix retries both, where a 500 would blame this server.
type gatewayError struct {
	status int
	err    error
}

func (e *gatewayError) Error() string   { return e.err.Error() }
func (e *gatewayError) Unwrap() error   { return e.err }
func (e *gatewayError) HTTPStatus() int { return e.status }

// withStatus gives err, a failure of a NAR request before the response
// began, the status the client should see. It is left as is when the
// client left (ctx done), when no upstream has the NAR (fs.ErrNotExist
// alone: 404) and for local failures (storage: 500).
func withStatus(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || errors.Is(err, cache.ErrStorage) {
		return err
	}
	switch {
	case errors.Is(err, upstream.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		// Not the client's: the download's own stall guard or deadline.
		errors.Is(err, context.Canceled):
		return &gatewayError{status: http.StatusGatewayTimeout, err: err}
	case errors.Is(err, upstream.ErrUnavailable), errors.Is(err, cache.ErrVerify):
		return &gatewayError{status: http.StatusBadGateway, err: err}
	case errors.Is(err, fs.ErrNotExist):
		return err
	}
	return &gatewayError{status: http.StatusBadGateway, err: err}
}

// notExistError is a narinfo lookup that failed for a reason other than a
// miss (upstreams unavailable, a timeout): a 404 for narinfo requests, as
// Nix disables a cache that answers 5xx, but never cached as a miss. A NAR
// request takes the cause instead.
type notExistError struct{ err error }

func (e *notExistError) Error() string        { return e.err.Error() }
func (e *notExistError) Unwrap() error        { return e.err }
func (e *notExistError) Is(target error) bool { return target == fs.ErrNotExist }
