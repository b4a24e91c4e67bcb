package upstream_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// fakeCache is a synthetic cache served by a fake upstream.
type fakeCache struct {
	dir   string
	paths []string
	srv   *upstreamtest.Server
}

func newFakeCache(t testing.TB, key upstreamtest.Key, files map[string][]byte) *fakeCache {
	t.Helper()
	dir := t.TempDir()
	paths := upstreamtest.WriteCache(dir, key.Secret, files, "zstd")
	return &fakeCache{dir: dir, paths: paths, srv: upstreamtest.New(t, dir)}
}

// setPriority rewrites the cache's nix-cache-info priority.
func (c *fakeCache) setPriority(t testing.TB, p int) {
	t.Helper()
	ci := narinfo.CacheInfo{StoreDir: "/nix/store", WantMassQuery: true, Priority: p}
	if err := os.WriteFile(filepath.Join(c.dir, "nix-cache-info"), ci.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hashPart(storePath string) string {
	return strings.TrimPrefix(storePath, "/nix/store/")[:32]
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newSet(t testing.TB, cfgs []upstream.Config, opts upstream.Options) *upstream.Set {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := upstream.New(cfgs, opts)
	if err != nil {
		t.Fatalf("upstream.New: %v", err)
	}
	return s
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// readNAR fetches and decompresses a zstd NAR and checks it against ni.
func readNAR(t testing.TB, f *upstream.Found) []byte {
	t.Helper()
	body, _, err := f.Upstream.FetchNAR(ctxTimeout(t, 30*time.Second), f.NarInfo.URL, 0)
	if err != nil {
		t.Fatalf("FetchNAR: %v", err)
	}
	defer body.Close()
	var r io.Reader = body
	if f.NarInfo.Compression == "zstd" {
		d, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r = d
	}
	nar, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read NAR: %v", err)
	}
	sum := sha256.Sum256(nar)
	if !bytes.Equal(sum[:], f.NarInfo.NarHash.Digest()) || uint64(len(nar)) != f.NarInfo.NarSize {
		t.Fatalf("NAR of %s does not match its narinfo", f.NarInfo.StorePath)
	}
	return nar
}

// counterValue reads one counter of a registry by name and labels; 0 when
// it was never incremented.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, _, err := promreg.Value(reg, name, labels)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
