package upstream_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// A realisation as Nix 2.8 recorded it, signed by Nix itself with nixKey.
const (
	nixKey      = "test-1:yYC2AG/Syioo9nZio21T1oCF80RtuCrKokQRnNqqBHA="
	baseID      = "sha256:d7e8c98fcb3fb6ac483b681ec6796df4f5bca7937d9379be9cd9b8e3eacd8102!out"
	dependentID = "sha256:0bc4b40076e2267b4f6b8232e1fcc657628e82498cbda1027d2b2ebd5e958517!out"
	baseOut     = "rbfzf1lmd5rqw5b12kav8mbnijkvywpj-ca-a"
	depOut      = "0c0w8hy3278bl8namsll3ndiwm7iisxb-ca-b"
	nixSig      = "test-1:JRQQu+M93h4mPVt3owXKS2LiqNRVgbOazX6l8tVQZj38jczcF4pCsbkfs7ewkR90wvfCrC/8M7ePnlp/Qnp/BQ=="
	nixDoc      = `{"dependentRealisations":{"` + baseID + `":"` + baseOut + `"},"id":"` + dependentID + `","outPath":"` + depOut + `","signatures":["` + nixSig + `"]}`
)

func TestRealisationSignedByNixVerifies(t *testing.T) {
	r, err := narinfo.ParseRealisation(dependentID, []byte(nixDoc))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signature.ParsePublicKey(nixKey)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Verify([]signature.PublicKey{key}) {
		t.Fatal("Nix's own signature does not verify")
	}
	if b, err := r.Bytes(); err != nil || string(b) != nixDoc {
		t.Errorf("Bytes() = %s, %v; want the bytes Nix wrote", b, err)
	}
	other := upstreamtest.NewKey(t, "test-1") // same name, another key
	otherPub, _ := signature.ParsePublicKey(other.Public)
	if r.Verify([]signature.PublicKey{otherPub}) {
		t.Error("verified with a key that did not sign")
	}
}

func TestParseRealisationRefusesBadFields(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":       `{"id":`,
		"another id":     strings.Replace(nixDoc, `"id":"`+dependentID, `"id":"`+baseID, 1),
		"absolute path":  strings.Replace(nixDoc, `"outPath":"`, `"outPath":"/nix/store/`, 1),
		"bad dependent":  strings.Replace(nixDoc, `":"`+baseOut, `":"../`+baseOut, 1),
		"escaped output": strings.Replace(nixDoc, `"outPath":"`+depOut, `"outPath":"`+depOut+`\u003c`, 1),
	} {
		if _, err := narinfo.ParseRealisation(dependentID, []byte(body)); err == nil {
			t.Errorf("%s: parsed %s", name, body)
		}
	}
}

// realisationCache is a fake upstream holding one narinfo-less cache with
// realisations written by WriteRealisation.
func realisationCache(t *testing.T, key upstreamtest.Key) (dir string, srv *upstreamtest.Server) {
	t.Helper()
	dir = t.TempDir()
	upstreamtest.WriteCache(dir, key.Secret, map[string][]byte{}, "none")
	upstreamtest.WriteRealisation(dir, baseID, baseOut, nil, key.Secret)
	upstreamtest.WriteRealisation(dir, dependentID, depOut, map[string]string{baseID: baseOut}, key.Secret)
	return dir, upstreamtest.New(t, dir)
}

func TestRealisationFetch(t *testing.T) {
	key := upstreamtest.NewKey(t, "up-1")
	dir, srv := realisationCache(t, key)
	s := newSet(t, []upstream.Config{{URL: srv.URL, PublicKeys: []string{key.Public}}}, upstream.Options{})
	ctx := ctxTimeout(t, 10*time.Second)

	f, err := s.Realisation(ctx, dependentID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Realisation.OutPath != depOut || f.Realisation.DependentRealisations[baseID] != baseOut || f.Upstream.Name() != srv.URL {
		t.Errorf("got %+v from %s", f.Realisation, f.Upstream)
	}

	missing := strings.Replace(baseID, "d7e8", "d7e9", 1)
	if _, err := s.Realisation(ctx, missing); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("missing: %v, want a miss", err)
	}
	if _, err := s.Realisation(ctx, "sha256:abc!out"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("invalid id: %v", err)
	}
	if n := srv.Requests("sha256:abc"); n != 0 {
		t.Errorf("an invalid id was asked upstream %d times", n)
	}

	// Bad bodies are refused as transient failures, never passed on.
	doi := filepath.Join(dir, "realisations", baseID+".doi")
	for name, body := range map[string][]byte{
		"bad JSON": []byte(`{"dependentRealisations":{},"id":"` + baseID),
		"oversized": []byte(`{"dependentRealisations":{},"id":"` + baseID + `","outPath":"` + baseOut +
			`","signatures":["` + strings.Repeat("x", upstream.MaxRealisationSize) + `"]}`),
	} {
		if err := os.WriteFile(doi, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Realisation(ctx, baseID); !errors.Is(err, upstream.ErrUnavailable) {
			t.Errorf("%s: %v, want unavailable", name, err)
		}
	}
}

func TestRealisationUntrustedRefused(t *testing.T) {
	key := upstreamtest.NewKey(t, "up-1")
	dir, srv := realisationCache(t, key)
	stranger := upstreamtest.NewKey(t, "up-1") // the trusted key's name, another key
	upstreamtest.WriteRealisation(dir, baseID, baseOut, nil, stranger.Secret)
	upstreamtest.WriteRealisation(dir, dependentID, depOut, map[string]string{baseID: baseOut}) // unsigned
	s := newSet(t, []upstream.Config{{URL: srv.URL, PublicKeys: []string{key.Public}}}, upstream.Options{})
	for _, id := range []string{baseID, dependentID} {
		_, err := s.Realisation(ctxTimeout(t, 10*time.Second), id)
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, upstream.ErrUnavailable) {
			t.Errorf("%s: %v, want a miss", id, err)
		}
	}
}

// TestRealisationByPriority takes the realisation of the upstream of
// lowest priority when two answer, and the other's when one fails.
func TestRealisationByPriority(t *testing.T) {
	key := upstreamtest.NewKey(t, "up-1")
	_, first := realisationCache(t, key)
	secondDir, second := realisationCache(t, key)
	upstreamtest.WriteRealisation(secondDir, baseID, depOut, nil, key.Secret) // another answer
	s := newSet(t, []upstream.Config{
		{URL: first.URL, Priority: 30, PublicKeys: []string{key.Public}},
		{URL: second.URL, Priority: 10, PublicKeys: []string{key.Public}},
	}, upstream.Options{})
	ctx := ctxTimeout(t, 10*time.Second)
	f, err := s.Realisation(ctx, baseID)
	if err != nil || f.Upstream.Name() != second.URL || f.Realisation.OutPath != depOut {
		t.Fatalf("got %+v, %v; want the priority-10 upstream's", f, err)
	}
	second.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError})
	f, err = s.Realisation(ctx, baseID)
	if err != nil || f.Upstream.Name() != first.URL || f.Realisation.OutPath != baseOut {
		t.Fatalf("with the other failing: got %+v, %v", f, err)
	}
	first.AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound})
	if _, err := s.Realisation(ctx, baseID); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("404 and 500: %v, want unavailable", err)
	}
}
