package server

import (
	"errors"
	"io/fs"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// localNARRef is what a local NAR URL names. narHash is "" for the legacy
// nix-serve form that names the store path alone; zstd is set for the
// compressed form (.nar.zst).
type localNARRef struct {
	hashPart string
	narHash  string
	zstd     bool
}

// parseLocalNARName reads our own URL forms and the ones nix-serve and
// harmonia hand out, which clients keep for 30 days:
//
//	<storehash>-<narhash>.nar[.zst] (ours and nix-serve's)
//	<storehash>.nar[.zst]           (old nix-serve)
//	<narhash>.nar[.zst]?hash=<storehash> (harmonia)
func parseLocalNARName(name, query string) (localNARRef, bool) {
	name, zstd := strings.CutSuffix(name, ".zst")
	base, ok := strings.CutSuffix(name, ".nar")
	if !ok {
		return localNARRef{}, false
	}
	const h, n = narinfo.HashPartLen, narinfo.Nix32SHA256Len
	switch len(base) {
	case h + 1 + n:
		ref := localNARRef{hashPart: base[:h], narHash: base[h+1:], zstd: zstd}
		return ref, base[h] == '-' && narinfo.ValidHashPart(ref.hashPart) && narinfo.ValidNix32(ref.narHash)
	case h:
		return localNARRef{hashPart: base, zstd: zstd}, narinfo.ValidHashPart(base)
	case n:
		ref := localNARRef{hashPart: query, narHash: base, zstd: zstd}
		return ref, narinfo.ValidHashPart(query) && narinfo.ValidNix32(base)
	}
	return localNARRef{}, false
}

// serveLocalNAR streams a NAR of the local store: uncompressed with Range,
// or, for a .nar.zst URL, compressed on the fly with neither Range nor a
// Content-Length (the compressed size is known only at the end).
func (s *Server) serveLocalNAR(w http.ResponseWriter, r *http.Request) error {
	if s.local == nil {
		return errNotFound
	}
	ref, ok := parseLocalNARName(chi.URLParam(r, "name"), r.URL.Query().Get("hash"))
	if !ok {
		return errNotFound
	}
	e, err := s.local.get(r.Context(), ref.hashPart)
	if err != nil {
		return err
	}
	if ref.narHash != "" && ref.narHash != e.narHash {
		// The path changed since this URL was handed out: other bytes
		// would fail the client's hash check, "not here" lets it move on.
		return errNotFound
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	setOutcome(h, outcomeLocal)
	if ref.narHash != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if ref.zstd {
		if r.Method == http.MethodHead {
			return s.headLocalNAR(w, e, http.StatusOK)
		}
		return s.writeLocalZstd(w, r, e)
	}
	size := int64(e.narSize)
	rng, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", "bytes */"+itoa(size))
		writeStatus(w, http.StatusRequestedRangeNotSatisfiable)
		return nil
	}

	h.Set("Accept-Ranges", "bytes")
	status := http.StatusOK
	length := size
	if rng != nil {
		status, length = http.StatusPartialContent, rng.length
		h.Set("Content-Range", rng.contentRange(size))
	}
	h.Set("Content-Length", itoa(length))
	if r.Method == http.MethodHead {
		return s.headLocalNAR(w, e, status)
	}
	return s.writeLocalNAR(w, r, e, rng, status)
}

// headLocalNAR answers a HEAD whose headers are set, checking that the
// path is still there.
func (s *Server) headLocalNAR(w http.ResponseWriter, e *localEntry, status int) error {
	if !s.opts.Local.Exists(e.storePath) {
		s.local.forget(hashPartOf(e.storePath))
		return errNotFound
	}
	w.WriteHeader(status)
	return nil
}

// writeLocalNAR writes the body of a local NAR answer whose headers are set.
func (s *Server) writeLocalNAR(w http.ResponseWriter, r *http.Request, e *localEntry, rng *byteRange, status int) error {
	lw := &lateHeader{ResponseWriter: w, status: status}
	out := http.ResponseWriter(lw)
	var rw *rangeWriter
	if rng != nil {
		rw = &rangeWriter{ResponseWriter: lw, skip: rng.start, remain: rng.length}
		out = rw
	}
	n, err := s.opts.Local.WriteNAR(out, e.storePath)
	if rw != nil && errors.Is(err, errRangeDone) {
		return nil
	}
	if err == nil && (rw == nil && n == int64(e.narSize) || rw != nil && rw.remain == 0) {
		return nil
	}
	return s.localNARFailed(r, e, lw, n, err)
}

// localNARFailed ends a local NAR answer whose body failed, or fell short
// of the NAR size with no error, after n bytes of NAR went out.
func (s *Server) localNARFailed(r *http.Request, e *localEntry, lw *lateHeader, n int64, err error) error {
	s.local.forget(hashPartOf(e.storePath))
	if !lw.sent {
		// Nothing went out yet: the path vanished (or never read), which
		// clients take as "not here" and move on.
		lw.unsent()
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return errNotFound
		}
		return err
	}
	if r.Context().Err() == nil {
		s.log.Warn("nar stream failed", "path", e.storePath, "written", n, "size", e.narSize, "err", err)
	}
	abort()
	return nil
}

// hashPartOf returns the hash part of a /nix/store path.
func hashPartOf(storePath string) string {
	base := storePath[strings.LastIndexByte(storePath, '/')+1:]
	return base[:min(len(base), narinfo.HashPartLen)]
}
