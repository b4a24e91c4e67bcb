package push

import (
	"errors"
	"fmt"
)

// Kind says why an upload was refused, for the caller to map to a status.
type Kind int

// Kinds of refusal.
const (
	// KindInvalid is content that does not match or does not parse.
	KindInvalid Kind = iota + 1
	// KindTooLarge is a body over MaxUploadSize.
	KindTooLarge
	// KindLengthRequired is a body of unknown length.
	KindLengthRequired
	// KindQuota is an upload past MaxStoreSize.
	KindQuota
	// KindConflict is an upload of a name already being received.
	KindConflict
	// KindConfig is a bad Options.
	KindConfig
)

// Error is a refused upload; its message is meant for the client.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of a refusal, or 0 for other errors (storage
// failures, a client that left).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
