package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// TestContentAddressedWithNix substitutes a floating content-addressed
// derivation and one built from it from a served chroot store: with -j0 Nix
// may not build, so it must find both realisations and their paths.
func TestContentAddressedWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.BuildCA(t)
	store := fx.ChrootStore(t)
	sec, _, pub := nixtest.Key(t, "bastion-test-1")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--store-root", store,
		"--local-store", "true", "--secret-key-file", sec, "--upstream", "none")

	env := nixtest.CAEnv(t)
	fresh := nixtest.TempDir(t)
	out := nixtest.Run(t, env, "nix-build", "-j0", "--no-out-link", "--store", fresh,
		"--substituters", p.url(), "--option", "trusted-public-keys", pub, nixtest.CAExpression(t))
	if out != fx.Dependent {
		t.Fatalf("nix-build printed %q, want %s", out, fx.Dependent)
	}
	got := nixtest.PathInfo(t, env, fresh, fx.Base, fx.Dependent)
	want := nixtest.PathInfo(t, env, store, fx.Base, fx.Dependent)
	for path, w := range want {
		if g := got[path]; g.NarHash != w.NarHash || g.CA != w.CA || g.CA == "" {
			t.Errorf("%s: got %s %q, want %s %q", path, g.NarHash, g.CA, w.NarHash, w.CA)
		}
	}

	// Nix 2.8 keeps the realisations it substituted with their signatures
	// (it does not check them itself): ours must verify over what Nix
	// serialises.
	key, err := signature.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	realisations := fx.Realisations(t, fresh)
	for _, path := range []string{fx.Base, fx.Dependent} {
		r, ok := realisations[filepath.Base(path)]
		if !ok {
			t.Fatalf("no realisation of %s in the fresh store: %v", path, realisations)
		}
		if !signedBy(t, key, r) {
			t.Errorf("realisation %s: no signature of %s verifies among %q", r.ID, pub, r.Signatures)
		}
	}
}

func signedBy(t *testing.T, key signature.PublicKey, r nixtest.Realisation) bool {
	t.Helper()
	fingerprint, err := json.Marshal(struct {
		DependentRealisations map[string]string `json:"dependentRealisations"`
		ID                    string            `json:"id"`
		OutPath               string            `json:"outPath"`
	}{r.DependentRealisations, r.ID, r.OutPath})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Signatures {
		if !strings.HasPrefix(s, key.Name+":") {
			continue
		}
		sig, err := signature.ParseSignature(s)
		if err == nil && key.Verify(string(fingerprint), sig) {
			return true
		}
	}
	return false
}
