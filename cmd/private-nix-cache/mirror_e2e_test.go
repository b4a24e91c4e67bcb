package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// mirrorFixture is a closure exported by Nix as a signed zstd binary cache,
// served by a fake upstream.
type mirrorFixture struct {
	fx       *nixtest.Fixture
	up       *upstreamtest.Server
	upPub    string
	ourSec   string
	ourPub   string
	cacheDir string
}

func newMirrorFixture(t *testing.T) *mirrorFixture {
	t.Helper()
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 12 << 20})
	upSec, _, upPub := nixtest.Key(t, "upstream-test-1")
	exported := fx.ExportCache(t, "zstd", upSec)
	ourSec, _, ourPub := nixtest.Key(t, "mirror-test-1")
	return &mirrorFixture{
		fx: fx, up: upstreamtest.New(t, exported), upPub: upPub,
		ourSec: ourSec, ourPub: ourPub, cacheDir: t.TempDir(),
	}
}

func (m *mirrorFixture) start(t *testing.T, extra ...string) *proc {
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--local-store", "false",
		"--upstream", m.up.URL, "--trusted-public-key", m.upPub,
		"--cache-dir", m.cacheDir, "--secret-key-file", m.ourSec}, extra...)
	return start(t, args...)
}

// copyAndCompare substitutes the closure through url trusting only key and
// checks every path arrived with the NAR hash Nix recorded when building.
func (m *mirrorFixture) copyAndCompare(t *testing.T, url, key string) {
	t.Helper()
	env := nixtest.Env(t)
	dst := t.TempDir()
	nixtest.Run(t, env, "nix", "copy", "--from", url, "--to", dst,
		"--option", "trusted-public-keys", key, m.fx.Root)
	want := nixtest.PathInfo(t, env, "", m.fx.Paths...)
	if len(want) != len(m.fx.Paths) {
		t.Fatalf("path-info of the built closure: %d of %d paths", len(want), len(m.fx.Paths))
	}
	got := nixtest.PathInfo(t, env, dst, m.fx.Paths...)
	for path, w := range want {
		if g := got[path]; g.NarHash != w.NarHash || g.NarSize != w.NarSize {
			t.Errorf("%s: got %s/%d, want %s/%d", path, g.NarHash, g.NarSize, w.NarHash, w.NarSize)
		}
	}
	nixtest.Run(t, env, "nix", "store", "verify", "--store", dst,
		"--option", "trusted-public-keys", key, "-r", m.fx.Root)
}

// TestMirrorWithNix substitutes through the mirror with the real client:
// trusting the upstream's key (pass-through), trusting only ours
// (re-signed), and again with the upstream gone, from the cache.
func TestMirrorWithNix(t *testing.T) {
	m := newMirrorFixture(t)
	p := m.start(t)
	t.Run("pass-through", func(t *testing.T) { m.copyAndCompare(t, p.url(), m.upPub) })
	t.Run("re-signed", func(t *testing.T) { m.copyAndCompare(t, p.url(), m.ourPub) })
	narRequests := m.up.Requests("/nar/")
	m.up.Close()
	t.Run("upstream gone", func(t *testing.T) { m.copyAndCompare(t, p.url(), m.ourPub) })
	if n := len(m.fx.Paths); narRequests != n {
		t.Errorf("upstream saw %d NAR requests for %d paths: want one each", narRequests, n)
	}
}

// TestMirrorCrashSafety kills the server during fills and checks that what
// the cache kept after a restart all verifies.
func TestMirrorCrashSafety(t *testing.T) {
	m := newMirrorFixture(t)
	m.up.SetRate(2 << 20) // the big NAR (~6 MB compressed) takes ~3 s
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
	// Kill once some NARs are committed and the big one is still filling.
	waitFor(t, func() bool { return countFiles(filepath.Join(m.cacheDir, "nar")) > 0 })
	time.Sleep(300 * time.Millisecond)
	p.kill()
	wg.Wait()

	out, err := exec.Command(binPath, "verify", "--cache-dir", m.cacheDir).CombinedOutput()
	if err != nil {
		t.Fatalf("verify after a crash: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " 0 bad") {
		t.Errorf("verify: %s", out)
	}

	m.up.SetRate(0)
	p = m.start(t)
	m.copyAndCompare(t, p.url(), m.ourPub)
}

// TestUpstreamDown: the health check answers and a lookup fails fast.
func TestUpstreamDown(t *testing.T) {
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--local-store", "false",
		"--upstream", "http://127.0.0.1:1", "--cache-dir", t.TempDir())
	if b := get(t, p.url()+"/nix-cache-info", ""); !strings.Contains(string(b), "StoreDir: /nix/store") {
		t.Errorf("nix-cache-info: %q", b)
	}
	resp, err := http.Get(p.url() + "/" + strings.Repeat("0", 32) + ".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("narinfo with the upstream down: %s, want 404", resp.Status)
	}
}

// mirrorNARURL asks our server for the narinfo of path and returns its NAR URL.
func mirrorNARURL(t *testing.T, base, path string) string {
	hash := strings.SplitN(filepath.Base(path), "-", 2)[0]
	resp, err := http.Get(base + "/" + hash + ".narinfo")
	if err != nil {
		return base + "/nar/none"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if u, ok := strings.CutPrefix(line, "URL: "); ok {
			return base + "/" + u
		}
	}
	return base + "/nar/none"
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 20s")
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
