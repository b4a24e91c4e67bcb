package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// addRealBinaries adds a copy of the Go toolchain's binaries to the Nix
// store and to the chroot store, for compression to work on typical
// store contents; it returns the store path.
func addRealBinaries(t *testing.T, store string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "go-tool-binaries")
	env := nixtest.Env(t)
	nixtest.Run(t, env, "cp", "-a", filepath.Join(runtime.GOROOT(), "pkg", "tool"), src)
	path := nixtest.Run(t, env, "nix-store", "--add", src)
	nixtest.Run(t, env, "nix", "copy", "--no-check-sigs", "--to", store, path)
	return path
}

// TestLocalCompressionWithNix substitutes a closure with the real Nix
// client, signatures required, with local NARs zstd-compressed and not,
// and reports the bytes on the wire and the time of each.
func TestLocalCompressionWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 12 << 20})
	store := fx.ChrootStore(t)
	real := addRealBinaries(t, store)
	sec, _, pub := nixtest.Key(t, "bastion-test-1")
	paths := append([]string{real}, fx.Paths...)

	wire := map[string]int64{}
	for _, comp := range []string{"zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			p := start(t, "serve", "--listen", "127.0.0.1:0", "--store-root", store, "--local-store", "true",
				"--secret-key-file", sec, "--upstream", "none", "--local-compression", comp)
			px := newCutProxy(t, p.addr, 0)
			env := nixtest.Env(t)
			dst := t.TempDir()
			begin := time.Now()
			nixtest.Run(t, env, "nix", "copy", "--from", px.url(), "--to", dst,
				"--option", "trusted-public-keys", pub, fx.Root, real)
			elapsed := time.Since(begin)
			checkArrived(t, env, store, dst, paths)
			nixtest.Run(t, env, "nix", "store", "verify", "--store", dst,
				"--option", "trusted-public-keys", pub, "-r", fx.Root, real)

			ni := string(get(t, p.url()+"/"+hashOf(real)+".narinfo", ""))
			if !strings.Contains(ni, "Compression: "+comp+"\n") || strings.Contains(ni, "FileHash") {
				t.Errorf("narinfo with --local-compression %s:\n%s", comp, ni)
			}
			if got := strings.HasSuffix(narURL(t, p.url(), real), ".nar.zst"); got != (comp == "zstd") {
				t.Errorf("NAR URL of %s in a %s narinfo", narURL(t, p.url(), real), comp)
			}
			wire[comp] = px.wire.Load()
			t.Logf("%s: %d bytes on the wire, nix copy took %v", comp, wire[comp], elapsed)
		})
	}
	if wire["zstd"] > 0 {
		t.Logf("none/zstd: %.2f× the bytes", float64(wire["none"])/float64(wire["zstd"]))
	}
}

// TestLocalNARCutWithNix cuts the first NAR response, as a broken link
// would. The uncompressed NAR offers Range and Nix 2.8 resumes it where it
// broke off. The zstd stream offers none, so Nix never asks for a range of
// it: cut mid-body, that copy fails, cleanly (nothing is added), and the
// next one succeeds. Cut within the headers, Nix 2.8 fails the copy
// whatever the compression ("coroutine has finished"), just as cleanly.
func TestLocalNARCutWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 12 << 20})
	store := fx.ChrootStore(t)
	sec, _, pub := nixtest.Key(t, "bastion-test-1")
	for _, tc := range []struct {
		name, comp string
		cutAfter   int64 // bytes of the response, headers included
		resumed    bool  // Nix asks for the rest with Range
		survives   bool  // the first nix copy succeeds
	}{
		{"none mid-body", "none", 64 << 10, true, true},
		{"zstd in headers", "zstd", 100, false, false},
		{"none in headers", "none", 100, false, false},
		{"zstd mid-body", "zstd", 64 << 10, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, "serve", "--listen", "127.0.0.1:0", "--store-root", store, "--local-store", "true",
				"--secret-key-file", sec, "--upstream", "none", "--local-compression", tc.comp)
			px := newCutProxy(t, p.addr, tc.cutAfter)
			env := nixtest.Env(t)
			dst := t.TempDir()
			copyBig := func() ([]byte, error) {
				return command(env, "nix", "copy", "--from", px.url(), "--to", dst,
					"--option", "trusted-public-keys", pub, fx.Big).CombinedOutput()
			}
			out, err := copyBig()
			if !px.cut.Load() {
				t.Fatal("the proxy cut nothing")
			}
			reqs := strings.ToLower(px.requests())
			t.Logf("nix copy: %v\n%s", err, out)
			if ranged := strings.Contains(reqs, "range: bytes="); ranged != tc.resumed {
				t.Errorf("Nix asked for a range: %v, want %v; requests:\n%s", ranged, tc.resumed, reqs)
			}
			if gets := strings.Count(reqs, "get /nar/"); gets != 2 && err == nil {
				t.Errorf("%d NAR requests, want the cut one and one more", gets)
			}
			if (err == nil) != tc.survives {
				t.Fatalf("first nix copy: err %v, want success %v", err, tc.survives)
			}
			if err != nil {
				if command(env, "nix", "path-info", "--store", dst, fx.Big).Run() == nil {
					t.Fatal("a failed copy left the path behind")
				}
				if out, err := copyBig(); err != nil {
					t.Fatalf("nix copy again: %v\n%s", err, out)
				}
			}
			checkArrived(t, env, store, dst, []string{fx.Big})
		})
	}
}

func checkArrived(t *testing.T, env []string, store, dst string, paths []string) {
	t.Helper()
	want := nixtest.PathInfo(t, env, store, paths...)
	got := nixtest.PathInfo(t, env, dst, paths...)
	for path, w := range want {
		g, ok := got[path]
		if !ok {
			t.Errorf("%s did not arrive", path)
			continue
		}
		if g.NarHash != w.NarHash || g.NarSize != w.NarSize {
			t.Errorf("%s: got %s/%d, want %s/%d", path, g.NarHash, g.NarSize, w.NarHash, w.NarSize)
		}
	}
}

func hashOf(storePath string) string {
	return strings.SplitN(filepath.Base(storePath), "-", 2)[0]
}
