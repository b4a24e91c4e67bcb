package tls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/libdns/cloudflare"
	"github.com/libdns/rfc2136"
)

// propagationTimeout bounds the wait for the challenge record to show up at
// the resolver.
const propagationTimeout = 2 * time.Minute

// acmeCerts manages ACME certificates with its own certmagic cache and
// config; certmagic.Default and the package-level cache are never used.
type acmeCerts struct {
	cache   *certmagic.Cache
	magic   *certmagic.Config
	logger  *slog.Logger
	metrics *metrics
}

func newDNSProvider(c Config) (certmagic.DNSProvider, error) {
	switch c.DNSProvider {
	case providerCloudflare:
		token, err := readSecret(c.DNSAPITokenFile)
		if err != nil {
			return nil, fmt.Errorf("--dns-api-token-file: %w", err)
		}
		p := &cloudflare.Provider{APIToken: token}
		if c.HTTPClient != nil {
			p.HTTPClient = c.HTTPClient
		}
		return p, nil
	case providerRFC2136:
		key, err := readTSIGSecret(c.RFC2136KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--rfc2136-key-file: %w", err)
		}
		return &rfc2136.Provider{KeyName: c.RFC2136KeyName, KeyAlg: c.keyAlg(), Key: key, Server: c.RFC2136Server}, nil
	}
	return nil, fmt.Errorf("--dns-provider: unknown provider %q", c.DNSProvider)
}

func newACMECerts(c Config, logger *slog.Logger, m *metrics) (*acmeCerts, error) {
	provider, err := newDNSProvider(c)
	if err != nil {
		return nil, err
	}
	zl := newZapLogger(logger)
	a := &acmeCerts{logger: logger, metrics: m}

	var magic *certmagic.Config
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		RenewCheckInterval: c.renewCheckInterval,
		Logger:             zl,
	})
	magic = certmagic.New(a.cache, certmagic.Config{
		Storage:            &certmagic.FileStorage{Path: c.StateDir},
		Logger:             zl,
		DefaultServerName:  c.Domains[0],
		RenewalWindowRatio: c.renewalWindowRatio,
		OnEvent:            a.onEvent,
		ShouldEmitFunc: func(event string) bool {
			return event == "cert_obtaining" || event == "cert_obtained" ||
				event == "cert_failed" || event == "cached_managed_cert"
		},
	})

	ca := c.ACMECA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	var dnsResolvers []string
	if c.DNSResolver != "" {
		r, err := resolverAddr(c.DNSResolver)
		if err != nil {
			return nil, fmt.Errorf("--dns-resolver: %w", err)
		}
		dnsResolvers = []string{r}
	}
	issuer := certmagic.ACMEIssuer{
		CA:                      ca,
		TestCA:                  ca, // never fall back to another CA
		Email:                   c.ACMEEmail,
		Agreed:                  true, // configuring the CA accepts its terms
		DisableHTTPChallenge:    true,
		DisableTLSALPNChallenge: true,
		DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider:        provider,
			Resolvers:          dnsResolvers,
			PropagationTimeout: propagationTimeout,
			Logger:             zl,
		}},
		Logger: zl,
	}
	if c.ACMECARoot != "" {
		if issuer.TrustedRoots, err = loadRoots(c.ACMECARoot); err != nil {
			return nil, fmt.Errorf("--acme-ca-root: %w", err)
		}
	}
	magic.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(magic, issuer)}
	a.magic = magic
	return a, nil
}

// manage loads each certificate from storage, or obtains it. A stored
// certificate that is still valid keeps serving when its renewal fails now
// (CA or DNS down): the background maintenance retries it.
func (a *acmeCerts) manage(ctx context.Context, domains []string) error {
	for _, d := range domains {
		err := a.magic.ManageSync(ctx, []string{d})
		if err == nil {
			continue
		}
		if !a.hasValidCert(d) {
			return fmt.Errorf("get tls certificate for %s: %w", d, err)
		}
		a.logger.Warn("tls certificate renewal failed at start; serving the stored certificate", "name", d, "err", err)
	}
	return nil
}

func (a *acmeCerts) hasValidCert(name string) bool {
	for _, c := range a.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && time.Now().Before(c.Leaf.NotAfter) {
			return true
		}
	}
	return false
}

// onEvent logs certificate events and keeps the metrics current. certmagic
// calls it synchronously, so it must return quickly.
func (a *acmeCerts) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtaining":
		if renewal, _ := data["renewal"].(bool); renewal {
			a.logger.Info("renewing tls certificate", "name", data["identifier"], "remaining", data["remaining"])
		} else {
			a.logger.Info("obtaining tls certificate", "name", data["identifier"])
		}
	case "cert_obtained":
		a.logger.Info("obtained tls certificate", "name", data["identifier"], "renewal", data["renewal"])
	case "cert_failed":
		a.metrics.failures.Inc()
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		a.logger.Error("tls certificate could not be obtained; the previous one, if any, keeps serving",
			"name", data["identifier"], "renewal", data["renewal"], "err", err)
	case "cached_managed_cert":
		names, _ := data["sans"].([]string)
		for _, n := range names {
			for _, c := range a.cache.AllMatchingCertificates(n) {
				a.metrics.setNotAfter(c.Leaf)
			}
		}
	}
	return nil
}

func (a *acmeCerts) close() { a.cache.Stop() }
