package upstreamtest_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// TestWriteCacheAcceptedByNix substitutes WriteCache's paths into a fresh
// store with Nix itself, which checks signatures, NarHash and NarSize.
func TestWriteCacheAcceptedByNix(t *testing.T) {
	nixtest.Require(t)
	sk, pk, err := signature.GenerateKeypair("writecache-test-1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"empty":        nil,
		"hello.txt":    []byte("hello\n"),
		"odd-size-bin": make([]byte, 12345),
	}
	for _, compression := range []string{"none", "zstd", "xz"} {
		t.Run(compression, func(t *testing.T) {
			dir := t.TempDir()
			paths := upstreamtest.WriteCache(dir, sk, files, compression)
			for _, via := range []string{"file", "http"} {
				env := nixtest.Env(t)
				src := "file://" + dir
				if via == "http" {
					src = upstreamtest.New(t, dir).URL
				}
				dst := filepath.Join(t.TempDir(), "store")
				args := append([]string{"copy", "--from", src, "--to", dst, "--option", "trusted-public-keys", pk.String()}, paths...)
				nixtest.Run(t, env, "nix", args...)
				got := nixtest.PathInfo(t, env, dst, paths...)
				for _, p := range paths {
					ni, err := narinfo.ParseBytes(mustRead(t, filepath.Join(dir, p[len("/nix/store/"):][:32]+".narinfo")))
					if err != nil {
						t.Fatal(err)
					}
					if got[p].NarSize != ni.NarSize {
						t.Errorf("%s via %s: nix says narSize %d, narinfo %d", p, via, got[p].NarSize, ni.NarSize)
					}
				}
				nixtest.Run(t, env, "nix", "store", "verify", "--store", dst, "--no-trust", "--sigs-needed", "0", "--all")
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
