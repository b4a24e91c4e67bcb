package mirror

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
)

type metrics struct {
	reg *promreg.Registration

	lookups   *prometheus.CounterVec // by result: found, miss, unavailable, error
	served    prometheus.Counter
	narErrors *prometheus.CounterVec // by stage: before, after (headers)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_mirror_lookups_total", Help: "Upstream narinfo lookups by result.",
		}, []string{"result"}),
		served: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_mirror_served_bytes_total", Help: "Mirrored NAR bytes sent to clients.",
		}),
		narErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_mirror_nar_errors_total", Help: "Mirrored NAR requests that failed, before or after the response began.",
		}, []string{"stage"}),
	}
	for _, r := range []string{"found", "miss", "unavailable", "error"} {
		m.lookups.WithLabelValues(r)
	}
	for _, s := range []string{"before", "after"} {
		m.narErrors.WithLabelValues(s)
	}
	// A failed (duplicate) registration only loses the export.
	m.reg = promreg.Register(reg, m.lookups, m.served, m.narErrors)
	return m
}

func (m *metrics) unregister() { m.reg.Unregister() }
