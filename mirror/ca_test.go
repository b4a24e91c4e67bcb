package mirror

import (
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// addCA appends a CA line to every upstream narinfo in dir. The signature
// does not cover CA, so it still verifies.
func addCA(t testing.TB, dir string, ca func(ni *narinfo.NarInfo) string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.ParseBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, "CA: "+ca(ni)+"\n"...)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCAContradictingNarHashRefused(t *testing.T) {
	wrong := sha256.Sum256([]byte("not this NAR"))
	for _, tc := range []struct {
		name  string
		ca    func(ni *narinfo.NarInfo) string
		serve bool
	}{
		{"matching", func(ni *narinfo.NarInfo) string {
			return "fixed:r:sha256:" + ni.NarHash.Format(nixhash.NixBase32, false)
		}, true},
		{"contradicting", func(*narinfo.NarInfo) string {
			return "fixed:r:sha256:" + nixhash.MustNewHash(nixhash.SHA256, wrong[:]).Format(nixhash.NixBase32, false)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{files: smallFiles(), prepare: func(dir string) { addCA(t, dir, tc.ca) }})
			p := e.paths[0]
			resp, body, err := e.get(hashPart(p) + ".narinfo")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.serve {
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("status %d, want 404:\n%s", resp.StatusCode, body)
				}
				return
			}
			ni, err := narinfo.ParseBytes(body)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, %v", resp.StatusCode, err)
			}
			ourPub, _ := narinfo.ParsePublicKey(e.ourKey.Public)
			if ni.CA == "" || !ni.Verify([]signature.PublicKey{ourPub}) {
				t.Errorf("CA %q, signed by us: %v", ni.CA, ni.Verify([]signature.PublicKey{ourPub}))
			}
		})
	}
}
