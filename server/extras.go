package server

import (
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// serveListing answers /<hash>.ls, the NAR listing tools like nix-index read.
func (s *Server) serveListing(w http.ResponseWriter, r *http.Request, hashPart string) error {
	if s.local == nil || !narinfo.ValidHashPart(hashPart) {
		return errNotFound
	}
	e, err := s.local.get(r.Context(), hashPart)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	if r.Method == http.MethodHead {
		if !s.opts.Local.Exists(e.storePath) {
			return errNotFound
		}
		return nil
	}
	// Streamed while the tree is walked, so that a listing of many files
	// costs no memory; the status goes out with the first bytes, and a
	// failure before them is still a clean error status.
	lw := &lateHeader{ResponseWriter: w, status: http.StatusOK}
	err = s.opts.Local.WriteListing(lw, e.storePath)
	switch {
	case err == nil:
		lw.send()
		return nil
	case !lw.sent:
		return err
	case r.Context().Err() == nil:
		s.log.Warn("listing stream failed", "path", e.storePath, "err", err)
	}
	abort()
	return nil
}

// serveLog answers /log/<drv basename> with the build log, decompressed.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request) error {
	drv := chi.URLParam(r, "drv")
	if s.local == nil || !strings.HasSuffix(drv, ".drv") || !narinfo.ValidHashPart(drv[:min(narinfo.HashPartLen, len(drv))]) {
		return errNotFound
	}
	rc, err := s.opts.Local.OpenLog(drv)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		s.log.Warn("log stream failed", "drv", drv, "err", err)
		abort()
	}
	return nil
}
