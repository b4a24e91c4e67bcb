package upstream_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func TestLookupAndFetch(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, map[string][]byte{"hello": []byte("hello world\n"), "empty": nil})
	s := newSet(t, []upstream.Config{{URL: c.srv.URL + "/", PublicKeys: []string{key.Public}}}, upstream.Options{})
	for _, p := range c.paths {
		f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(p))
		if err != nil {
			t.Fatalf("Lookup(%s): %v", p, err)
		}
		if got, want := f.NarInfo.StorePath, p; got != want {
			t.Errorf("StorePath = %q, want %q", got, want)
		}
		if got, want := f.Upstream.Name(), c.srv.URL; got != want {
			t.Errorf("Upstream = %q, want %q", got, want)
		}
		readNAR(t, f)
	}
	if got, want := s.Upstreams()[0].Priority(), upstreamtest.CachePriority; got != want {
		t.Errorf("Priority() = %d, want %d (from nix-cache-info)", got, want)
	}
	if got := c.srv.Requests("nix-cache-info"); got != 1 {
		t.Errorf("nix-cache-info fetched %d times, want 1", got)
	}
}

func TestLookupClassification(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	files := map[string][]byte{"a": []byte("a\n")}
	tests := []struct {
		name   string
		faults [2][]upstreamtest.Fault // for the two upstreams
		want   error                   // nil: found
	}{
		{"both have it", [2][]upstreamtest.Fault{}, nil},
		{"both 404", [2][]upstreamtest.Fault{{{Kind: upstreamtest.NotFound}}, {{Kind: upstreamtest.NotFound}}}, fs.ErrNotExist},
		{"404 and 500", [2][]upstreamtest.Fault{{{Kind: upstreamtest.NotFound}}, {{Kind: upstreamtest.ServerError}}}, upstream.ErrUnavailable},
		{"500 and found", [2][]upstreamtest.Fault{{{Kind: upstreamtest.ServerError}}, nil}, nil},
		{"404 and untrusted", [2][]upstreamtest.Fault{{{Kind: upstreamtest.NotFound}}, {{Kind: upstreamtest.UntrustedSig}}}, fs.ErrNotExist},
		{"untrusted and found", [2][]upstreamtest.Fault{{{Kind: upstreamtest.UntrustedSig}}, nil}, nil},
		{"timeout and 404", [2][]upstreamtest.Fault{{{Kind: upstreamtest.SlowFirstByte, Delay: time.Minute}}, {{Kind: upstreamtest.NotFound}}}, upstream.ErrTimeout},
		{"reset and 404", [2][]upstreamtest.Fault{{{Kind: upstreamtest.Reset}}, {{Kind: upstreamtest.NotFound}}}, upstream.ErrUnavailable},
		{"truncated narinfo and 404", [2][]upstreamtest.Fault{{{Kind: upstreamtest.Truncate}}, {{Kind: upstreamtest.NotFound}}}, upstream.ErrUnavailable},
		{"unknown fields and 404", [2][]upstreamtest.Fault{{{Kind: upstreamtest.UnknownFieldsHexHashes}}, {{Kind: upstreamtest.NotFound}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []upstream.Config
			var caches []*fakeCache
			for i := range 2 {
				c := newFakeCache(t, key, files)
				for _, f := range tt.faults[i] {
					f.Match = ".narinfo"
					c.srv.AddFault(f)
				}
				caches = append(caches, c)
				cfgs = append(cfgs, upstream.Config{URL: c.srv.URL, Priority: 10 + i})
			}
			s := newSet(t, cfgs, upstream.Options{Trusted: []string{key.Public}, LookupTimeout: 300 * time.Millisecond})
			f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(caches[0].paths[0]))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Lookup: %v, want found", err)
				}
				readNAR(t, f)
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Lookup error = %v, want %v", err, tt.want)
			}
			if errors.Is(err, fs.ErrNotExist) == errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("error %v must be exactly one of not-exist and unavailable", err)
			}
		})
	}
}

// A narinfo that does not parse (an empty 200 from a server going down, a
// body cut short) is a transient failure, never a miss.
func TestLookupMalformedNarInfoIsTransient(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	tests := []struct{ name, body string }{
		{"empty", ""},
		{"no StorePath", "URL: nar/x.nar\nNarHash: sha256:1wj2wa8hkb792q9qp6rck87315jldixjp7kaw1rz0r7sh09kwblx\nNarSize: 8\n"},
		{"binary", "\x28\xb5\x2f\xfd\x00\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
			hp := hashPart(c.paths[0])
			if err := os.WriteFile(filepath.Join(c.dir, hp+".narinfo"), []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{Trusted: []string{key.Public}})
			_, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp)
			if !errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Lookup error = %v, want unavailable, not a miss", err)
			}
		})
	}
}

func TestUntrustedSignatureCounted(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.UntrustedSig})
	reg := prometheus.NewRegistry()
	s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: 1}}, upstream.Options{Trusted: []string{key.Public}, Registerer: reg})
	_, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[0]))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup error = %v, want not-exist", err)
	}
	got := counterValue(t, reg, "private_nix_cache_upstream_signature_rejections_total", map[string]string{"upstream": c.srv.URL})
	if got != 1 {
		t.Errorf("signature rejections = %v, want 1", got)
	}
}
