package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/localstore"
)

// byteRange is one satisfiable range of a body.
type byteRange struct{ start, length int64 }

func (b *byteRange) contentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", b.start, b.start+b.length-1, size)
}

var errUnsatisfiable = errors.New("range not satisfiable")

// parseRange reads a single-range Range header. It returns nil for no range
// or one it does not serve (several ranges), which means a full 200 answer.
func parseRange(header string, size int64) (*byteRange, error) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil, nil
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return nil, errUnsatisfiable
		}
		n = min(n, size)
		return &byteRange{start: size - n, length: n}, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 || start >= size {
		return nil, errUnsatisfiable
	}
	end := size - 1
	if last != "" {
		end, err = strconv.ParseInt(last, 10, 64)
		if err != nil || end < start {
			return nil, errUnsatisfiable
		}
		end = min(end, size-1)
	}
	return &byteRange{start: start, length: end - start + 1}, nil
}

var errRangeDone = errors.New("range written")

// rangeWriter passes on the bytes of one range of what is written to it.
// It ends the NAR writer with errRangeDone once the range is complete.
type rangeWriter struct {
	http.ResponseWriter
	skip, remain int64
}

var _ localstore.BodySkipper = (*rangeWriter)(nil)

// SkipBody takes as written, unread, the part of a file body of n bytes
// that lies before the range (see localstore.BodySkipper): a range near the
// end of a NAR then reads only the files it covers.
func (w *rangeWriter) SkipBody(n int64) int64 {
	k := min(w.skip, n)
	w.skip -= k
	return k
}

func (w *rangeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.skip > 0 {
		if int64(len(p)) <= w.skip {
			w.skip -= int64(len(p))
			return n, nil
		}
		p = p[w.skip:]
		w.skip = 0
	}
	if int64(len(p)) > w.remain {
		p = p[:w.remain]
	}
	m, err := w.ResponseWriter.Write(p)
	w.remain -= int64(m)
	if err != nil {
		return 0, err
	}
	if w.remain == 0 {
		return n, errRangeDone
	}
	return n, nil
}
