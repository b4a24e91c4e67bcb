package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/wrk"
)

// record adds one sample of a measure for a contender.
func (b *bench) record(id, name, unit, better string, c *contender, v float64) {
	m, ok := b.measures[id]
	if !ok {
		m = &Measure{ID: id, Name: name, Unit: unit, Better: better, Values: map[string]stats.Summary{}, Who: map[string]string{}}
		b.measures[id] = m
		b.order = append(b.order, id)
	}
	s := m.Values[c.key]
	s.Samples = append(s.Samples, v)
	m.Values[c.key] = s
	m.Who[c.key] = c.name
}

// narInfoLoads runs the narinfo load (64 connections) on cs and on the
// net/http floor over floorDir, interleaved, handing each result to record.
func (b *bench) narInfoLoads(ctx context.Context, cs []*contender, floorDir string, paths []string, record func(*contender, wrk.Result)) error {
	floor, err := b.startFloor(floorDir)
	if err != nil {
		return err
	}
	defer floor.stop()
	for rep := 0; rep < b.cfg.reps; rep++ {
		for _, c := range rotate(withFloor(cs, floor), rep) {
			r, err := b.wrk(ctx, c, paths, 64)
			if err != nil {
				return err
			}
			record(c, r)
		}
	}
	return nil
}

// narLoads runs the NAR loads (1, then 16 connections) on cs, interleaved,
// handing each result to record; after each round, then(conns) runs when
// given.
func (b *bench) narLoads(ctx context.Context, cs []*contender, nars map[*contender][]string,
	record func(c *contender, conns int, r wrk.Result), then func(conns int) error) error {
	for _, conns := range []int{1, 16} {
		for rep := 0; rep < b.cfg.reps; rep++ {
			for _, c := range rotate(cs, rep) {
				r, err := b.wrk(ctx, c, nars[c], conns)
				if err != nil {
					return err
				}
				record(c, conns, r)
			}
			if then != nil {
				if err := then(conns); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// withFloor adds the net/http floor, if any, to the contenders of a narinfo load.
func withFloor(cs []*contender, floor *contender) []*contender {
	if floor == nil {
		return cs
	}
	return append(append([]*contender(nil), cs...), floor)
}

// rotate returns cs starting at index i, so each contender takes its turn first.
func rotate(cs []*contender, i int) []*contender {
	i %= len(cs)
	return append(append([]*contender(nil), cs[i:]...), cs[:i]...)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// mirrorPhase compares private-nix-cache and nginx proxy_cache as
// pull-through mirrors of the same upstream, and the upstream itself.
func (b *bench) mirrorPhase(ctx context.Context) error {
	up, err := b.startUpstream()
	if err != nil {
		return err
	}
	defer up.stop()
	var ng, ours *contender
	stopMirrors := func() { ng.stop(); ours.stop() }
	defer func() { stopMirrors() }()
	fresh := func() error {
		stopMirrors()
		if ng, err = b.startNginxMirror(up); err != nil {
			return err
		}
		ours, err = b.startOursMirror(up)
		return err
	}
	// First sight of small paths: the big ones have their own test.
	var missPaths []string
	for _, p := range b.fx.Paths {
		if !slices.Contains(b.fx.Big, p) && len(missPaths) < b.cfg.misses {
			missPaths = append(missPaths, p)
		}
	}

	for rep := 0; rep < b.cfg.reps; rep++ {
		// First sight: narinfo misses and the first bytes of a cold NAR.
		if err := fresh(); err != nil {
			return err
		}
		order := rotate([]*contender{up, ng, ours}, rep)
		b.logf("mirror run %d/%d: narinfo misses (%d each), cold big NARs", rep+1, b.cfg.reps, len(missPaths))
		for _, c := range order {
			lat, err := missLatencies(ctx, b.client, c.url, missPaths)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			b.record("miss_p50", "narinfo miss (first sight) p50 latency", "ms", "lower", c, stats.Durations(lat, 50))
			b.record("miss_p99", "narinfo miss (first sight) p99 latency", "ms", "lower", c, stats.Durations(lat, 99))
			// The NARs of those paths, also seen for the first time.
			urls, err := narURLPaths(ctx, b.client, c.url, missPaths)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if lat, err = getLatencies(ctx, b.client, c.url, urls); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			b.record("nar_miss_p50", "small NAR miss (first sight) p50 latency", "ms", "lower", c, stats.Durations(lat, 50))
		}
		for _, c := range order {
			var ttfbs, totals []time.Duration
			for _, big := range b.fx.Big {
				ttfb, total, err := coldNAR(ctx, b.client, c.url, big)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				ttfbs, totals = append(ttfbs, ttfb), append(totals, total)
			}
			b.record("ttfb", "cold big NAR time to first byte", "ms", "lower", c, stats.Durations(ttfbs, 50))
			b.record("cold_nar", "cold big NAR whole download", "ms", "lower", c, stats.Durations(totals, 50))
		}

		// The real client pulls the closure through empty mirrors, then again.
		if err := fresh(); err != nil {
			return err
		}
		b.logf("mirror run %d/%d: nix copy of %d paths, cold then warm", rep+1, b.cfg.reps, len(b.fx.Paths))
		for _, c := range rotate([]*contender{up, ng, ours}, rep) {
			d, err := b.nixCopy(ctx, c.url, b.fx.Root)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			b.record("closure_cold", "nix copy of the closure, cold mirror", "s", "lower", c, d.Seconds())
			if c == up {
				// A static upstream has no cold state: the same figure serves both.
				b.record("closure_warm", "nix copy of the closure, warm mirror", "s", "lower", c, d.Seconds())
				continue
			}
			if d, err = b.nixCopy(ctx, c.url, b.fx.Root); err != nil {
				return fmt.Errorf("%s (warm): %w", c.name, err)
			}
			b.record("closure_warm", "nix copy of the closure, warm mirror", "s", "lower", c, d.Seconds())
		}
	}

	// The last mirrors hold the whole closure now: cache hits.
	hits := []*contender{ng, ours}
	narinfos := narInfoPaths(b.fx.Paths)
	nars := map[*contender][]string{}
	for _, c := range hits {
		if nars[c], err = narURLPaths(ctx, b.client, c.url, b.fx.Big); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	b.logf("mirror: cache hits, %d × %v per contender and load", b.cfg.reps, b.cfg.duration)
	err = b.narInfoLoads(ctx, hits, b.fx.Upstream(), narinfos, func(c *contender, r wrk.Result) {
		b.record("hit_rps", "narinfo cache hits, 64 connections", "req/s", "higher", c, r.ReqPerSec())
		b.record("hit_p50", "narinfo cache hits p50 latency, 64 connections", "ms", "lower", c, r.P50US/1000)
		b.record("hit_p99", "narinfo cache hits p99 latency, 64 connections", "ms", "lower", c, r.P99US/1000)
	})
	if err != nil {
		return err
	}
	err = b.narLoads(ctx, hits, nars, func(c *contender, conns int, r wrk.Result) {
		id := fmt.Sprintf("nar_hit_%d", conns)
		b.record(id, fmt.Sprintf("NAR cache hits, %d connection%s", conns, plural(conns)), "MB/s", "higher", c, r.MBPerSec())
	}, nil)
	if err != nil {
		return err
	}
	for _, c := range hits {
		rss, err := c.peakRSS()
		if err != nil {
			return err
		}
		b.record("rss_mirror", "peak RSS as mirror", "MiB", "lower", c, rss)
	}
	return nil
}

// localPhase compares private-nix-cache serving a store with nginx
// serving a static uncompressed copy, and with nix-store --dump.
func (b *bench) localPhase(ctx context.Context) error {
	ours, err := b.startOursLocal()
	if err != nil {
		return err
	}
	defer ours.stop()
	ng, err := b.startNginxStatic()
	if err != nil {
		return err
	}
	defer ng.stop()
	dump := &contender{key: "ref", name: "nix-store --dump"}

	cs := []*contender{ng, ours}
	narinfos := narInfoPaths(b.fx.Paths)
	nars := map[*contender][]string{}
	for _, c := range cs {
		if nars[c], err = narURLPaths(ctx, b.client, c.url, b.fx.Big); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	b.logf("local store: signed narinfos, NARs, nix-store --dump, %d × %v", b.cfg.reps, b.cfg.duration)
	err = b.narInfoLoads(ctx, cs, b.fx.NoneCache(), narinfos, func(c *contender, r wrk.Result) {
		b.record("local_narinfo_rps", "local narinfo (signed by ours), 64 connections", "req/s", "higher", c, r.ReqPerSec())
		b.record("local_narinfo_p99", "local narinfo p99 latency, 64 connections", "ms", "lower", c, r.P99US/1000)
	})
	if err != nil {
		return err
	}
	err = b.narLoads(ctx, cs, nars, func(c *contender, conns int, r wrk.Result) {
		id := fmt.Sprintf("local_nar_%d", conns)
		b.record(id, fmt.Sprintf("local NAR, %d connection%s", conns, plural(conns)), "MB/s", "higher", c, r.MBPerSec())
	}, func(conns int) error {
		// nix-store --dump takes its turn in each round of one connection.
		if conns != 1 {
			return nil
		}
		var best []float64
		for _, big := range b.fx.Big {
			v, err := b.dumpMBps(ctx, big)
			if err != nil {
				return err
			}
			best = append(best, v)
		}
		b.record("local_nar_1", "local NAR, 1 connection", "MB/s", "higher", dump, stats.Of(best).Median)
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range cs {
		rss, err := c.peakRSS()
		if err != nil {
			return err
		}
		b.record("rss_local", "peak RSS serving the local store", "MiB", "lower", c, rss)
	}
	return nil
}

// wrk runs one load and fails on any error response: a benchmark of
// failures would measure nothing.
func (b *bench) wrk(ctx context.Context, c *contender, paths []string, conns int) (wrk.Result, error) {
	r, err := wrk.Run(ctx, b.tmp, c.url, paths, conns, b.cfg.duration)
	if err != nil {
		return r, fmt.Errorf("%s: %w", c.name, err)
	}
	if r.Errors() > 0 || r.Requests == 0 {
		return r, fmt.Errorf("%s: wrk with %d connections: %d requests, errors: connect %d, read %d, write %d, status %d, timeout %d",
			c.name, conns, r.Requests, r.Connect, r.Read, r.Write, r.Status, r.Timeout)
	}
	return r, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
