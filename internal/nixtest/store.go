package nixtest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ChrootStore copies the closure into a fresh chroot store
// (nix copy --no-check-sigs --to DIR) and returns DIR (db at
// DIR/nix/var/nix/db/db.sqlite, files at DIR/nix/store).
func (f *Fixture) ChrootStore(t testing.TB) string {
	t.Helper()
	dir := TempDir(t)
	Run(t, Env(t), "nix", "copy", "--no-check-sigs", "--to", dir, f.Root)
	return dir
}

// TempDir is t.TempDir for directories that will hold store paths: Nix makes
// them read-only, so write permission is restored before the removal.
func TempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// Cleanups run last-registered first: this one precedes the removal.
	t.Cleanup(func() { makeWritable(dir) })
	return dir
}

func makeWritable(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
}

// Key generates a Nix signing key pair named name in t.TempDir(); returns
// file paths and the public key text.
func Key(t testing.TB, name string) (secretFile, publicFile, publicKey string) {
	t.Helper()
	dir := t.TempDir()
	secretFile = filepath.Join(dir, name+".sec")
	publicFile = filepath.Join(dir, name+".pub")
	Run(t, Env(t), "nix-store", "--generate-binary-cache-key", name, secretFile, publicFile)
	b, err := os.ReadFile(publicFile)
	if err != nil {
		t.Fatalf("read public key: %v", err)
	}
	return secretFile, publicFile, strings.TrimSpace(string(b))
}

// ExportCache signs the closure with secretFile (if non-empty) and writes a
// file:// binary cache with the given compression ("xz", "zstd", "none"),
// returning the cache directory. The signatures are added to the cache only;
// the paths in /nix/store keep theirs unchanged.
func (f *Fixture) ExportCache(t testing.TB, compression, secretFile string) string {
	t.Helper()
	env := Env(t)
	dir := filepath.Join(t.TempDir(), "cache")
	url := "file://" + dir
	Run(t, env, "nix", "copy", "--to", url+"?compression="+compression, f.Root)
	if secretFile != "" {
		Run(t, env, "nix", "store", "sign", "--store", url, "--key-file", secretFile, "--recursive", f.Root)
	}
	return dir
}

// PathInfoJSON is one entry of `nix path-info --json`.
type PathInfoJSON struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    uint64   `json:"narSize"`
	References []string `json:"references"`
	Signatures []string `json:"signatures"`
	Deriver    string   `json:"deriver"`
	CA         string   `json:"ca"`
}

// PathInfo returns `nix path-info --json` data (path → narHash as Nix prints
// it, narSize, ...) for a store URL or directory; store "" means the default store.
func PathInfo(t testing.TB, env []string, store string, paths ...string) map[string]PathInfoJSON {
	t.Helper()
	args := []string{"path-info", "--json"}
	if store != "" {
		args = append(args, "--store", store)
	}
	out := Run(t, env, "nix", append(args, paths...)...)
	var infos []PathInfoJSON
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("parse nix path-info --json: %v\n%s", err, out)
	}
	m := make(map[string]PathInfoJSON, len(infos))
	for _, info := range infos {
		m[info.Path] = info
	}
	return m
}
