package server

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// mirrorExtras is a Mirror that also serves the listings and build logs of
// mirrored paths (as *mirror.Mirror does). Their errors come before the
// first byte.
type mirrorExtras interface {
	Listing(ctx context.Context, hashPart string) (io.ReadSeekCloser, error)
	Log(ctx context.Context, drv string) (io.ReadSeekCloser, error)
}

const (
	listingType      = "application/json"
	logType          = "text/plain; charset=utf-8"
	extrasCacheCtrl  = "public, max-age=300"
	drvSuffix        = ".drv"
	minDrvNameLength = narinfo.HashPartLen + 1 + len(drvSuffix) + 1
)

// serveListing answers /<hash>.ls, the NAR listing tools like nix-index
// read: the local store's, else the mirror's.
func (s *Server) serveListing(w http.ResponseWriter, r *http.Request, hashPart string) error {
	if !narinfo.ValidHashPart(hashPart) {
		return errNotFound
	}
	if s.local != nil {
		if err := s.serveLocalListing(w, r, hashPart); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	mx, ok := s.opts.Mirror.(mirrorExtras)
	if !ok {
		return errNotFound
	}
	f, err := mx.Listing(r.Context(), hashPart)
	if err != nil {
		return err
	}
	return serveExtra(w, r, f, listingType)
}

func (s *Server) serveLocalListing(w http.ResponseWriter, r *http.Request, hashPart string) error {
	e, err := s.local.get(r.Context(), hashPart)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		if !s.opts.Local.Exists(e.storePath) {
			return errNotFound
		}
		setExtraHeaders(w.Header(), listingType)
		return nil
	}
	// Streamed while the tree is walked, so that a listing of many files
	// costs no memory; the status goes out with the first bytes, and a
	// failure before them is still a clean error status.
	lw := &lateHeader{ResponseWriter: w, status: http.StatusOK}
	setExtraHeaders(w.Header(), listingType)
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

// serveLog answers /log/<drv basename> with the build log as text: the
// local store's (decompressed), else the mirror's.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request) error {
	drv := chi.URLParam(r, "drv")
	if len(drv) < minDrvNameLength || !strings.HasSuffix(drv, drvSuffix) || !narinfo.ValidHashPart(drv[:narinfo.HashPartLen]) {
		return errNotFound
	}
	if s.local != nil {
		rc, err := s.opts.Local.OpenLog(drv)
		if err == nil {
			return s.streamLocalLog(w, r, drv, rc)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	mx, ok := s.opts.Mirror.(mirrorExtras)
	if !ok {
		return errNotFound
	}
	f, err := mx.Log(r.Context(), drv)
	if err != nil {
		return err
	}
	return serveExtra(w, r, f, logType)
}

func (s *Server) streamLocalLog(w http.ResponseWriter, r *http.Request, drv string, rc io.ReadCloser) error {
	defer rc.Close()
	setExtraHeaders(w.Header(), logType)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		s.log.Warn("log stream failed", "drv", drv, "err", err)
		abort()
	}
	return nil
}

// serveExtra sends a mirrored listing or log, whole (with Content-Length,
// Range and HEAD as http.ServeContent does them).
func serveExtra(w http.ResponseWriter, r *http.Request, f io.ReadSeekCloser, contentType string) error {
	defer f.Close()
	setExtraHeaders(w.Header(), contentType)
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

func setExtraHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", extrasCacheCtrl)
}
