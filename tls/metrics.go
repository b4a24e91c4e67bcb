package tls

import (
	"crypto/x509"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
)

// metrics are the package's Prometheus series. A second Manager on the same
// registry (a restart inside one process) shares the series of the first.
type metrics struct {
	failures      prometheus.Counter
	reloadFailure prometheus.Counter
	notAfter      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_tls_renewal_failures_total",
			Help: "ACME attempts to obtain or renew a certificate that failed; the previous certificate keeps serving.",
		}),
		reloadFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_tls_reload_failures_total",
			Help: "Changed static certificate files that could not be loaded; the previous certificate keeps serving.",
		}),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "private_nix_cache_tls_certificate_not_after_timestamp_seconds",
			Help: "NotAfter of the certificate being served, per name, as a Unix time.",
		}, []string{"name"}),
	}
	if reg == nil {
		return m
	}
	m.failures = register(reg, m.failures)
	m.reloadFailure = register(reg, m.reloadFailure)
	m.notAfter = register(reg, m.notAfter)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := promreg.Shared(reg, c)
	if err != nil {
		panic(err) // a name clash with another package is a programming error
	}
	return c
}

// setNotAfter records the leaf's NotAfter under each of its names.
func (m *metrics) setNotAfter(leaf *x509.Certificate) {
	if leaf == nil {
		return
	}
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	for _, n := range names {
		m.notAfter.WithLabelValues(n).Set(float64(leaf.NotAfter.Unix()))
	}
}
