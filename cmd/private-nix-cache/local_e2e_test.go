package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// TestLocalStoreWithNix substitutes a whole closure from a served chroot
// store with the real Nix client, signatures required.
func TestLocalStoreWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 12 << 20})
	store := fx.ChrootStore(t)
	sec, _, pub := nixtest.Key(t, "bastion-test-1")
	copyLog(t, fx, store)

	p := start(t, "serve", "--listen", "127.0.0.1:0", "--store-root", store,
		"--local-store", "true", "--secret-key-file", sec, "--upstream", "none")

	env := nixtest.Env(t)
	dst := t.TempDir()
	nixtest.Run(t, env, "nix", "copy", "--from", p.url(), "--to", dst,
		"--option", "trusted-public-keys", pub, fx.Root)

	want := nixtest.PathInfo(t, env, store, fx.Paths...)
	got := nixtest.PathInfo(t, env, dst, fx.Paths...)
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
	nixtest.Run(t, env, "nix", "store", "verify", "--store", dst,
		"--option", "trusted-public-keys", pub, "-r", fx.Root)

	t.Run("wrong key refused", func(t *testing.T) {
		_, _, other := nixtest.Key(t, "other-1")
		cmd := command(env, "nix", "copy", "--from", p.url(), "--to", t.TempDir(),
			"--option", "trusted-public-keys", other, fx.Root)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("copy with an untrusted key succeeded:\n%s", out)
		}
	})

	t.Run("nix log", func(t *testing.T) {
		out := nixtest.Run(t, env, "nix", "log", "--store", p.url(), fx.Root)
		if !strings.Contains(out, "fixture build log") {
			t.Errorf("nix log printed %q", out)
		}
	})

	t.Run("range resume", func(t *testing.T) {
		// The uncompressed form, which offers Range, of the announced URL.
		url := strings.TrimSuffix(narURL(t, p.url(), fx.Big), ".zst")
		full := get(t, url, "")
		tail := get(t, url, "bytes=1000000-")
		if !bytes.Equal(tail, full[1000000:]) {
			t.Fatalf("resumed bytes differ: %d vs %d", len(tail), len(full)-1000000)
		}
	})
}

// copyLog writes a known build log for the root's derivation into the
// chroot store, as Nix keeps them, bzip2-compressed.
func copyLog(t *testing.T, fx *nixtest.Fixture, store string) {
	t.Helper()
	drv := nixtest.Run(t, nixtest.Env(t), "nix-store", "--query", "--deriver", fx.Root)
	base := filepath.Base(drv)
	dir := filepath.Join(store, "nix/var/log/nix/drvs", base[:2])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, base[2:])
	if err := os.WriteFile(plain, []byte("fixture build log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nixtest.Run(t, nil, "bzip2", plain)
}

func narURL(t *testing.T, base, storePath string) string {
	t.Helper()
	hash := strings.SplitN(filepath.Base(storePath), "-", 2)[0]
	for _, line := range strings.Split(string(get(t, base+"/"+hash+".narinfo", "")), "\n") {
		if u, ok := strings.CutPrefix(line, "URL: "); ok {
			return base + "/" + u
		}
	}
	t.Fatalf("no URL in the narinfo of %s", storePath)
	return ""
}

func get(t *testing.T, url, rng string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := http.StatusOK
	if rng != "" {
		want = http.StatusPartialContent
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s (%s): %s", url, rng, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func command(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return cmd
}
