package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/localstore"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// A realisation as Nix 2.8 recorded it (`nix realisation info --json`),
// signed by Nix with nixKey: its fingerprint is the JSON without signatures.
const (
	nixKey         = "test-1:yYC2AG/Syioo9nZio21T1oCF80RtuCrKokQRnNqqBHA="
	baseID         = "sha256:d7e8c98fcb3fb6ac483b681ec6796df4f5bca7937d9379be9cd9b8e3eacd8102!out"
	dependentID    = "sha256:0bc4b40076e2267b4f6b8232e1fcc657628e82498cbda1027d2b2ebd5e958517!out"
	nixSig         = "test-1:JRQQu+M93h4mPVt3owXKS2LiqNRVgbOazX6l8tVQZj38jczcF4pCsbkfs7ewkR90wvfCrC/8M7ePnlp/Qnp/BQ=="
	depFingerprint = `{"dependentRealisations":{"` + baseID + `":"rbfzf1lmd5rqw5b12kav8mbnijkvywpj-ca-a"},"id":"` + dependentID + `","outPath":"0c0w8hy3278bl8namsll3ndiwm7iisxb-ca-b"}`
)

// realisationFake is a fakeStore that also holds realisations.
type realisationFake struct {
	fakeStore
	realisations map[string]*localstore.Realisation
}

func (f *realisationFake) Realisation(_ context.Context, id string) (*localstore.Realisation, error) {
	if r, ok := f.realisations[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("realisation %s: %w", id, fs.ErrNotExist)
}

func newRealisationFake() *realisationFake {
	return &realisationFake{realisations: map[string]*localstore.Realisation{
		baseID: {ID: baseID, OutPath: "/nix/store/rbfzf1lmd5rqw5b12kav8mbnijkvywpj-ca-a", Dependents: map[string]string{}},
		dependentID: {
			ID: dependentID, OutPath: "/nix/store/0c0w8hy3278bl8namsll3ndiwm7iisxb-ca-b",
			Signatures: []string{nixSig},
			Dependents: map[string]string{baseID: "/nix/store/rbfzf1lmd5rqw5b12kav8mbnijkvywpj-ca-a"},
		},
	}}
}

func serverKey(t *testing.T) signature.SecretKey {
	t.Helper()
	sec, _, err := narinfo.GenerateKey("server-1", strings.NewReader(strings.Repeat("s", 64)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := narinfo.ParseSecretKey([]byte(sec))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestRealisationSignedAsNixSigns(t *testing.T) {
	key := serverKey(t)
	s := New(Options{Local: newRealisationFake(), Keys: []signature.SecretKey{key}})
	rec := do(t, s, "GET", "/realisations/"+dependentID+".doi")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	body := rec.Body.String()
	prefix := strings.TrimSuffix(depFingerprint, "}") + `,"signatures":["` + nixSig + `","server-1:`
	if !strings.HasPrefix(body, prefix) || !strings.HasSuffix(body, `=="]}`) {
		t.Fatalf("body\n%s\ndoes not start with\n%s", body, prefix)
	}
	var doc struct{ Signatures []string }
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Signatures) != 2 {
		t.Fatalf("signatures %q: %v", doc.Signatures, err)
	}
	for _, c := range []struct{ pub, sig string }{
		{nixKey, doc.Signatures[0]},
		{key.ToPublicKey().String(), doc.Signatures[1]},
	} {
		pub, err := signature.ParsePublicKey(c.pub)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signature.ParseSignature(c.sig)
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Verify(depFingerprint, sig) {
			t.Errorf("%s does not verify with %s", c.sig, c.pub)
		}
	}

	if rec := do(t, s, "HEAD", "/realisations/"+dependentID+".doi"); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestRealisationWithoutKeysOrDependents(t *testing.T) {
	s := New(Options{Local: newRealisationFake()})
	rec := do(t, s, "GET", "/realisations/"+baseID+".doi")
	want := `{"dependentRealisations":{},"id":"` + baseID + `","outPath":"rbfzf1lmd5rqw5b12kav8mbnijkvywpj-ca-a","signatures":[]}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Fatalf("got %d\n%s\nwant\n%s", rec.Code, rec.Body, want)
	}
}

func TestRealisationNotFound(t *testing.T) {
	s := New(Options{Local: newRealisationFake(), Keys: testKeys(t)})
	for _, target := range []string{
		"/realisations/" + dependentID,                                              // no .doi
		"/realisations/" + dependentID + ".narinfo",                                 // another suffix
		"/realisations/" + strings.Replace(dependentID, "0bc4", "0bc5", 1) + ".doi", // unknown
		"/realisations/" + dependentID + ".doi/more",
		"/realisations/.doi",
		"/realisations/",
	} {
		rec := do(t, s, "GET", target)
		if rec.Code != 404 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d %q", target, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	// A local store that knows no realisations, and none at all.
	for _, s := range []*Server{New(Options{Local: &fakeStore{}}), New(Options{})} {
		if rec := do(t, s, "GET", "/realisations/"+dependentID+".doi"); rec.Code != 404 {
			t.Errorf("without realisations: %d", rec.Code)
		}
	}
}

// A stored signature by a key of our name is ours from an earlier key:
// replaced, not repeated.
func TestRealisationSignatureOfOurNameReplaced(t *testing.T) {
	keys := testKeys(t) // named test-1, as nixSig's key
	s := New(Options{Local: newRealisationFake(), Keys: keys})
	var doc struct{ Signatures []string }
	if err := json.Unmarshal(do(t, s, "GET", "/realisations/"+dependentID+".doi").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Signatures) != 1 || doc.Signatures[0] == nixSig || !strings.HasPrefix(doc.Signatures[0], "test-1:") {
		t.Fatalf("signatures %q", doc.Signatures)
	}
}
