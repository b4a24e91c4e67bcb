package s3

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// TestNixReadsBucket uploads a real signed closure through the Store and
// has Nix 2.8 substitute it from the bucket. Debian's Nix 2.8 is built
// without S3 support (it refuses s3:// store URLs), so the bucket is read
// the way a static HTTP server in front of it serves it: versitygw's posix
// backend keeps each object as a plain file under DIR/BUCKET.
func TestNixReadsBucket(t *testing.T) {
	fx := nixtest.Build(t, nixtest.Options{})
	secret, _, publicKey := nixtest.Key(t, "s3-test")
	exported := fx.ExportCache(t, "none", secret)
	g := startGateway(t)
	opts := g.newBucket(t)
	s := openStore(t, opts)

	names, err := filepath.Glob(filepath.Join(exported, "*.narinfo"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no narinfos exported: %v", err)
	}
	for _, name := range names {
		uploadExported(t, s, exported, name)
	}

	bucketDir := filepath.Join(g.dir, opts.Bucket)
	srv := httptest.NewServer(http.FileServer(http.Dir(bucketDir)))
	defer srv.Close()
	dst := nixtest.TempDir(t)
	env := nixtest.Env(t)
	nixtest.Run(t, env, "nix", "copy", "--from", srv.URL, "--to", dst,
		"--option", "trusted-public-keys", publicKey, fx.Root)
	nixtest.Run(t, env, "nix", "store", "verify", "--store", dst, "--recursive",
		"--option", "trusted-public-keys", publicKey, fx.Root)
	if got := nixtest.PathInfo(t, env, dst, fx.Big)[fx.Big]; got.NarSize == 0 {
		t.Errorf("the big path is not in the store copied from the bucket")
	}
}

// uploadExported puts one narinfo of a file:// cache and its NAR file
// through the Store, in the order the Store wants: the file first.
func uploadExported(t *testing.T, s *Store, exported, narInfoFile string) {
	t.Helper()
	raw, err := os.ReadFile(narInfoFile)
	if err != nil {
		t.Fatal(err)
	}
	ni, err := narinfo.ParseBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := strings.CutPrefix(ni.URL, narPrefix)
	if !ok || !validKey(key) {
		t.Fatalf("exported NAR URL %q", ni.URL)
	}
	f, err := os.Open(filepath.Join(exported, ni.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := s.CreateFile(key)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	if _, err := f.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNarInfo(cache.NarInfoEntry{NarInfo: ni, Key: key, Upstream: "nix-copy"}); err != nil {
		t.Fatal(err)
	}
	e, err := s.NarInfo(ni.HashPart())
	if err != nil || e.Key != key || e.Upstream != "nix-copy" {
		t.Fatalf("NarInfo back: %+v, %v", e, err)
	}
}
