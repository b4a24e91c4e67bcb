package disk

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
)

type metrics struct {
	reg *promreg.Registration

	hits, misses *prometheus.CounterVec // by kind: narinfo, nar, negative
	// The narinfo children, resolved once: a hit is the hottest path.
	narInfoHits, narInfoMisses prometheus.Counter
	fetched                    prometheus.Counter
	resumes                    prometheus.Counter
	verifyFailed               prometheus.Counter
	evicted                    prometheus.Counter
	passthrough                prometheus.Counter
	reencoded                  prometheus.Counter
	sizeBytes                  prometheus.Gauge
	entries                    prometheus.Gauge
	fillsInFlight              prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_cache_hits_total", Help: "Cache hits by kind (narinfo, nar, negative).",
		}, []string{"kind"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_cache_misses_total", Help: "Cache misses by kind (narinfo, nar, negative).",
		}, []string{"kind"}),
		fetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_fetched_bytes_total", Help: "NAR bytes the cache took in from upstream downloads (stored or streamed through), from where each download started or resumed; private_nix_cache_upstream_bytes_total also counts bytes an upstream sent before a resume offset.",
		}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_resumes_total", Help: "NAR downloads resumed where the upstream cut or stalled the body.",
		}),
		verifyFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_verification_failures_total", Help: "Downloads whose hash or size did not match the narinfo.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_evicted_files_total", Help: "NAR files evicted to stay under the size limit.",
		}),
		passthrough: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_passthrough_total", Help: "NAR downloads streamed without storing (disk full, unverifiable, too big).",
		}),
		reencoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_reencoded_total", Help: "NAR files re-encoded from the upstream's compression and stored.",
		}),
		sizeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "private_nix_cache_cache_size_bytes", Help: "Bytes of stored NAR files.",
		}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "private_nix_cache_cache_entries", Help: "Number of stored NAR files.",
		}),
		fillsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "private_nix_cache_fills_in_progress", Help: "Upstream NAR downloads in progress.",
		}),
	}
	for _, k := range []string{"narinfo", "nar", "negative"} {
		m.hits.WithLabelValues(k)
		m.misses.WithLabelValues(k)
	}
	m.narInfoHits, m.narInfoMisses = m.hits.WithLabelValues("narinfo"), m.misses.WithLabelValues("narinfo")
	// A failed (duplicate) registration only loses the export.
	m.reg = promreg.Register(reg, m.hits, m.misses, m.fetched, m.resumes, m.verifyFailed,
		m.evicted, m.passthrough, m.reencoded, m.sizeBytes, m.entries, m.fillsInFlight)
	return m
}

func (m *metrics) unregister() { m.reg.Unregister() }

func (c *Cache) updateGauges() {
	size, n := c.Size()
	c.m.sizeBytes.Set(float64(size))
	c.m.entries.Set(float64(n))
}
