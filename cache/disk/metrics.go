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
	evicted                    prometheus.Counter
	sizeBytes                  prometheus.Gauge
	entries                    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_evicted_files_total", Help: "NAR files evicted to stay under the size limit.",
		}),
		sizeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "private_nix_cache_cache_size_bytes", Help: "Bytes of stored NAR files.",
		}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "private_nix_cache_cache_entries", Help: "Number of stored NAR files.",
		}),
	}
	// A failed (duplicate) registration only loses the export.
	m.reg = promreg.Register(reg, m.evicted, m.sizeBytes, m.entries)
	// The hits and misses of NAR files are the fill's, in the same series.
	m.hits, m.misses = promreg.HitsMisses(m.reg)
	m.narInfoHits, m.narInfoMisses = m.hits.WithLabelValues("narinfo"), m.misses.WithLabelValues("narinfo")
	return m
}

func (m *metrics) unregister() { m.reg.Unregister() }

func (c *Cache) updateGauges() {
	size, n := c.Size()
	c.m.sizeBytes.Set(float64(size))
	c.m.entries.Set(float64(n))
}
