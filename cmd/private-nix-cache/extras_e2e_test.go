package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// TestMirrorExtrasWithNix serves the listing and the build log of mirrored
// paths, the upstream being a cache Nix wrote with its listings
// (write-nar-listing) and a log kept gzip-encoded, as binary caches keep
// them. Nix 2.8's `nix log` asks for the narinfo (its Deriver) and then
// log/<drv>; its `nix store ls` reads the NAR, not the listing, which
// tools such as nix-index fetch: the listing is checked against the one
// Nix wrote.
func TestMirrorExtrasWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{})
	env := nixtest.Env(t)
	upSec, _, upPub := nixtest.Key(t, "upstream-test-1")
	dir := filepath.Join(t.TempDir(), "cache")
	url := "file://" + dir
	nixtest.Run(t, env, "nix", "copy", "--to", url+"?compression=zstd&write-nar-listing=true", fx.Root)
	nixtest.Run(t, env, "nix", "store", "sign", "--store", url, "--key-file", upSec, "--recursive", fx.Root)
	drv := filepath.Base(nixtest.Run(t, env, "nix-store", "--query", "--deriver", fx.Dir))
	var log bytes.Buffer
	zw := gzip.NewWriter(&log)
	zw.Write([]byte("mirrored build log\n"))
	zw.Close()
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log", drv), log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	up := upstreamtest.New(t, dir)
	up.SetHeader("/log/", "Content-Encoding", "gzip")
	up.SetHeader("/log/", "Content-Type", "text/plain; charset=utf-8")

	p := start(t, "serve", "--listen", "127.0.0.1:0", "--local-store", "false", "--access-log",
		"--upstream", up.URL, "--trusted-public-key", upPub, "--cache-dir", t.TempDir())

	t.Run("nix store ls", func(t *testing.T) {
		out := nixtest.Run(t, env, "nix", "store", "ls", "--store", p.url(), "-lR", fx.Dir)
		for _, want := range []string{"hello", "README", "link ->"} {
			if !strings.Contains(out, want) {
				t.Errorf("nix store ls printed %q, want %q in it", out, want)
			}
		}
	})
	t.Run("listing", func(t *testing.T) {
		hash := strings.SplitN(filepath.Base(fx.Dir), "-", 2)[0]
		want, err := os.ReadFile(filepath.Join(dir, hash+".ls"))
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, p.url()+"/"+hash+".ls", ""); !bytes.Equal(got, want) {
			t.Errorf("listing %q, want Nix's %q", got, want)
		}
	})
	t.Run("nix log", func(t *testing.T) {
		out := nixtest.Run(t, env, "nix", "log", "--store", p.url(), fx.Dir)
		if !strings.Contains(out, "mirrored build log") {
			t.Errorf("nix log printed %q", out)
		}
		// Decoded here: any client reads it as text, asking for no encoding.
		raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		resp, err := raw.Get(p.url() + "/log/" + drv)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || string(got) != "mirrored build log\n" || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET log/%s = %q (Content-Encoding %q), %v", drv, got, resp.Header.Get("Content-Encoding"), err)
		}
	})
}
