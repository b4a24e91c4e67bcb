package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/config"
)

func buildTLS(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, closers *[]func() error) (*tls.Config, error) {
	return nil, nil
}

func startRedirect(addr, httpsAddr string, h http.Handler, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	return nil, errors.New("not yet")
}
