package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// TestContentAddressedThroughMirror substitutes the CA fixture through a
// pure mirror: Nix exports it with its realisations to a file:// cache
// served as the upstream; with -j0 a fresh store must get both
// realisations, re-signed by us, and both paths.
func TestContentAddressedThroughMirror(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.BuildCA(t)
	env := nixtest.CAEnv(t)
	upSec, _, upPub := nixtest.Key(t, "upstream-test-1")
	dir := filepath.Join(t.TempDir(), "cache")
	url := "file://" + dir
	nixtest.Run(t, env, "nix", "copy", "--to", url+"?compression=zstd", "-f", nixtest.CAExpression(t))
	nixtest.Run(t, env, "nix", "store", "sign", "--store", url, "--key-file", upSec, "--recursive", fx.Dependent)
	// Nix 2.8 writes the realisations unsigned (its secret-key store
	// setting signs narinfos only): sign them as a build's signing key would.
	signRealisations(t, dir, upSec)
	up := upstreamtest.New(t, dir)

	ourSec, _, ourPub := nixtest.Key(t, "mirror-test-1")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--local-store", "false",
		"--upstream", up.URL, "--trusted-public-key", upPub,
		"--cache-dir", t.TempDir(), "--secret-key-file", ourSec)

	fresh := nixtest.TempDir(t)
	out := nixtest.Run(t, env, "nix-build", "-j0", "--no-out-link", "--store", fresh,
		"--substituters", p.url(), "--option", "trusted-public-keys", ourPub, nixtest.CAExpression(t))
	if out != fx.Dependent {
		t.Fatalf("nix-build printed %q, want %s", out, fx.Dependent)
	}
	got := nixtest.PathInfo(t, env, fresh, fx.Base, fx.Dependent)
	want := nixtest.PathInfo(t, env, "", fx.Base, fx.Dependent)
	for path, w := range want {
		if g := got[path]; g.NarHash != w.NarHash || g.CA != w.CA || g.CA == "" {
			t.Errorf("%s: got %s %q, want %s %q", path, g.NarHash, g.CA, w.NarHash, w.CA)
		}
	}
	key, err := signature.ParsePublicKey(ourPub)
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
			t.Errorf("realisation %s: not re-signed by %s: %q", r.ID, ourPub, r.Signatures)
		}
	}
	if n := up.Requests("/realisations/"); n < 2 {
		t.Errorf("upstream saw %d realisation requests, want both", n)
	}
}

// signRealisations signs every realisation of the cache in dir with the
// secret key in secFile.
func signRealisations(t *testing.T, dir, secFile string) {
	t.Helper()
	b, err := os.ReadFile(secFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := narinfo.ParseSecretKey(b)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "realisations", "*.doi"))
	if err != nil || len(files) != 2 {
		t.Fatalf("realisations written by nix copy: %v, %v; want 2", files, err)
	}
	for _, f := range files {
		r := readRealisation(t, f)
		upstreamtest.WriteRealisation(dir, r.ID, r.OutPath, r.DependentRealisations, key)
	}
}

func readRealisation(t *testing.T, file string) nixtest.Realisation {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r nixtest.Realisation
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return r
}
