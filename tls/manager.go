// Package tls provides the HTTPS certificate of the server: obtained and
// renewed through ACME DNS-01 (Cloudflare or RFC 2136 dynamic updates) with
// certmagic, or loaded from static files that are reloaded when they change.
// It also has the plain-HTTP redirect handler.
package tls

import (
	"context"
	stdtls "crypto/tls"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Manager serves the certificate chosen by a Config.
type Manager struct {
	getCert func(*stdtls.ClientHelloInfo) (*stdtls.Certificate, error)
	metrics *metrics
	acme    *acmeCerts // nil in static mode
}

// New validates c and prepares its certificate. In ACME mode it loads the
// stored certificates, or obtains them before returning; a stored
// certificate that is still valid is served even when the CA or DNS cannot
// be reached. Renewal runs in the background until Close. reg may be nil.
func New(ctx context.Context, c Config, logger *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	if !c.Enabled() {
		return nil, fmt.Errorf("tls: neither --tls-domain nor --tls-cert-file is set")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	logger = logger.With("component", "tls")
	m := &Manager{metrics: newMetrics(reg)}

	if !c.acme() {
		s, err := newStaticCert(c.CertFile, c.KeyFile, logger, m.metrics)
		if err != nil {
			return nil, err
		}
		m.getCert = s.GetCertificate
		return m, nil
	}

	a, err := newACMECerts(c, logger, m.metrics)
	if err != nil {
		return nil, err
	}
	if err := a.manage(ctx, c.Domains); err != nil {
		a.close()
		return nil, err
	}
	m.acme = a
	m.getCert = a.magic.GetCertificate
	return m, nil
}

// TLSConfig returns a new server configuration: TLS 1.2 or later, HTTP/2
// and HTTP/1.1, certificates from the Manager.
func (m *Manager) TLSConfig() *stdtls.Config {
	return &stdtls.Config{
		MinVersion:     stdtls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: m.getCertificate,
	}
}

func (m *Manager) getCertificate(hello *stdtls.ClientHelloInfo) (*stdtls.Certificate, error) {
	cert, err := m.getCert(hello)
	if err == nil && cert != nil {
		// keeps the expiry gauge right after background renewals too
		m.metrics.setNotAfter(cert.Leaf)
	}
	return cert, err
}

// Close stops background renewal. Certificates already handed out keep
// working.
func (m *Manager) Close() error {
	if m.acme != nil {
		m.acme.close()
	}
	return nil
}
