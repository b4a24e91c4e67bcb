package upstream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
)

// Request kinds used as the "kind" label.
const (
	kindNarInfo   = "narinfo"
	kindNAR       = "nar"
	kindCacheInfo = "cache_info"
	// kindAuth counts requests of any kind refused with 401/403: lookups
	// read them as misses, yet they are worth an alert.
	kindAuth = "auth"
)

type metrics struct {
	latency       *prometheus.HistogramVec // upstream, kind: time to response headers
	errors        *prometheus.CounterVec   // upstream, kind
	bytes         *prometheus.CounterVec   // upstream: NAR body bytes received
	sigRejections *prometheus.CounterVec   // upstream
	badTransfers  *prometheus.CounterVec   // upstream: NARs that failed verification or were missing
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "private_nix_cache_upstream_request_duration_seconds",
			Help:    "Time from sending an upstream request to its response headers.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"upstream", "kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_errors_total",
			Help: "Upstream requests that failed (transport errors, timeouts, unexpected status, bad bodies); misses are not errors, but refusals (401/403, a wrong or expired token) count as kind=auth whatever was asked.",
		}, []string{"upstream", "kind"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_bytes_total",
			Help: "NAR bytes received from upstreams, including any an upstream sent before a resume offset because it ignored the Range request (private_nix_cache_upstream_fetched_bytes_total leaves those out).",
		}, []string{"upstream"}),
		sigRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_signature_rejections_total",
			Help: "Upstream narinfos refused because no signature verified with a trusted key.",
		}, []string{"upstream"}),
		badTransfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_bad_transfers_total",
			Help: "NAR transfers that did not match their narinfo (or a NAR the narinfo named was missing); the upstream becomes the last choice for that path.",
		}, []string{"upstream"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := m.share(reg); err != nil {
		return nil, fmt.Errorf("register upstream metrics: %w", err)
	}
	return m, nil
}

// share registers the collectors, or takes those already registered under
// the same names (several Sets may share one registry, e.g. in tests).
func (m *metrics) share(reg prometheus.Registerer) (err error) {
	if m.latency, err = promreg.Shared(reg, m.latency); err != nil {
		return err
	}
	if m.errors, err = promreg.Shared(reg, m.errors); err != nil {
		return err
	}
	if m.bytes, err = promreg.Shared(reg, m.bytes); err != nil {
		return err
	}
	if m.sigRejections, err = promreg.Shared(reg, m.sigRejections); err != nil {
		return err
	}
	m.badTransfers, err = promreg.Shared(reg, m.badTransfers)
	return err
}
