package mirror

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/fill"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/server"
	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// env is a mirror in front of fake upstreams, served on loopback by the
// real server.
type env struct {
	t       testing.TB
	upKey   upstreamtest.Key
	ourKey  upstreamtest.Key
	dir     string // the synthetic upstream cache
	paths   []string
	ups     []*upstreamtest.Server
	cache   *disk.Cache
	fill    *fill.Cache
	mirror  *Mirror
	srv     *httptest.Server
	cacheOp disk.Options
}

type envOptions struct {
	files       map[string][]byte
	compression string // default zstd
	upstreams   int    // default 1
	cache       disk.Options
	fill        fill.Options // StallTimeout: 1s unless set
	noResign    bool
	// prepare may edit the upstream cache folder before serving.
	prepare func(dir string)
	// dir, when set, is an upstream cache folder to serve instead of one
	// written from files, signed by upstreamPublicKey.
	dir               string
	upstreamPublicKey string
	// upstreamDirs, when set, gives upstream i the cache folder
	// upstreamDirs[i] instead of dir.
	upstreamDirs []string
	// narHeaderTimeout is the upstreams' NARHeaderTimeout; default 1s.
	narHeaderTimeout time.Duration
	// recompress is Config.Recompress; default off.
	recompress string
}

func newEnvFromDir(t testing.TB, dir, publicKey string) *env {
	return newEnv(t, envOptions{dir: dir, upstreamPublicKey: publicKey})
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.compression == "" {
		o.compression = "zstd"
	}
	if o.upstreams == 0 {
		o.upstreams = 1
	}
	e := &env{t: t, upKey: upstreamtest.NewKey(t, "upstream-test-1"), ourKey: upstreamtest.NewKey(t, "ours-1"), dir: o.dir}
	if e.dir == "" {
		e.dir = t.TempDir()
		e.paths = upstreamtest.WriteCache(e.dir, e.upKey.Secret, o.files, o.compression)
	}
	if o.upstreamPublicKey != "" {
		e.upKey.Public = o.upstreamPublicKey
	}
	if o.prepare != nil {
		o.prepare(e.dir)
	}
	var cfgs []upstream.Config
	for i := range o.upstreams {
		dir := e.dir
		if i < len(o.upstreamDirs) {
			dir = o.upstreamDirs[i]
		}
		s := upstreamtest.New(t, dir)
		e.ups = append(e.ups, s)
		cfgs = append(cfgs, upstream.Config{URL: s.URL, PublicKeys: []string{e.upKey.Public}})
	}
	if o.narHeaderTimeout == 0 {
		o.narHeaderTimeout = time.Second
	}
	set, err := upstream.New(cfgs, upstream.Options{
		Logger: testLogger(t), LookupTimeout: 2 * time.Second, NARHeaderTimeout: o.narHeaderTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	copts := o.cache
	if copts.Dir == "" {
		copts.Dir = t.TempDir()
	}
	fopts := o.fill
	if fopts.StallTimeout == 0 {
		fopts.StallTimeout = time.Second
	}
	copts.Logger = testLogger(t)
	fopts.Logger = copts.Logger
	e.cacheOp = copts
	e.cache, err = disk.Open(copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cache.Close() })
	e.fill = fill.New(e.cache, fopts)
	t.Cleanup(func() { e.fill.Close() })
	e.mirror, err = New(Config{
		Cache: e.cache, Fill: e.fill, Upstreams: set, Keys: []signature.SecretKey{e.ourKey.Secret},
		Resign: !o.noResign, Logger: testLogger(t), Recompress: o.recompress,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.mirror.Close() })
	e.srv = httptest.NewServer(server.New(server.Options{Mirror: e.mirror, Logger: testLogger(t)}))
	t.Cleanup(e.srv.Close)
	return e
}

func hashPart(storePath string) string {
	return strings.TrimPrefix(storePath, "/nix/store/")[:32]
}

// upstreamNarInfo reads a narinfo of the synthetic upstream cache.
func (e *env) upstreamNarInfo(storePath string) *narinfo.NarInfo {
	e.t.Helper()
	b, err := os.ReadFile(e.dir + "/" + hashPart(storePath) + ".narinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	ni, err := narinfo.ParseBytes(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return ni
}

// upstreamFile returns the NAR file the upstream serves for a path.
func (e *env) upstreamFile(storePath string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(e.dir + "/" + e.upstreamNarInfo(storePath).URL)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) get(path string) (*http.Response, []byte, error) {
	return e.getCtx(context.Background(), path)
}

func (e *env) getCtx(ctx context.Context, path string) (*http.Response, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/"+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// narInfo fetches and parses a narinfo through the mirror.
func (e *env) narInfo(storePath string) *narinfo.NarInfo {
	e.t.Helper()
	resp, body, err := e.get(hashPart(storePath) + ".narinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("narinfo %s: %s: %s", storePath, resp.Status, body)
	}
	ni, err := narinfo.ParseBytes(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return ni
}

// waitStored waits until the NAR file key is committed in the cache.
func (e *env) waitStored(key string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := e.fill.OpenNAR(context.Background(), key, nil)
		if err == nil {
			n.Close()
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never stored", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stripFileHashes removes FileHash and FileSize from every narinfo of a
// cache folder, as caches that compress on the fly serve them.
func stripFileHashes(t testing.TB, dir string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if !strings.HasPrefix(line, "FileHash: ") && !strings.HasPrefix(line, "FileSize: ") {
				out = append(out, line)
			}
		}
		if err := os.WriteFile(name, []byte(strings.Join(out, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func upstreamFaultCorrupt() upstreamtest.Fault {
	return upstreamtest.Fault{Kind: upstreamtest.Corrupt, Match: "/nar/"}
}

// checkStored waits for key to be stored and checks its bytes.
func (e *env) checkStored(key string, want []byte) {
	e.t.Helper()
	e.waitStored(key)
	n, err := e.fill.OpenNAR(context.Background(), key, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer n.Close()
	if stored, err := io.ReadAll(n.File()); err != nil || !bytes.Equal(stored, want) {
		e.t.Fatalf("stored %d bytes, want %d: %v", len(stored), len(want), err)
	}
}
