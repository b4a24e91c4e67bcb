package upstream_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// padNarInfo rewrites the narinfo of storePath in dir to total bytes, with
// the padding in the given field (an unknown key, or one no signature
// covers), so that its signature still verifies.
func padNarInfo(t *testing.T, dir, storePath, key string, total int) {
	t.Helper()
	p := filepath.Join(dir, hashPart(storePath)+".narinfo")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	line := key + ": "
	n := total - len(b) - len(line) - 1
	if n < 0 {
		t.Fatalf("narinfo already %d bytes, over %d", len(b), total)
	}
	b = append(b, line+strings.Repeat("x", n)+"\n"...)
	if len(b) != total {
		t.Fatalf("padded to %d bytes, want %d", len(b), total)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPaddedNarInfos(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n"), "c": []byte("c\n"), "d": []byte("d\n")})
	s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{Trusted: []string{key.Public}})
	padNarInfo(t, c.dir, c.paths[0], "Padding", upstream.MaxNarInfoSize)
	padNarInfo(t, c.dir, c.paths[1], "Padding", upstream.MaxNarInfoSize+1)
	padNarInfo(t, c.dir, c.paths[2], "System", 2*upstream.MaxUnsignedNarInfoSize)

	f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[0]))
	if err != nil {
		t.Fatalf("narinfo of exactly the limit: %v", err)
	}
	if got := len(f.NarInfo.Bytes()); got > 1024 {
		t.Errorf("narinfo kept %d bytes of padding: unknown keys must go", got)
	}
	for _, p := range c.paths[1:3] {
		_, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(p))
		if !errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("padded narinfo %s: err = %v, want a bad answer (unavailable, not a miss to remember)", p, err)
		}
	}
	// A refused answer says nothing against the upstream.
	if _, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[3])); err != nil {
		t.Errorf("lookup after refused narinfos: %v", err)
	}
}

// One NAR failing again and again (503, a redirect loop) must not make the
// upstream skip the lookups of other paths.
func TestFailingNARDoesNotShutOffUpstream(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	files := map[string][]byte{}
	for i := range 12 {
		files[fmt.Sprint("p", i)] = []byte(fmt.Sprint("payload ", i, "\n"))
	}
	c := newFakeCache(t, key, files)
	loopDir := http.FileServer(http.Dir(c.dir))
	var loops atomic.Int64
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/nar/") {
			loops.Add(1)
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
			return
		}
		loopDir.ServeHTTP(w, r)
	}))
	t.Cleanup(redirecting.Close)

	for _, tt := range []struct {
		name string
		url  string
		hit  func() int64 // upstream requests so far
	}{
		{"503", c.srv.URL, func() int64 { return int64(c.srv.Requests(".narinfo")) }},
		{"redirect loop", redirecting.URL, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSet(t, []upstream.Config{{URL: tt.url, Priority: 1}}, upstream.Options{Trusted: []string{key.Public}})
			f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[0]))
			if err != nil {
				t.Fatal(err)
			}
			c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: f.NarInfo.URL})
			t.Cleanup(c.srv.ClearFaults)
			for i, p := range c.paths[1:] {
				_, _, err := f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), f.NarInfo.URL, 0)
				if err == nil {
					t.Fatal("FetchNAR of the failing NAR succeeded")
				}
				if errors.Is(err, upstream.ErrUnavailable) {
					t.Fatalf("fetch %d of the failing NAR skipped: %v", i, err)
				}
				var before int64
				if tt.hit != nil {
					before = tt.hit()
				}
				if _, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(p)); err != nil {
					t.Fatalf("lookup %d of another path after the NAR failed: %v", i, err)
				}
				if tt.hit != nil && tt.hit() == before {
					t.Fatalf("lookup %d did not reach the upstream", i)
				}
			}
		})
	}
	if loops.Load() == 0 {
		t.Error("the redirect loop was never followed")
	}
}

// blackHole accepts connections and never answers; it counts them.
func blackHole(t *testing.T) (url string, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return "http://" + l.Addr().String(), accepted
}

func TestBlackHoleNARsFailFast(t *testing.T) {
	url, accepted := blackHole(t)
	key := upstreamtest.NewKey(t, "test-1")
	s := newSet(t, []upstream.Config{{URL: url, Priority: 1}},
		upstream.Options{Trusted: []string{key.Public}, NARHeaderTimeout: 50 * time.Millisecond})
	u := s.Upstreams()[0]
	narURL := "nar/" + strings.Repeat("0", 52) + ".nar.zst"
	for i := range 3 {
		_, _, err := u.FetchNAR(ctxTimeout(t, 10*time.Second), narURL, 0)
		if !errors.Is(err, upstream.ErrTimeout) || errors.Is(err, upstream.ErrUnavailable) {
			t.Fatalf("fetch %d: err = %v, want a header timeout", i, err)
		}
	}
	// The upstream is now backing off: no more connections, still a timeout.
	before := accepted.Load()
	_, _, err := u.FetchNAR(ctxTimeout(t, 10*time.Second), narURL, 0)
	if !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, upstream.ErrTimeout) {
		t.Errorf("fetch while backing off: err = %v, want unavailable wrapping the timeout", err)
	}
	if _, err := s.Lookup(ctxTimeout(t, 10*time.Second), strings.Repeat("1", 32)); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("lookup while backing off: err = %v, want unavailable", err)
	}
	if got := accepted.Load(); got != before {
		t.Errorf("%d connections while backing off", got-before)
	}
}
