package narinfo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrInvalid is matched (errors.Is) by every error reporting malformed
// narinfo or nix-cache-info text.
var ErrInvalid = errors.New("invalid Nix metadata")

// formatError is a malformed-input error; its text starts with the format
// name ("narinfo: missing NarHash").
type formatError struct{ msg string }

func (e *formatError) Error() string        { return e.msg }
func (e *formatError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &formatError{msg: fmt.Sprintf(format, args...)}
}

// readLimited reads all of r, failing when it holds more than limit bytes.
func readLimited(r io.Reader, limit int, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", what, err)
	}
	if len(b) > limit {
		return nil, invalidf("%s: larger than %d bytes", what, limit)
	}
	return b, nil
}

// scanFields calls fn for each "Key: value" line of b, with key and value
// trimmed of spaces and tabs. It tolerates CRLF, blank lines, a missing
// final newline and "Key:value"; a non-blank line without a colon is an
// error. Line numbers start at 1.
func scanFields(b []byte, maxLines int, what string, fn func(line int, key, value []byte) error) error {
	for line := 1; len(b) > 0; line++ {
		if line > maxLines {
			return invalidf("%s: more than %d lines", what, maxLines)
		}
		var l []byte
		l, b, _ = bytes.Cut(b, []byte{'\n'})
		l = bytes.TrimRight(l, " \t\r")
		if len(l) == 0 {
			continue
		}
		var key, value []byte
		if i := bytes.Index(l, []byte(": ")); i >= 0 {
			key, value = l[:i], l[i+2:]
		} else if i := bytes.IndexByte(l, ':'); i >= 0 {
			key, value = l[:i], l[i+1:]
		} else {
			return invalidf("%s: line %d: no \"Key: value\"", what, line)
		}
		if err := fn(line, bytes.Trim(key, " \t"), bytes.Trim(value, " \t")); err != nil {
			return err
		}
	}
	return nil
}

// checkValue rejects control characters (other than tab) inside a value:
// they would corrupt the line-based format when written back.
func checkValue(v []byte) error {
	for _, c := range v {
		if c < 0x20 && c != '\t' {
			return fmt.Errorf("control character %#02x in value", c)
		}
	}
	return nil
}
