package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

const narHashLen = 52 // nixbase32 of a sha256

// localNARRef is what a local NAR URL names. narHash is "" for the legacy
// nix-serve form that names the store path alone.
type localNARRef struct {
	hashPart string
	narHash  string
}

// parseLocalNARName reads our own URL form and the ones nix-serve and
// harmonia hand out, which clients keep for 30 days:
//
//	<storehash>-<narhash>.nar   (ours and nix-serve's)
//	<storehash>.nar             (old nix-serve)
//	<narhash>.nar?hash=<storehash> (harmonia)
func parseLocalNARName(name, query string) (localNARRef, bool) {
	base, ok := strings.CutSuffix(name, ".nar")
	if !ok {
		return localNARRef{}, false
	}
	const h = narinfo.HashPartLen
	switch len(base) {
	case h + 1 + narHashLen:
		ref := localNARRef{hashPart: base[:h], narHash: base[h+1:]}
		return ref, base[h] == '-' && narinfo.ValidHashPart(ref.hashPart) && narinfo.ValidNix32(ref.narHash)
	case h:
		return localNARRef{hashPart: base}, narinfo.ValidHashPart(base)
	case narHashLen:
		ref := localNARRef{hashPart: query, narHash: base}
		return ref, narinfo.ValidHashPart(query) && narinfo.ValidNix32(base)
	}
	return localNARRef{}, false
}

func (s *Server) serveMirrorNAR(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Mirror == nil {
		return errNotFound
	}
	return s.opts.Mirror.ServeNAR(w, r, chi.URLParam(r, "name"))
}

// serveLocalNAR streams a NAR of the local store, uncompressed: the
// bastion's LAN is fast and compressing on the fly would cost more CPU
// than it saves.
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
	size := int64(e.narSize)
	rng, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", "bytes */"+itoa(size))
		writeStatus(w, http.StatusRequestedRangeNotSatisfiable)
		return nil
	}

	h := w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	h.Set("Accept-Ranges", "bytes")
	if ref.narHash != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	status := http.StatusOK
	length := size
	if rng != nil {
		status, length = http.StatusPartialContent, rng.length
		h.Set("Content-Range", rng.contentRange(size))
	}
	h.Set("Content-Length", itoa(length))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}

	out := http.ResponseWriter(w)
	var rw *rangeWriter
	if rng != nil {
		rw = &rangeWriter{ResponseWriter: w, skip: rng.start, remain: rng.length}
		out = rw
	}
	n, err := s.opts.Local.WriteNAR(out, e.storePath)
	if rw != nil && errors.Is(err, errRangeDone) {
		return nil
	}
	if err != nil || (rw == nil && n != size) || (rw != nil && rw.remain != 0) {
		if r.Context().Err() == nil {
			s.log.Warn("nar stream failed", "path", e.storePath, "written", n, "size", size, "err", err)
		}
		s.local.forget(ref.hashPart)
		abort()
	}
	return nil
}
