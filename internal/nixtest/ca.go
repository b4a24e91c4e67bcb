package nixtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// CAFixture is a floating content-addressed derivation and one built from
// it, built with the ca-derivations feature into the real /nix/store, so
// that the Nix database holds their realisations.
type CAFixture struct {
	Base      string // out path of the base derivation (/nix/store/...-ca-base)
	Dependent string // out path of the derivation that refers to Base
}

// Realisation is one entry of `nix realisation info --json`: what Nix
// itself serves as a .doi file.
type Realisation struct {
	ID                    string            `json:"id"`
	OutPath               string            `json:"outPath"` // a basename
	DependentRealisations map[string]string `json:"dependentRealisations"`
	Signatures            []string          `json:"signatures"`
}

var (
	caOnce sync.Once
	caFx   *CAFixture
	caErr  error
)

// CAEnv is Env with the ca-derivations experimental feature on.
func CAEnv(t testing.TB) []string {
	t.Helper()
	return append(Env(t), "NIX_CONFIG="+nixConfig+"extra-experimental-features = ca-derivations\n")
}

// CAExpression writes the Nix expression of the CA fixture into a fresh
// directory and returns its file: `nix-build` of it (with CAEnv) yields
// the Dependent path. Its derivations are the same in every call.
func CAExpression(t testing.TB) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.nix")
	if err := os.WriteFile(file, []byte(caExpression()), 0o644); err != nil {
		t.Fatalf("write CA fixture expression: %v", err)
	}
	return file
}

// BuildCA builds (once per test binary) the CA fixture.
func BuildCA(t testing.TB) *CAFixture {
	t.Helper()
	Require(t)
	caOnce.Do(func() {
		env := CAEnv(t)
		var out string
		if out, caErr = run(env, "nix-build", "--no-out-link", CAExpression(t)); caErr != nil {
			return
		}
		var base string
		if base, caErr = run(env, "nix-store", "--query", "--references", out); caErr != nil {
			return
		}
		caFx = &CAFixture{Base: base, Dependent: out}
	})
	if caErr != nil {
		t.Fatalf("build CA fixture: %v", caErr)
	}
	return caFx
}

// ChrootStore copies the fixture, realisations included, into a fresh
// chroot store (nix copy --no-check-sigs --to DIR -f EXPR) and returns DIR.
func (f *CAFixture) ChrootStore(t testing.TB) string {
	t.Helper()
	dir := TempDir(t)
	Run(t, CAEnv(t), "nix", "copy", "--no-check-sigs", "--to", dir, "-f", CAExpression(t))
	return dir
}

// Realisations returns `nix realisation info --json` of the fixture's
// outputs in store ("" for the default store), keyed by out path basename.
func (f *CAFixture) Realisations(t testing.TB, store string) map[string]Realisation {
	t.Helper()
	args := []string{"realisation", "info", "--json", "-f", CAExpression(t)}
	if store != "" {
		args = append(args, "--store", store)
	}
	out := Run(t, CAEnv(t), "nix", append(args, "base", "dependent")...)
	var list []Realisation
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("parse nix realisation info --json: %v\n%s", err, out)
	}
	m := make(map[string]Realisation, len(list))
	for _, r := range list {
		m[r.OutPath] = r
	}
	return m
}

// caExpression is a floating CA derivation and a dependent of it, both
// with the salt in their contents, so each test binary gets fresh paths.
func caExpression() string {
	return fmt.Sprintf(`let
  salt = "%s";
  mk = name: script: derivation {
    inherit name salt;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
    __contentAddressed = true;
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
  };
  base = mk "ca-base" ''
    echo "base of the CA fixture $salt" > $out
  '';
  dependent = mk "ca-dependent" ''
    /bin/mkdir $out
    echo ${base} > $out/ref
  '';
in dependent // { inherit base dependent; }
`, salt)
}
