package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// newXZMirrorFixture is newMirrorFixture with the closure exported as xz,
// as cache.nixos.org serves it.
func newXZMirrorFixture(t *testing.T) *mirrorFixture {
	t.Helper()
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 6 << 20})
	upSec, _, upPub := nixtest.Key(t, "upstream-xz-1")
	exported := fx.ExportCache(t, "xz", upSec)
	ourSec, _, ourPub := nixtest.Key(t, "mirror-xz-1")
	return &mirrorFixture{
		fx: fx, up: upstreamtest.New(t, exported), upPub: upPub,
		ourSec: ourSec, ourPub: ourPub, cacheDir: t.TempDir(),
	}
}

// runVerify runs `verify` on dir and returns how many NARs it checked; it
// fails the test unless every one was good.
func runVerify(t *testing.T, dir string) int {
	t.Helper()
	out, err := exec.Command(binPath, "verify", "--cache-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`checked (\d+) NARs .*: 0 bad`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("verify: %s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// narFiles lists the stored NAR files of dir ending in ext.
func narFiles(dir, ext string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "nar", "*", "*"+ext))
	return files
}

// TestMirrorReencodeCrashSafety kills the server while it downloads and
// re-encodes xz NARs: after a restart every stored file verifies and no
// temp file is left; then Nix substitutes the closure, the narinfos come
// to name zstd files, and verify checks those too.
func TestMirrorReencodeCrashSafety(t *testing.T) {
	m := newXZMirrorFixture(t)
	m.up.SetRate(1 << 20) // the big NAR takes a few seconds
	p := m.start(t)
	var wg sync.WaitGroup
	for _, path := range m.fx.Paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(mirrorNARURL(t, p.url(), path))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	waitFor(t, func() bool { return len(narFiles(m.cacheDir, ".zst")) > 0 })
	p.kill()
	wg.Wait()
	runVerify(t, m.cacheDir)
	if left, _ := os.ReadDir(filepath.Join(m.cacheDir, "tmp")); len(left) != 0 {
		t.Errorf("temp files left after verify: %d", len(left))
	}

	m.up.SetRate(0)
	p = m.start(t)
	m.copyAndCompare(t, p.url(), m.ourPub)
	waitFor(t, func() bool {
		for _, path := range m.fx.Paths {
			if u := mirrorNARURL(t, p.url(), path); !strings.HasSuffix(u, ".nar.zst") {
				return false
			}
		}
		return true
	})
	m.copyAndCompare(t, p.url(), m.upPub) // zstd now, the upstream's signatures still valid
	p.stop()
	zst := narFiles(m.cacheDir, ".zst")
	if len(zst) < len(m.fx.Paths) {
		t.Fatalf("%d zstd files for %d paths", len(zst), len(m.fx.Paths))
	}
	if n := runVerify(t, m.cacheDir); n < len(zst) {
		t.Errorf("verify checked %d NARs, %d of them zstd", n, len(zst))
	}
}
