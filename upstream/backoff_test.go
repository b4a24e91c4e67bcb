package upstream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func TestBackOffSkipsDownUpstream(t *testing.T) {
	key := newKey(t, "test-1")
	files := map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n"), "c": []byte("c\n"), "d": []byte("d\n"), "e": []byte("e\n")}
	down := newFakeCache(t, key, files)
	down.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError})
	good := newFakeCache(t, key, files)
	s := newSet(t, []upstream.Config{{URL: down.srv.URL, Priority: 10}, {URL: good.srv.URL, Priority: 20}},
		upstream.Options{Trusted: []string{key.public}})

	// Three failures open the breaker; the worse upstream answers meanwhile.
	for i := range 3 {
		f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(good.paths[i]))
		if err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
		if f.Upstream.Name() != good.srv.URL {
			t.Fatalf("lookup %d answered by %s", i, f.Upstream.Name())
		}
	}
	before := down.srv.Requests("")
	f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(good.paths[3]))
	if err != nil || f.Upstream.Name() != good.srv.URL {
		t.Fatalf("lookup while backing off: %v", err)
	}
	if got := down.srv.Requests(""); got != before {
		t.Errorf("down upstream was contacted %d more times while backing off", got-before)
	}

	// When nothing else has the path, the skipped upstream makes the answer
	// uncertain: unavailable, not a cacheable miss.
	good.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound})
	_, err = s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(good.paths[4]))
	if !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("Lookup error = %v, want unavailable", err)
	}
	if got := down.srv.Requests(""); got != before {
		t.Errorf("down upstream was contacted %d more times while backing off", got-before)
	}
}

func TestMarkBad(t *testing.T) {
	key := newKey(t, "test-1")
	files := map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n")}
	best := newFakeCache(t, key, files)
	other := newFakeCache(t, key, files)
	s := newSet(t, []upstream.Config{{URL: best.srv.URL, Priority: 10}, {URL: other.srv.URL, Priority: 20}},
		upstream.Options{Trusted: []string{key.public}})
	hp := hashPart(best.paths[0])
	f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp)
	if err != nil || f.Upstream.Name() != best.srv.URL {
		t.Fatalf("first lookup: %v", err)
	}
	s.MarkBad(f.Upstream, hp)
	before := best.srv.Requests(hp)
	f, err = s.Lookup(ctxTimeout(t, 10*time.Second), hp)
	if err != nil || f.Upstream.Name() != other.srv.URL {
		t.Fatalf("lookup after MarkBad: %v, %v", f, err)
	}
	if got := best.srv.Requests(hp); got != before {
		t.Errorf("bad upstream asked again for %s", hp)
	}
	// Other paths are unaffected.
	f, err = s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(best.paths[1]))
	if err != nil || f.Upstream.Name() != best.srv.URL {
		t.Fatalf("lookup of another path: %v", err)
	}
}
