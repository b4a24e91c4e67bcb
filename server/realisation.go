package server

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/localstore"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// realisationStore is a LocalStore that also knows the realisations of
// content-addressed derivations.
type realisationStore interface {
	Realisation(ctx context.Context, id string) (*localstore.Realisation, error)
}

// realisationMirror is a Mirror that serves realisations of upstreams.
type realisationMirror interface {
	// Realisation returns the .doi file to serve, verified and signed.
	Realisation(ctx context.Context, id string) ([]byte, error)
}

// serveRealisation answers /realisations/<sha256:HEX!out>.doi, which Nix asks
// before building a content-addressed derivation: which path it built to.
// The local store answers first, then the mirror.
func (s *Server) serveRealisation(w http.ResponseWriter, r *http.Request) error {
	id, ok := strings.CutSuffix(chi.URLParam(r, "file"), ".doi")
	if !ok {
		return errNotFound
	}
	body, err := s.localRealisation(r.Context(), id)
	if rm, hasRealisations := s.opts.Mirror.(realisationMirror); hasRealisations && errors.Is(err, fs.ErrNotExist) {
		body, err = rm.Realisation(r.Context(), id)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("Content-Length", itoa(int64(len(body))))
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(body)
	return ignoreClientGone(err)
}

// localRealisation is the .doi file of the local store's realisation id.
func (s *Server) localRealisation(ctx context.Context, id string) ([]byte, error) {
	rs, hasRealisations := s.opts.Local.(realisationStore)
	if !hasRealisations {
		return nil, errNotFound
	}
	real, err := rs.Realisation(ctx, id)
	if err != nil {
		return nil, err
	}
	return realisationBody(real, s.opts.Keys)
}

// realisationBody is the .doi file of real, signed with keys.
func realisationBody(real *localstore.Realisation, keys []signature.SecretKey) ([]byte, error) {
	r := &narinfo.Realisation{
		ID:                    real.ID,
		OutPath:               path.Base(real.OutPath),
		DependentRealisations: make(map[string]string, len(real.Dependents)),
		Signatures:            append([]string{}, real.Signatures...),
	}
	for id, p := range real.Dependents {
		r.DependentRealisations[id] = path.Base(p)
	}
	if err := r.Sign(keys...); err != nil {
		return nil, err
	}
	return r.Bytes()
}
