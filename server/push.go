package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/private-nix-cache/private-nix-cache/auth"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/push"
)

// Pusher is the part of *push.Uploads the server uses.
type Pusher interface {
	PutNAR(name string, body io.Reader, size int64) error
	PutNarInfo(ctx context.Context, text []byte, by push.Uploader) error
	HasNAR(name string) bool
	NarInfo(hashPart string) (*push.Stored, error)
	OpenNAR(hashPart, name string) (push.NARFile, error)
}

var _ Pusher = (*push.Uploads)(nil)

// pushRoutes takes uploads: PUT of NARs, then of the narinfo naming one.
func (s *Server) pushRoutes(r chi.Router) {
	r.Put("/{file}", s.handlePush(s.putTopLevel))
	r.Put("/nar/{name}", s.handlePush(s.putNAR))
	// Optional to Nix: answered, not kept (the README says so).
	r.Put("/log/{drv}", s.handlePush(acceptAndDrop))
	r.Put("/realisations/{id}", s.handlePush(acceptAndDrop))
	r.Get("/nar/pushed/{hash}/{name}", s.handle(s.servePushedNAR))
	r.Head("/nar/pushed/{hash}/{name}", s.handle(s.servePushedNAR))
}

func (s *Server) putTopLevel(w http.ResponseWriter, r *http.Request) error {
	file := chi.URLParam(r, "file")
	switch {
	case strings.HasSuffix(file, ".narinfo"):
		return s.putNarInfo(w, r)
	case strings.HasSuffix(file, ".ls"):
		return acceptAndDrop(w, r)
	}
	return errMethodNotAllowed
}

func (s *Server) putNarInfo(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength < 0 {
		return &push.Error{Kind: push.KindLengthRequired, Msg: "narinfo: the length must be given"}
	}
	if r.ContentLength > narinfo.MaxSize {
		return &push.Error{Kind: push.KindTooLarge, Msg: "narinfo: over 1 MiB"}
	}
	text := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, text); err != nil {
		return err
	}
	if err := s.opts.Push.PutNarInfo(r.Context(), text, uploaderOf(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) putNAR(w http.ResponseWriter, r *http.Request) error {
	if err := s.opts.Push.PutNAR(chi.URLParam(r, "name"), r.Body, r.ContentLength); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// uploaderOf says who sent r, by the token the access check let it in
// with; without one (no token is configured) the upload must be signed.
func uploaderOf(r *http.Request) push.Uploader {
	tok, ok := tokenOf(r)
	if !ok {
		return push.Uploader{}
	}
	return push.Uploader{Name: tok.Name, MaySign: tok.Scopes.Allows(auth.Sign)}
}

// acceptAndDrop answers an optional upload without reading it: with
// Expect: 100-continue the client then does not even send the body.
func acceptAndDrop(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// serveNAR answers /nar/<name>: a HEAD of a NAR received for a push says
// 200, so that Nix does not send it again; anything else is a NAR of the
// local store. The received file itself is served only once a narinfo
// names it, under /nar/pushed/.
func (s *Server) serveNAR(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodHead && s.opts.Push != nil && s.opts.Push.HasNAR(chi.URLParam(r, "name")) {
		w.Header().Set("Content-Type", "application/x-nix-nar")
		w.Header().Set("Cache-Control", "no-store")
		return nil
	}
	return s.serveLocalNAR(w, r)
}

// servePushedNAR serves the NAR file of a pushed path.
func (s *Server) servePushedNAR(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Push == nil {
		return errNotFound
	}
	f, err := s.opts.Push.OpenNAR(chi.URLParam(r, "hash"), chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	setOutcome(h, outcomePushed)
	http.ServeContent(w, r, "", f.ModTime(), f)
	return nil
}

// pushedNarInfo returns the narinfo of a pushed path, or fs.ErrNotExist.
func (s *Server) pushedNarInfo(hashPart string) ([]byte, error) {
	if s.opts.Push == nil {
		return nil, errNotFound
	}
	st, err := s.opts.Push.NarInfo(hashPart)
	if err != nil {
		return nil, err
	}
	return st.Raw, nil
}

var errMethodNotAllowed = errors.New("method not allowed")

// handlePush maps the refusals of uploads to statuses, with the reason
// as the body: Nix shows it to whoever ran nix copy.
func (s *Server) handlePush(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		code, msg := pushStatus(err)
		if code == 0 {
			s.fail(w, r, err)
			return
		}
		if code != http.StatusMethodNotAllowed {
			s.log.Warn("upload refused", "path", r.URL.Path, "status", code, "err", err)
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		if code == http.StatusMethodNotAllowed {
			h.Set("Allow", "GET, HEAD")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, msg+"\n")
	}
}

// pushStatus returns the status and text of a refused upload, or 0 for
// other errors.
func pushStatus(err error) (int, string) {
	switch push.KindOf(err) {
	case push.KindInvalid:
		return http.StatusBadRequest, err.Error()
	case push.KindTooLarge:
		return http.StatusRequestEntityTooLarge, err.Error()
	case push.KindLengthRequired:
		return http.StatusLengthRequired, err.Error()
	case push.KindQuota:
		return http.StatusInsufficientStorage, err.Error()
	case push.KindConflict:
		return http.StatusConflict, err.Error()
	}
	switch {
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, http.StatusText(http.StatusMethodNotAllowed)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "the body ended before its Content-Length"
	}
	return 0, ""
}
