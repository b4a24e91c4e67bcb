package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// goroutines reads go_goroutines from the server's /metrics.
func goroutines(ctx context.Context, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("metrics: no go_goroutines")
}

// settleGoroutines polls until the count is back near before, or wait passes.
func settleGoroutines(ctx context.Context, base string, before int, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		n, err := goroutines(ctx, base)
		if err != nil {
			return 0, err
		}
		if n <= before+goroutineSlack || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func printSummary(w io.Writer, r *Result) {
	fmt.Fprintf(w, "soak: %d requests in %.0f s (%.0f/s) with %v connections\n", r.Requests, r.Seconds, float64(r.Requests)/r.Seconds, r.Settings["connections"])
	kinds := make([]string, 0, len(r.Outcomes))
	for k := range r.Outcomes {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		var parts []string
		for o, n := range r.Outcomes[k] {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
		sort.Strings(parts)
		l := r.LatencyMs[k]
		fmt.Fprintf(w, "  %-15s %7d  [%s]  p50 %.1f ms, p99 %.1f ms, max %.0f ms\n", k, r.ByKind[k], strings.Join(parts, ", "), l.P50, l.P99, l.Max)
	}
	fmt.Fprintf(w, "  verified NARs %d (%.1f MB)\n", r.VerifiedNARs, float64(r.VerifiedBytes)/1e6)
	fmt.Fprintf(w, "  wrong bytes delivered: %d   wrong narinfos: %d   5xx on cached: %d   404 on cached: %d\n",
		r.WrongBytes, r.WrongNarInfos, r.ServerErrorsOnCached, r.NotFoundOnCached)
	s := r.Server
	leak := "no leak"
	if s.GoroutineLeak {
		leak = "LEAK?"
	}
	fmt.Fprintf(w, "  server: peak RSS %.0f MiB, goroutines %d before, %d after (%s); upstream saw %d NAR and %d narinfo requests\n",
		s.PeakRSSMiB, s.GoroutinesBefore, s.GoroutinesAfter, leak, s.UpstreamNARRequests, s.UpstreamNarInfoRequests)
	for _, e := range r.Examples {
		fmt.Fprintf(w, "  e.g. %s\n", e)
	}
}
