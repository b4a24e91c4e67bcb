package cache

import (
	"io"
	"time"
)

// NARReader is a NAR file being read: a stored file, or one on its way
// from an upstream. Size is -1 when unknown. A reader backed by a
// complete local file also has File() *os.File, for sendfile and Range.
type NARReader interface {
	io.ReadCloser
	Size() int64
	ModTime() time.Time
}
