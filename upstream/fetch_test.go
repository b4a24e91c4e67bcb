package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func TestFetchNARRange(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	content := bytes.Repeat([]byte("0123456789"), 5000)
	c := newFakeCache(t, key, map[string][]byte{"big": content})
	reg := prometheus.NewRegistry()
	s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{Trusted: []string{key.Public}, Registerer: reg})
	f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[0]))
	if err != nil {
		t.Fatal(err)
	}
	var read int64
	whole, err := os.ReadFile(filepath.Join(c.dir, f.NarInfo.URL))
	if err != nil {
		t.Fatal(err)
	}
	for _, offset := range []int64{0, 1, int64(len(whole)) / 2, int64(len(whole)) - 1} {
		body, size, err := f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), f.NarInfo.URL, offset)
		if err != nil {
			t.Fatalf("FetchNAR(offset %d): %v", offset, err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil {
			t.Fatal(err)
		}
		read += int64(len(got))
		if want := whole[offset:]; !bytes.Equal(got, want) || size != int64(len(want)) {
			t.Errorf("offset %d: got %d bytes (size %d), want %d", offset, len(got), size, len(want))
		}
	}

	_, _, err = f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), "nar/missing.nar.zst", 0)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing NAR: err = %v, want not-exist", err)
	}
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Times: 1})
	_, _, err = f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), f.NarInfo.URL, 0)
	var se *upstream.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusInternalServerError {
		t.Errorf("500: err = %v, want a StatusError 500", err)
	}
	labels := map[string]string{"upstream": c.srv.URL, "kind": "nar"}
	if got := counterValue(t, reg, "private_nix_cache_upstream_bytes_total", labels); got != float64(read) {
		t.Errorf("bytes metric = %v, want %d", got, read)
	}
	if got := counterValue(t, reg, "private_nix_cache_upstream_errors_total", labels); got != 1 {
		t.Errorf("NAR errors metric = %v, want 1 (the 500; a 404 is no error)", got)
	}
	// A query string is fine (harmonia's nar/<hash>.nar?hash=<hash part>).
	body, _, err := f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), f.NarInfo.URL+"?hash=x", 0)
	if err != nil {
		t.Fatalf("URL with query: %v", err)
	}
	body.Close()

	// An upstream that ignores the range sends the whole file: the bytes
	// before the offset are dropped.
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.IgnoreRange})
	offset := int64(len(whole)) / 3
	body, size, err := f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), f.NarInfo.URL, offset)
	if err != nil {
		t.Fatalf("FetchNAR(offset %d), range ignored: %v", offset, err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if want := whole[offset:]; err != nil || !bytes.Equal(got, want) || size != int64(len(want)) {
		t.Errorf("range ignored: got %d bytes (size %d, err %v), want %d", len(got), size, err, len(want))
	}
}

func TestFetchNARRefusesHostileURLs(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	s := newSet(t, []upstream.Config{{URL: srv.URL + "/cache", Priority: 1}}, upstream.Options{})
	u := s.Upstreams()[0]
	for _, narURL := range []string{
		"", "http://evil.example/x.nar", "https://evil.example/x", "//evil.example/x", "/etc/passwd",
		"../x.nar", "nar/../../x", "nar/./x", "nar//x", "nar/%2e%2e/x", "nar/%2E%2e%2fx", "file:///etc/passwd",
		"nar\\..\\x", "nar/x#frag", "nar/x y", "nar/x\n", "javascript:alert(1)", "nar/x:80",
		"..", ".", "nar/..%2f..%2fx",
	} {
		_, _, err := u.FetchNAR(context.Background(), narURL, 0)
		if !errors.Is(err, upstream.ErrBadNARURL) {
			t.Errorf("FetchNAR(%q): err = %v, want ErrBadNARURL", narURL, err)
		}
	}
	if hits != 0 {
		t.Errorf("%d requests were sent for refused URLs", hits)
	}
}

func TestFetchNARHeaders(t *testing.T) {
	type seen struct{ acceptEncoding, rangeHdr, auth string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Header.Get("Accept-Encoding"), r.Header.Get("Range"), r.Header.Get("Authorization")})
		mu.Unlock()
		switch r.URL.Path {
		case "/ignores-range":
			w.Write([]byte("whole body"))
			return
		case "/short-ignores-range":
			w.Write([]byte("abc"))
			return
		}
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("0123456789"))
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("  s3cret\n"), 0o600)
	// A transport that would normally ask for gzip.
	s := newSet(t, []upstream.Config{{URL: srv.URL, Priority: 1, TokenFile: tokenFile}}, upstream.Options{Transport: &http.Transport{}})
	u := s.Upstreams()[0]
	body, size, err := u.FetchNAR(context.Background(), "nar/x.nar", 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "456789" || size != 6 {
		t.Errorf("range body = %q (size %d), want %q (6)", b, size, "456789")
	}
	// A 200 answer to a range request is the whole file: the start is skipped.
	body, size, err = u.FetchNAR(context.Background(), "ignores-range", 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(body)
	body.Close()
	if string(b) != "e body" || size != 6 {
		t.Errorf("range ignored: body = %q (size %d), want %q (6)", b, size, "e body")
	}
	if _, _, err := u.FetchNAR(context.Background(), "short-ignores-range", 4); err == nil {
		t.Error("a whole file shorter than the offset was accepted")
	}
	want := seen{"", "bytes=4-", "Bearer s3cret"}
	for i, g := range got {
		if g != want {
			t.Errorf("request %d headers = %+v, want %+v", i, g, want)
		}
	}
}

func TestFetchNARHeaderTimeout(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
	s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{Trusted: []string{key.Public}, NARHeaderTimeout: 200 * time.Millisecond})
	f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[0]))
	if err != nil {
		t.Fatal(err)
	}
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Match: "nar/", Delay: time.Minute})
	_, _, err = f.Upstream.FetchNAR(ctxTimeout(t, 30*time.Second), f.NarInfo.URL, 0)
	if err == nil || !strings.Contains(err.Error(), "no response headers") {
		t.Errorf("err = %v, want a header timeout", err)
	}
	// A slow body is fine: only the headers have a deadline.
	c.srv.ClearFaults()
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.StallMidBody, Match: "nar/", Delay: 500 * time.Millisecond})
	readNAR(t, f)
}
