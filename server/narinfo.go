package server

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// serveNarInfo answers /<hash>.narinfo: from the local store first, since
// the paths built here are what this cache exists for, then the mirror.
func (s *Server) serveNarInfo(w http.ResponseWriter, r *http.Request, hashPart string) error {
	if !narinfo.ValidHashPart(hashPart) {
		return errNotFound
	}
	body, err := s.findNarInfo(r, hashPart)
	if err != nil {
		return err
	}
	// Assigned directly: the hot path of the whole server, and the keys
	// are already in canonical form.
	h := w.Header()
	h["Content-Type"] = narInfoType
	h["Cache-Control"] = narInfoCacheControl
	h["Content-Length"] = []string{itoa(int64(len(body)))}
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(body)
	return ignoreClientGone(err)
}

var (
	narInfoType         = []string{"text/x-nix-narinfo"}
	narInfoCacheControl = []string{"public, max-age=60"}
)

// narInfoBytesMirror is a Mirror that keeps the narinfos it serves as bytes,
// which spares writing them out again on every hit.
type narInfoBytesMirror interface {
	NarInfoBytes(ctx context.Context, hashPart string) ([]byte, error)
}

func (s *Server) findNarInfo(r *http.Request, hashPart string) ([]byte, error) {
	if s.local != nil {
		e, err := s.local.get(r.Context(), hashPart)
		if err == nil {
			return e.body, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if s.opts.Mirror != nil {
		if mb, ok := s.opts.Mirror.(narInfoBytesMirror); ok {
			return mb.NarInfoBytes(r.Context(), hashPart)
		}
		ni, err := s.opts.Mirror.NarInfo(r.Context(), hashPart)
		if err != nil {
			return nil, err
		}
		return ni.Bytes(), nil
	}
	return nil, errNotFound
}
