package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/narcheck"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Result is what the soak found.
type Result struct {
	Requests int64            `json:"requests"`
	ByKind   map[string]int64 `json:"requests_by_kind"`
	// Outcomes by request kind and outcome ("200", "404", "502", "cut", "reset", "timeout"…).
	Outcomes             map[string]map[string]int64 `json:"outcomes"`
	VerifiedNARs         int64                       `json:"verified_nars"`
	VerifiedBytes        int64                       `json:"verified_nar_bytes"`
	WrongBytes           int64                       `json:"wrong_bytes"`    // 200 NARs failing NarHash or NarSize
	WrongNarInfos        int64                       `json:"wrong_narinfos"` // 200 narinfos not matching the upstream's, or for absent paths
	ServerErrorsOnCached int64                       `json:"server_errors_on_cached"`
	NotFoundOnCached     int64                       `json:"not_found_on_cached"`
	Examples             []string                    `json:"examples,omitempty"` // first few failures of each kind
	LatencyMs            map[string]latency          `json:"latency_ms"`
	Seconds              float64                     `json:"seconds"`
	Server               serverFacts                 `json:"server"`
	Settings             map[string]any              `json:"settings"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type serverFacts struct {
	GoroutinesBefore        int     `json:"goroutines_before"`
	GoroutinesAfter         int     `json:"goroutines_after"`
	GoroutineLeak           bool    `json:"goroutine_leak"`
	PeakRSSMiB              float64 `json:"peak_rss_mib"`
	UpstreamNARRequests     int     `json:"upstream_nar_requests"`
	UpstreamNarInfoRequests int     `json:"upstream_narinfo_requests"`
	Log                     string  `json:"log_tail,omitempty"`
}

// cachedGrace is how long after a success an item counts as cached: the
// server commits a NAR right after its last byte went out.
const cachedGrace = time.Second

// tracker holds the shared counters and what has been served.
type tracker struct {
	mu       sync.Mutex
	res      *Result
	lat      map[string][]time.Duration
	narinfo  map[string]time.Time // hash part → first successful narinfo
	nar      map[string]time.Time // hash part → first verified NAR
	examples map[string]int
}

func (t *tracker) outcome(kind, what string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Requests++
	t.res.ByKind[kind]++
	if t.res.Outcomes[kind] == nil {
		t.res.Outcomes[kind] = map[string]int64{}
	}
	t.res.Outcomes[kind][what]++
	if len(t.lat[kind]) < 2_000_000 {
		t.lat[kind] = append(t.lat[kind], d)
	}
}

func (t *tracker) example(kind, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.examples[kind] < 3 {
		t.examples[kind]++
		t.res.Examples = append(t.res.Examples, kind+": "+msg)
	}
}

// servedBefore reports whether m holds hashPart since before t minus the grace.
func (t *tracker) servedBefore(m map[string]time.Time, hashPart string, start time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := m[hashPart]
	return ok && at.Add(cachedGrace).Before(start)
}

func (t *tracker) served(m map[string]time.Time, hashPart string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := m[hashPart]; !ok {
		m[hashPart] = time.Now()
	}
}

func (t *tracker) add(f func(r *Result)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t.res)
}

// load runs cfg.conns workers until cfg.duration has passed. Each worker
// asks for narinfos (70% from a hot tenth of the items, else any item, so
// first sights go on all along), narinfos of absent paths, and NARs, which
// it verifies against the upstream's NarHash.
func load(ctx context.Context, cfg settings, base string, items []item, hostile hostileItems) *Result {
	t := &tracker{
		res: &Result{ByKind: map[string]int64{}, Outcomes: map[string]map[string]int64{}, LatencyMs: map[string]latency{}},
		lat: map[string][]time.Duration{}, narinfo: map[string]time.Time{}, nar: map[string]time.Time{}, examples: map[string]int{},
	}
	timeout := 90 * time.Second
	if cfg.quick {
		timeout = 30 * time.Second
	}
	tr := &http.Transport{
		MaxConnsPerHost:     cfg.conns,
		MaxIdleConnsPerHost: cfg.conns,
		DisableCompression:  true,
		DialContext:         (&fleetDialer{}).DialContext,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}

	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(cfg.duration))
	defer cancel()
	hot := max(len(items)/10, 1)
	var wg sync.WaitGroup
	t.hostileLoad(ctx, &wg, cfg, client, base, items, hostile)
	for w := 0; w < cfg.conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			gen := rand.New(rand.NewPCG(cfg.seed, uint64(w)))
			for ctx.Err() == nil {
				var it item
				if gen.Float64() < 0.7 {
					it = items[gen.IntN(hot)]
				} else {
					it = items[gen.IntN(len(items))]
				}
				switch r := gen.Float64(); {
				case r < 0.45:
					t.narInfo(ctx, client, base, it)
				case r < 0.55:
					t.absent(ctx, client, base, gen)
				default:
					if ni := t.narInfo(ctx, client, base, it); ni != nil {
						t.fetchNAR(ctx, client, base, it, ni)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	t.res.Seconds = time.Since(start).Seconds()
	for kind, ds := range t.lat {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.res.LatencyMs[kind] = latency{P50: stats.Durations(ds, 50), P99: stats.Durations(ds, 99), Max: stats.Durations(ds, 100)}
	}
	return t.res
}

// do sends a GET and returns the response, or an outcome name for a
// failure before the headers. A request cut by the end of the run is
// reported as "" and not counted.
func do(ctx context.Context, client *http.Client, url string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "bad-request", err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", err
		}
		return nil, errorKind(err), err
	}
	return resp, "", nil
}

// errorKind names a transport failure.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "cut"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "Client.Timeout"):
		return "timeout"
	}
	return "transport"
}

func (t *tracker) narInfo(ctx context.Context, client *http.Client, base string, it item) *narinfo.NarInfo {
	return t.narInfoAs(ctx, client, base, it, "narinfo", t.narinfo)
}

// narInfoAs fetches and checks the narinfo of it, counting it as kind; served,
// when not nil, records the first success (a later 404 or 5xx is then a
// failure).
func (t *tracker) narInfoAs(ctx context.Context, client *http.Client, base string, it item, kind string, served map[string]time.Time) *narinfo.NarInfo {
	start := time.Now()
	resp, failure, err := do(ctx, client, base+"/"+it.hashPart+".narinfo")
	if resp == nil {
		if failure != "" {
			t.outcome(kind, failure, time.Since(start))
			t.example(kind+" "+failure, err.Error())
		}
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		if ctx.Err() == nil {
			t.outcome(kind, errorKind(err), d)
		}
		return nil
	}
	t.status(kind, resp.StatusCode, d, served, it.hashPart, start, string(body))
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	ni, err := narinfo.ParseBytes(body)
	if err == nil && (ni.HashPart() != it.hashPart || ni.NarSize != it.narSize ||
		narinfo.FormatHash(ni.NarHash) != narinfo.FormatHash(it.narHash)) {
		err = fmt.Errorf("StorePath %s NarHash %s NarSize %d, upstream says %s %d",
			ni.StorePath, narinfo.FormatHash(ni.NarHash), ni.NarSize, narinfo.FormatHash(it.narHash), it.narSize)
	}
	if err != nil {
		t.add(func(r *Result) { r.WrongNarInfos++ })
		t.example("wrong "+kind, fmt.Sprintf("%s: %v", it.hashPart, err))
		return nil
	}
	if served != nil {
		t.served(served, it.hashPart)
	}
	return ni
}

// status counts a response status, and a 5xx or 404 for an item served before.
func (t *tracker) status(kind string, code int, d time.Duration, served map[string]time.Time, hashPart string, start time.Time, body string) {
	t.outcome(kind, fmt.Sprint(code), d)
	if code == http.StatusOK {
		return
	}
	if served != nil && t.servedBefore(served, hashPart, start) {
		switch {
		case code >= 500:
			t.add(func(r *Result) { r.ServerErrorsOnCached++ })
			t.example(kind+" 5xx on cached", fmt.Sprintf("%s: %d %s", hashPart, code, strings.TrimSpace(body)))
		case code == http.StatusNotFound:
			t.add(func(r *Result) { r.NotFoundOnCached++ })
			t.example(kind+" 404 on cached", hashPart)
		}
	}
	if code >= 500 {
		t.example(fmt.Sprintf("%s %d", kind, code), fmt.Sprintf("%s: %s", hashPart, strings.TrimSpace(body)))
	}
}

// absent asks for a path the upstream does not have: 404 is the answer.
func (t *tracker) absent(ctx context.Context, client *http.Client, base string, gen *rand.Rand) {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	hp := make([]byte, 32)
	for i := range hp {
		hp[i] = alphabet[gen.IntN(len(alphabet))]
	}
	start := time.Now()
	resp, kind, err := do(ctx, client, base+"/"+string(hp)+".narinfo")
	if resp == nil {
		if kind != "" {
			t.outcome("absent-narinfo", kind, time.Since(start))
			t.example("absent-narinfo "+kind, err.Error())
		}
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.status("absent-narinfo", resp.StatusCode, time.Since(start), nil, "", start, string(body))
	if resp.StatusCode == http.StatusOK {
		t.add(func(r *Result) { r.WrongNarInfos++ })
		t.example("wrong narinfo", "200 for absent "+string(hp))
	}
}

func (t *tracker) fetchNAR(ctx context.Context, client *http.Client, base string, it item, ni *narinfo.NarInfo) {
	start := time.Now()
	resp, kind, err := do(ctx, client, base+"/"+strings.TrimPrefix(ni.URL, "/"))
	if resp == nil {
		if kind != "" {
			t.outcome("nar", kind, time.Since(start))
			t.example("nar "+kind, err.Error())
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.status("nar", resp.StatusCode, time.Since(start), t.nar, it.hashPart, start, string(body))
		return
	}
	n, err := narcheck.Verify(resp.Body, ni.Compression, it.narHash, it.narSize)
	d := time.Since(start)
	switch {
	case err == nil:
		t.outcome("nar", "200", d)
		t.served(t.nar, it.hashPart)
		t.add(func(r *Result) { r.VerifiedNARs++; r.VerifiedBytes += n })
	case errors.Is(err, narcheck.ErrTransport):
		if ctx.Err() != nil {
			return // the run ended under it
		}
		kind := errorKind(err)
		t.outcome("nar", "200-then-"+kind, d)
		t.example("nar 200-then-"+kind, fmt.Sprintf("%s after %d bytes: %v", ni.URL, n, err))
	default:
		t.outcome("nar", "200-wrong-bytes", d)
		t.add(func(r *Result) { r.WrongBytes++ })
		t.example("nar wrong bytes", fmt.Sprintf("%s (%s, %d bytes): %v", ni.URL, ni.Compression, n, err))
	}
}
