package upstream_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// putFile writes a file into a fake cache's folder.
func (c *fakeCache) putFile(t testing.TB, name string, content []byte) {
	t.Helper()
	p := filepath.Join(c.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetchFile(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, nil)
	reg := prometheus.NewRegistry()
	s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{Registerer: reg})
	u := s.Upstreams()[0]
	log := []byte("building\n" + strings.Repeat("x", 1000) + "\n")
	c.putFile(t, "log/abc-x.drv", log)
	c.srv.SetHeader("log/", "Content-Type", "text/plain; charset=utf-8")

	body, h, err := u.FetchFile(ctxTimeout(t, 10*time.Second), "log/abc-x.drv", 1<<20)
	if err != nil || !bytes.Equal(body, log) {
		t.Fatalf("FetchFile = %d bytes, %v; want the %d bytes of the file", len(body), err, len(log))
	}
	if got := h.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}

	for _, tc := range []struct {
		name, path string
		limit      int64
		want       error
	}{
		{"missing", "log/missing.drv", 1 << 20, fs.ErrNotExist},
		{"over the limit", "log/abc-x.drv", int64(len(log)) - 1, upstream.ErrTooLarge},
		{"absolute path", "/log/abc-x.drv", 1 << 20, upstream.ErrBadNARURL},
		{"dot dot", "log/../abc.ls", 1 << 20, upstream.ErrBadNARURL},
	} {
		_, _, err := u.FetchFile(ctxTimeout(t, 10*time.Second), tc.path, tc.limit)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: "log/", Times: 1})
	_, _, err = u.FetchFile(ctxTimeout(t, 10*time.Second), "log/abc-x.drv", 1<<20)
	var se *upstream.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusInternalServerError || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("500: err = %v, want a StatusError 500, not a miss", err)
	}
	labels := map[string]string{"upstream": c.srv.URL, "kind": "file"}
	if got := counterValue(t, reg, "private_nix_cache_upstream_errors_total", labels); got != 2 {
		t.Errorf("file errors metric = %v, want 2 (the 500 and the oversize; misses are no errors)", got)
	}
}

func TestFetchFileDecodes(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, nil)
	s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{})
	u := s.Upstreams()[0]
	text := []byte(strings.Repeat("a build log line\n", 4096))
	for _, enc := range []string{"gzip", "zstd", "br"} {
		name := "log/" + enc + ".drv"
		c.putFile(t, name, encode(t, enc, text))
		c.srv.SetHeader(name, "Content-Encoding", enc)
		body, h, err := u.FetchFile(ctxTimeout(t, 10*time.Second), name, int64(len(text)))
		if err != nil || !bytes.Equal(body, text) {
			t.Errorf("%s: %d bytes, %v; want the %d decoded bytes", enc, len(body), err, len(text))
			continue
		}
		if h.Get("Content-Encoding") != "" || h.Get("Content-Length") != "" {
			t.Errorf("%s: header still describes the encoded body: %v", enc, h)
		}
		// Small once encoded, too large once decoded: refused.
		_, _, err = u.FetchFile(ctxTimeout(t, 10*time.Second), name, int64(len(text))-1)
		if !errors.Is(err, upstream.ErrTooLarge) {
			t.Errorf("%s over the limit once decoded: err = %v, want too large", enc, err)
		}
	}
	c.putFile(t, "log/xz.drv", []byte("\xfd7zXZ\x00"))
	c.srv.SetHeader("log/xz.drv", "Content-Encoding", "xz")
	_, _, err := u.FetchFile(ctxTimeout(t, 10*time.Second), "log/xz.drv", 1<<20)
	if !errors.Is(err, upstream.ErrEncoding) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unknown encoding: err = %v, want an encoding error that is a miss", err)
	}
}

func encode(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	case "br":
		w = brotli.NewWriter(&buf)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSetFetchFileByPriority(t *testing.T) {
	best, other, s := twoUpstreams(t)
	best.putFile(t, "x.ls", []byte("best"))
	other.putFile(t, "x.ls", []byte("other"))
	other.putFile(t, "y.ls", []byte("other"))

	body, _, from, err := s.FetchFile(ctxTimeout(t, 10*time.Second), "x.ls", 1024)
	if err != nil || string(body) != "best" || from.Name() != best.srv.URL {
		t.Fatalf("FetchFile = %q from %v, %v; want the best upstream's", body, from, err)
	}
	if other.srv.Requests("x.ls") != 0 {
		t.Errorf("the worse upstream was asked although the best had the file")
	}
	body, _, from, err = s.FetchFile(ctxTimeout(t, 10*time.Second), "y.ls", 1024)
	if err != nil || string(body) != "other" || from.Name() != other.srv.URL {
		t.Fatalf("FetchFile = %q from %v, %v; want the other upstream's", body, from, err)
	}
	if _, _, _, err := s.FetchFile(ctxTimeout(t, 10*time.Second), "z.ls", 1024); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("missing everywhere: err = %v, want a plain miss", err)
	}
	best.putFile(t, "big.ls", bytes.Repeat([]byte("x"), 2048))
	if _, _, _, err := s.FetchFile(ctxTimeout(t, 10*time.Second), "big.ls", 1024); !errors.Is(err, upstream.ErrTooLarge) {
		t.Errorf("over the limit: err = %v, want too large", err)
	}
	best.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: "w.ls"})
	if _, _, _, err := s.FetchFile(ctxTimeout(t, 10*time.Second), "w.ls", 1024); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("500 on one, missing on the other: err = %v, want unavailable", err)
	}
}

func TestSetFetchFileBreaker(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	down := newFakeCache(t, key, nil)
	good := newFakeCache(t, key, nil)
	good.putFile(t, "x.ls", []byte("good"))
	s := newSet(t, []upstream.Config{{URL: down.srv.URL, Priority: 10}, {URL: good.srv.URL, Priority: 20}}, upstream.Options{})
	down.srv.Close() // refused connections

	for i := range 5 {
		body, _, from, err := s.FetchFile(ctxTimeout(t, 10*time.Second), "x.ls", 1024)
		if err != nil || string(body) != "good" || from.Name() != good.srv.URL {
			t.Fatalf("fetch %d = %q from %v, %v; want the good upstream's", i, body, from, err)
		}
	}
	// Three refused connections opened the down upstream's breaker: it is
	// skipped at once, and an answer that only it might have given is
	// unavailable, not a miss.
	_, _, err := s.Upstreams()[0].FetchFile(ctxTimeout(t, 10*time.Second), "x.ls", 1024)
	if !errors.Is(err, upstream.ErrUnavailable) || !strings.Contains(err.Error(), "backing off") {
		t.Errorf("down upstream: err = %v, want a back-off", err)
	}
	if _, _, _, err := s.FetchFile(ctxTimeout(t, 10*time.Second), "missing.ls", 1024); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("missing on the good one, down one backing off: err = %v, want unavailable", err)
	}
}
