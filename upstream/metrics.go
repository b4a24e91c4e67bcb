package upstream

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
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
			Help: "NAR bytes received from upstreams.",
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
	var err error
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.errors, err = register(reg, m.errors); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	if m.sigRejections, err = register(reg, m.sigRejections); err != nil {
		return nil, err
	}
	if m.badTransfers, err = register(reg, m.badTransfers); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same name (several Sets may share one registry, e.g. in tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register upstream metrics: %w", err)
	}
	return c, nil
}
