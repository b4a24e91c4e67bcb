package mirror

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// TestNixSubstitutesThroughMirror lets a real Nix 2.8 substitute a closure
// through the mirror from a cache written by Nix, trusting only our key, in
// each compression and with and without FileHash; then again with the
// upstream gone, from what the mirror stored.
func TestNixSubstitutesThroughMirror(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 2 << 20})
	upSec, _, upPub := nixtest.Key(t, "upstream-e2e-1")
	tests := []struct {
		compression string
		noFileHash  bool
	}{
		{"zstd", false},
		{"xz", true},
		{"none", true},
	}
	for _, tt := range tests {
		name := tt.compression
		if tt.noFileHash {
			name += "/no-filehash"
		}
		t.Run(name, func(t *testing.T) {
			dir := fx.ExportCache(t, tt.compression, upSec)
			if tt.noFileHash {
				stripFileHashes(t, dir)
			}
			e := newEnvFromDir(t, dir, upPub)
			env := nixtest.Env(t)
			copyFrom := func() {
				dst := nixtest.TempDir(t)
				nixtest.Run(t, env, "nix", "copy", "--from", e.srv.URL, "--to", dst,
					"--option", "trusted-public-keys", e.ourKey.Public, fx.Root)
				nixtest.Run(t, env, "nix", "store", "verify", "--store", dst, "--no-trust", "-r", fx.Root)
				got := nixtest.PathInfo(t, env, dst, fx.Paths...)
				want := nixtest.PathInfo(t, env, "", fx.Paths...)
				for _, p := range fx.Paths {
					if got[p].NarHash != want[p].NarHash || got[p].NarSize != want[p].NarSize {
						t.Errorf("%s: got %s/%d, want %s/%d", p, got[p].NarHash, got[p].NarSize, want[p].NarHash, want[p].NarSize)
					}
				}
			}
			copyFrom()
			if n := e.ups[0].Requests("/nar/"); n != len(fx.Paths) {
				t.Errorf("upstream NAR requests = %d, want %d", n, len(fx.Paths))
			}
			// Everything is stored: the upstream may go.
			for _, p := range fx.Paths {
				ni, err := e.cache.NarInfo(hashPart(p))
				if err != nil {
					t.Fatal(err)
				}
				e.waitStored(ni.Key)
			}
			e.ups[0].Close()
			copyFrom()
		})
	}
	// An untrusted key is refused by Nix: the test above proves the
	// signature it checked was ours.
	t.Run("wrong key refused", func(t *testing.T) {
		dir := fx.ExportCache(t, "zstd", upSec)
		e := newEnvFromDir(t, dir, upPub)
		other := upstreamtest.NewKey(t, "someone-else-1")
		cmd := exec.Command("nix", "copy", "--from", e.srv.URL, "--to", nixtest.TempDir(t),
			"--option", "trusted-public-keys", other.Public, fx.File)
		cmd.Env = nixtest.Env(t)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("nix accepted paths signed by a key it does not trust:\n%s", out)
		}
		if !strings.Contains(string(out), "lacks a valid signature") {
			t.Fatalf("nix failed for another reason:\n%s", out)
		}
	})
}
