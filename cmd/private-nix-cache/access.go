package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/private-nix-cache/private-nix-cache/auth"
	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/server"
)

// wireAccess loads the token files into opts, and moves /metrics off the
// main listener when --metrics-listen is set.
func (a *app) wireAccess(opts *server.Options, reg prometheus.Gatherer) error {
	tokens, err := loadTokens(a.cfg.TokenFiles)
	if err != nil {
		return err
	}
	cfg, log := a.cfg, a.log
	if cfg.Private && !tokens.Grants(auth.Read) {
		return &config.Error{Key: "private", Err: fmt.Errorf("no token of --token-file has the read or push scope")}
	}
	opts.Access = server.AccessOptions{Tokens: tokens, Private: cfg.Private}
	if cfg.MetricsListen != "" {
		opts.Gatherer, a.metrics = nil, reg
	} else if tokens.Len() > 0 && !tokens.Grants(auth.Metrics) {
		log.Warn("no token has the metrics scope: /metrics refuses every request (or set --metrics-listen)")
	}
	if tokens.Len() > 0 {
		log.Info("tokens loaded", "tokens", tokens.Len(), "private", cfg.Private)
		if !tlsConfigOf(cfg).Enabled() {
			log.Warn("tokens travel in clear text without TLS (--tls-domain or --tls-cert-file)")
		}
	}
	return nil
}

// loadTokens reads every token file into one set, refusing files others
// can read, as for signing keys.
func loadTokens(files []string) (*auth.Set, error) {
	var tokens []auth.Token
	for _, f := range files {
		b, err := config.ReadSecret("token-file", f)
		if err != nil {
			return nil, err
		}
		ts, err := auth.Parse(f, b)
		if err != nil {
			return nil, &config.Error{Key: "token-file", Err: err}
		}
		tokens = append(tokens, ts...)
	}
	set, err := auth.NewSet(tokens...)
	if err != nil {
		return nil, &config.Error{Key: "token-file", Err: err}
	}
	return set, nil
}

// startMetrics serves /metrics alone on addr, in plain HTTP and without a
// token: an address only the monitoring can reach.
func startMetrics(addr string, g prometheus.Gatherer, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &config.Error{Key: "metrics-listen", Err: err}
	}
	log.Info("serving metrics", "addr", ln.Addr().String())
	go func() { errc <- srv.Serve(ln) }()
	return srv, nil
}
