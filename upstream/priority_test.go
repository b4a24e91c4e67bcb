package upstream_test

import (
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func TestLookupPriority(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	files := map[string][]byte{"a": []byte("a\n")}
	slow := upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Match: ".narinfo", Delay: 700 * time.Millisecond}
	hang := upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Match: ".narinfo", Delay: time.Minute}
	notFound := upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: ".narinfo"}
	tests := []struct {
		name     string
		priority [2]int // 0: from nix-cache-info
		cacheP   [2]int // nix-cache-info priority; 0: keep WriteCache's
		faults   [2][]upstreamtest.Fault
		want     int // index of the upstream that must answer
	}{
		{name: "slow best is awaited", priority: [2]int{10, 20}, faults: [2][]upstreamtest.Fault{{slow}, nil}, want: 0},
		{name: "fast best does not wait for hanging worse", priority: [2]int{10, 20}, faults: [2][]upstreamtest.Fault{nil, {hang}}, want: 0},
		{name: "best misses, worse answers", priority: [2]int{10, 20}, faults: [2][]upstreamtest.Fault{{notFound}, nil}, want: 1},
		{name: "tie goes to configuration order", priority: [2]int{10, 10}, faults: [2][]upstreamtest.Fault{{slow}, nil}, want: 0},
		{name: "second is better by number", priority: [2]int{30, 20}, want: 1},
		{name: "priority from nix-cache-info", cacheP: [2]int{45, 15}, faults: [2][]upstreamtest.Fault{nil, {slow}}, want: 1},
		{name: "configured priority wins over nix-cache-info", priority: [2]int{10, 0}, cacheP: [2]int{45, 20}, faults: [2][]upstreamtest.Fault{{slow}, nil}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []upstream.Config
			var caches []*fakeCache
			for i := range 2 {
				c := newFakeCache(t, key, files)
				if tt.cacheP[i] != 0 {
					c.setPriority(t, tt.cacheP[i])
				}
				for _, f := range tt.faults[i] {
					c.srv.AddFault(f)
				}
				caches = append(caches, c)
				cfgs = append(cfgs, upstream.Config{URL: c.srv.URL, Priority: tt.priority[i]})
			}
			s := newSet(t, cfgs, upstream.Options{Trusted: []string{key.Public}, LookupTimeout: 2 * time.Minute})
			start := time.Now()
			f, err := s.Lookup(ctxTimeout(t, 30*time.Second), hashPart(caches[0].paths[0]))
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got, want := f.Upstream.Name(), caches[tt.want].srv.URL; got != want {
				t.Errorf("answered by %s, want %s (upstream %d)", got, want, tt.want)
			}
			// Each was asked at most once (the loser's request may have been
			// canceled before it arrived).
			for i, c := range caches {
				got := c.srv.Requests(".narinfo")
				if got > 1 || (i == tt.want && got != 1) {
					t.Errorf("upstream %d got %d narinfo requests", i, got)
				}
			}
			// A hanging upstream that cannot win is not waited for.
			if elapsed := time.Since(start); elapsed > 20*time.Second {
				t.Errorf("Lookup took %s: it waited for an upstream that could not win", elapsed)
			}
		})
	}
}
