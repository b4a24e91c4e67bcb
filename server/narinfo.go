package server

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// serveNarInfo answers /<hash>.narinfo for the router: narInfoRequest
// sent every valid name the direct way, so what comes here is not one.
func (s *Server) serveNarInfo(w http.ResponseWriter, r *http.Request, hashPart string) error {
	if !narinfo.ValidHashPart(hashPart) {
		return errNotFound
	}
	_, err := s.writeNarInfo(w, r, hashPart)
	return err
}

// serveNarInfoDirect answers a narinfo request without the router and
// its middleware, counting it as they would: narinfos are most of the
// requests a cache gets, and the router's per-request context and the
// middleware's wrapper cost more than finding the narinfo.
func (s *Server) serveNarInfoDirect(w http.ResponseWriter, r *http.Request, hashPart string) {
	code, n := http.StatusOK, 0
	var err error
	if n, err = s.writeNarInfo(w, r, hashPart); err != nil {
		code, n = s.fail(w, r, err)
	}
	s.metrics.narInfo.observe(code, int64(n))
}

// narInfoRequest returns the hash part of a GET or HEAD of /<hash>.narinfo
// with a valid hash part.
func narInfoRequest(r *http.Request) (string, bool) {
	const suffix = ".narinfo"
	p := r.URL.Path
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		len(p) != 1+narinfo.HashPartLen+len(suffix) || p[0] != '/' || !strings.HasSuffix(p, suffix) {
		return "", false
	}
	hashPart := p[1 : 1+narinfo.HashPartLen]
	return hashPart, narinfo.ValidHashPart(hashPart)
}

// writeNarInfo answers /<hash>.narinfo for a valid hash part: from the
// local store first, since the paths built here are what this cache exists
// for, then the pushed paths, then the mirror. It returns the body bytes written.
func (s *Server) writeNarInfo(w http.ResponseWriter, r *http.Request, hashPart string) (int, error) {
	body, outcome, err := s.findNarInfo(r, hashPart)
	if err != nil {
		return 0, err
	}
	// Assigned directly: the hot path of the whole server, and the keys
	// are already in canonical form.
	h := w.Header()
	setOutcome(h, outcome)
	h["Content-Type"] = narInfoType
	h["Cache-Control"] = narInfoCacheControl
	h["Content-Length"] = []string{itoa(int64(len(body)))}
	h["Date"] = httpDate()
	if r.Method == http.MethodHead {
		return 0, nil
	}
	n, err := w.Write(body)
	return n, ignoreClientGone(err)
}

var (
	narInfoType         = []string{"text/x-nix-narinfo"}
	narInfoCacheControl = []string{"public, max-age=60"}
)

// narInfoBytesMirror is a Mirror that keeps the narinfos it serves as bytes,
// which spares writing them out again on every hit, and says whether it
// had the narinfo stored (a hit) or asked an upstream now.
type narInfoBytesMirror interface {
	NarInfoBytesHit(ctx context.Context, hashPart string) (body []byte, hit bool, err error)
}

// findNarInfo returns the narinfo of hashPart and where it came from.
func (s *Server) findNarInfo(r *http.Request, hashPart string) ([]byte, []string, error) {
	if s.local != nil {
		e, err := s.local.get(r.Context(), hashPart)
		if err == nil {
			return e.body, outcomeLocal, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	if body, err := s.pushedNarInfo(hashPart); !errors.Is(err, fs.ErrNotExist) {
		return body, outcomePushed, err
	}
	if s.opts.Mirror == nil {
		return nil, nil, errNotFound
	}
	if mb, ok := s.opts.Mirror.(narInfoBytesMirror); ok {
		body, hit, err := mb.NarInfoBytesHit(r.Context(), hashPart)
		if hit {
			return body, outcomeHit, err
		}
		return body, outcomeMiss, err
	}
	ni, err := s.opts.Mirror.NarInfo(r.Context(), hashPart)
	if err != nil {
		return nil, nil, err
	}
	return ni.Bytes(), outcomeMiss, nil
}
