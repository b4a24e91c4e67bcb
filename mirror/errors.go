package mirror

import (
	"io/fs"
)

// notExistError is a narinfo lookup that failed for a reason other than a
// miss (upstreams unavailable, a timeout): fs.ErrNotExist for the narinfo
// route, as Nix disables a cache that answers 5xx, but never cached as a
// miss. A NAR request takes the cause instead.
type notExistError struct{ err error }

func (e *notExistError) Error() string        { return e.err.Error() }
func (e *notExistError) Unwrap() error        { return e.err }
func (e *notExistError) Is(target error) bool { return target == fs.ErrNotExist }
