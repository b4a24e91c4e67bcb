package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/localstore"
)

// realisationStore is a LocalStore that also knows the realisations of
// content-addressed derivations.
type realisationStore interface {
	Realisation(ctx context.Context, id string) (*localstore.Realisation, error)
}

// realisationFingerprint is a realisation as Nix serialises it without
// its signatures, which is what they sign: fields in this (alphabetical)
// order, store paths as basenames.
type realisationFingerprint struct {
	DependentRealisations map[string]string `json:"dependentRealisations"`
	ID                    string            `json:"id"`
	OutPath               string            `json:"outPath"`
}

// realisationJSON is the .doi file: the same, then the signatures.
type realisationJSON struct {
	realisationFingerprint
	Signatures []string `json:"signatures"`
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
	fp := realisationFingerprint{
		DependentRealisations: make(map[string]string, len(real.Dependents)),
		ID:                    real.ID,
		OutPath:               path.Base(real.OutPath),
	}
	for id, p := range real.Dependents {
		fp.DependentRealisations[id] = path.Base(p)
	}
	// Ids and store path names hold no character that Go's encoding and
	// Nix's would escape differently, so these are the bytes Nix signs.
	fingerprint, err := json.Marshal(fp)
	if err != nil {
		return nil, fmt.Errorf("encode realisation %s: %w", real.ID, err)
	}
	// Nix always writes the list, empty or not.
	doc := realisationJSON{realisationFingerprint: fp, Signatures: append([]string{}, real.Signatures...)}
	for _, k := range keys {
		sig, err := k.Sign(nil, string(fingerprint))
		if err != nil {
			return nil, fmt.Errorf("sign realisation %s: %w", real.ID, err)
		}
		doc.Signatures = replaceSignature(doc.Signatures, sig.Name, sig.String())
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode realisation %s: %w", real.ID, err)
	}
	return body, nil
}

// replaceSignature puts sig in place of the signatures by the key named
// name, or appends it.
func replaceSignature(sigs []string, name, sig string) []string {
	out := sigs[:0]
	for _, s := range sigs {
		if !strings.HasPrefix(s, name+":") {
			out = append(out, s)
		}
	}
	return append(out, sig)
}
