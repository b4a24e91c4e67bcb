package upstream_test

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func TestBackOffSkipsDownUpstream(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	files := map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n"), "c": []byte("c\n"), "d": []byte("d\n"), "e": []byte("e\n")}
	down := newFakeCache(t, key, files)
	down.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError})
	good := newFakeCache(t, key, files)
	s := newSet(t, []upstream.Config{{URL: down.srv.URL, Priority: 10}, {URL: good.srv.URL, Priority: 20}},
		upstream.Options{Trusted: []string{key.Public}})

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

func TestMarkBadMakesUpstreamLastChoice(t *testing.T) {
	best, other, s := twoUpstreams(t)
	hp := hashPart(best.paths[0])
	lookup := func(hp string) (string, int) {
		t.Helper()
		f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp)
		if err != nil {
			t.Fatalf("lookup %s: %v", hp, err)
		}
		return f.Upstream.Name(), f.BadTransfers
	}
	bestUp := s.Upstreams()[0]

	s.MarkBad(bestUp, hp)
	if got, n := lookup(hp); got != other.srv.URL || n != 0 {
		t.Errorf("after MarkBad: answered by %s (%d bad transfers), want %s (0)", got, n, other.srv.URL)
	}
	if got, _ := lookup(hashPart(best.paths[1])); got != best.srv.URL {
		t.Errorf("another path answered by %s, want %s", got, best.srv.URL)
	}

	// The other upstream loses the path: the marked one is still used.
	other.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: hp})
	if got, n := lookup(hp); got != best.srv.URL || n != 1 {
		t.Errorf("only the marked upstream has it: answered by %s (%d bad transfers), want %s (1)", got, n, best.srv.URL)
	}

	// A good transfer forgets the mark.
	s.MarkGood(bestUp, hp)
	other.srv.ClearFaults()
	if got, n := lookup(hp); got != best.srv.URL || n != 0 {
		t.Errorf("after MarkGood: answered by %s (%d bad transfers), want %s (0)", got, n, best.srv.URL)
	}
}

func TestMarkBadSingleUpstream(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	only := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
	s := newSet(t, []upstream.Config{{URL: only.srv.URL}}, upstream.Options{Trusted: []string{key.Public}})
	u, hp := s.Upstreams()[0], hashPart(only.paths[0])

	for i := 1; i < 3; i++ {
		s.MarkBad(u, hp)
		f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp)
		if err != nil {
			t.Fatalf("after %d bad transfers: %v", i, err)
		}
		if f.BadTransfers != i {
			t.Errorf("after %d bad transfers: BadTransfers = %d", i, f.BadTransfers)
		}
		if s.Excluded(u, hp) {
			t.Errorf("after %d bad transfers: excluded", i)
		}
	}

	// Too many in a row exclude it, but the path is not a miss.
	s.MarkBad(u, hp)
	if !s.Excluded(u, hp) {
		t.Errorf("after 3 bad transfers: not excluded")
	}
	before := only.srv.Requests(hp)
	_, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp)
	if !errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup error = %v, want unavailable, not a miss", err)
	}
	if got := only.srv.Requests(hp); got != before {
		t.Errorf("excluded upstream asked %d times", got-before)
	}
}

func TestMarkMissingSkipsUpstream(t *testing.T) {
	best, other, s := twoUpstreams(t)
	hp := hashPart(best.paths[0])
	s.MarkMissing(s.Upstreams()[0], hp)
	before := best.srv.Requests(hp)
	f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp)
	if err != nil || f.Upstream.Name() != other.srv.URL {
		t.Fatalf("lookup after MarkMissing: %v, %v", f, err)
	}
	if got := best.srv.Requests(hp); got != before {
		t.Errorf("upstream lacking the NAR asked again for %s", hp)
	}
	// When no other upstream has it, the path is a miss.
	other.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: hp})
	if _, err := s.Lookup(ctxTimeout(t, 10*time.Second), hp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup error = %v, want a miss", err)
	}
}

// twoUpstreams serves the same two paths from a best (priority 10) and
// another upstream (20), both trusted.
func twoUpstreams(t *testing.T) (best, other *fakeCache, s *upstream.Set) {
	key := upstreamtest.NewKey(t, "test-1")
	files := map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n")}
	best = newFakeCache(t, key, files)
	other = newFakeCache(t, key, files)
	s = newSet(t, []upstream.Config{{URL: best.srv.URL, Priority: 10}, {URL: other.srv.URL, Priority: 20}},
		upstream.Options{Trusted: []string{key.Public}})
	return best, other, s
}
