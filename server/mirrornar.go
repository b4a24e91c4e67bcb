package server

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// MirrorNAR is a mirrored NAR ready to be sent: its bytes (none for a
// HEAD that found it not stored), its size (-1 when unknown) and
// modification time. Its last byte comes only once the NAR verified. It may
// also be a *os.File holder (File, for ServeContent and sendfile) and be
// told how the response went (Finished).
type MirrorNAR = cache.NARReader

// storedNAR is a MirrorNAR backed by a complete, verified local file.
type storedNAR interface {
	File() *os.File
}

// finishedNAR is a MirrorNAR that wants to know what was sent of it, and
// the error that cut the response (nil when whole).
type finishedNAR interface {
	Finished(sent int64, err error)
}

// setNARHeaders sets the type and caching of a mirrored NAR. Only a
// stored, verified file is immutable (its URL names the NarHash: the
// bytes never change); a streamed one is checked as it goes and may still
// be cut at its end, so no cache on the way may keep it.
func setNARHeaders(h http.Header, verified bool) {
	h.Set("Content-Type", "application/x-nix-nar")
	if verified {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-store")
	}
}

func (s *Server) serveMirrorNAR(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Mirror == nil {
		return errNotFound
	}
	ctx := r.Context()
	n, err := s.opts.Mirror.OpenNAR(ctx, chi.URLParam(r, "name"), r.Method == http.MethodHead)
	if err != nil {
		return mirrorNARError(ctx, err)
	}
	defer n.Close()
	if f, ok := n.(storedNAR); ok && f.File() != nil {
		setNARHeaders(w.Header(), true)
		setOutcome(w.Header(), outcomeHit)
		http.ServeContent(w, r, "", n.ModTime(), f.File())
		if r.Method == http.MethodGet && r.Header.Get("Range") == "" {
			finished(n, n.Size(), nil)
		}
		return nil
	}
	setNARHeaders(w.Header(), false)
	setOutcome(w.Header(), outcomeMiss)
	if size := n.Size(); size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	sent, err := streamNAR(w, n)
	finished(n, sent, err)
	if err != nil {
		abort() // a client never sees a failed body as complete
	}
	return nil
}

func finished(n MirrorNAR, sent int64, err error) {
	if f, ok := n.(finishedNAR); ok {
		f.Finished(sent, err)
	}
}

// narBufPool holds the buffers of streamed NARs: 16 KiB, as each read is
// flushed at once and a thousand clients following cold fills each hold
// one while they wait for bytes.
var narBufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// streamNAR sends a NAR as its bytes come, flushing each: the first bytes
// must not wait in a buffer. It returns the bytes sent and the error that
// ended the body early, if any.
func streamNAR(w http.ResponseWriter, n io.Reader) (int64, error) {
	rc := http.NewResponseController(w)
	bp := narBufPool.Get().(*[]byte)
	defer narBufPool.Put(bp)
	buf := *bp
	var sent int64
	for {
		k, err := n.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return sent, werr
			}
			sent += int64(k)
			_ = rc.Flush()
		}
		if err == io.EOF {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
	}
}
