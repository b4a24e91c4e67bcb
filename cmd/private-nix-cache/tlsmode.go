package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/config"
	certs "github.com/private-nix-cache/private-nix-cache/tls"
)

// cloudflareClient replaces the Cloudflare API client in tests, which
// cannot reach Cloudflare.
var cloudflareClient *http.Client

func tlsConfigOf(cfg *config.Config) certs.Config {
	return certs.Config{
		HTTPClient:      cloudflareClient,
		Domains:         cfg.TLSDomains,
		ACMEEmail:       cfg.ACMEEmail,
		ACMECA:          cfg.ACMECA,
		ACMECARoot:      cfg.ACMECARoot,
		DNSProvider:     cfg.DNSProvider,
		DNSAPITokenFile: cfg.DNSAPITokenFile,
		RFC2136Server:   cfg.RFC2136Server,
		RFC2136KeyName:  cfg.RFC2136KeyName,
		RFC2136KeyAlg:   cfg.RFC2136KeyAlg,
		RFC2136KeyFile:  cfg.RFC2136KeyFile,
		DNSResolver:     cfg.DNSResolver,
		CertFile:        cfg.TLSCertFile,
		KeyFile:         cfg.TLSKeyFile,
		StateDir:        cfg.StateDir,
	}
}

// buildTLS returns nil when TLS is off. Settings errors are reported as
// such, so they exit with the code of bad usage.
func buildTLS(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, closers *[]func() error) (*tls.Config, error) {
	tc := tlsConfigOf(cfg)
	if !tc.Enabled() {
		if cfg.HTTPRedirectListen != "" {
			return nil, &config.Error{Key: "http-redirect-listen", Err: errNeedsTLS}
		}
		return nil, nil
	}
	if err := tc.Validate(); err != nil {
		return nil, usageError{err}
	}
	m, err := certs.New(ctx, tc, log, reg)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, m.Close)
	return m.TLSConfig(), nil
}

// startRedirect answers plain HTTP on addr with a redirect to HTTPS, except
// /nix-cache-info, which health checks may keep asking over HTTP.
func startRedirect(addr, httpsAddr string, h http.Handler, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	_, port, _ := net.SplitHostPort(httpsAddr)
	srv := &http.Server{
		Handler:           certs.RedirectHandler(port, h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &config.Error{Key: "http-redirect-listen", Err: err}
	}
	log.Info("redirecting plain HTTP", "addr", ln.Addr().String())
	go func() { errc <- srv.Serve(ln) }()
	return srv, nil
}
