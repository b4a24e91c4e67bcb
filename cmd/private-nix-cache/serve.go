package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/localstore"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/server"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

func serve(args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", "[flags]", stderr)
	cfg, err := config.Load(fs, args)
	if err != nil {
		return usageErr(err)
	}
	log := newLogger(cfg.LogLevel, stderr)
	if _, err := applyMemoryLimit(cfg, os.Getenv("GOMEMLIMIT"), log); err != nil {
		return settingErr(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	app, err := build(ctx, cfg, log)
	if err != nil {
		return settingErr(err)
	}
	defer app.close()
	return app.run(ctx)
}

var errNeedsTLS = errors.New("needs TLS (--tls-domain or --tls-cert-file)")

// settingErr gives errors that name a setting the exit code of bad usage.
func settingErr(err error) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return usageError{err}
	}
	return err
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// app is the wired server: built from the settings, run until a signal.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	handler http.Handler
	tls     *tls.Config
	closers []func() error
	// upstreams are probed in the background once the server listens, so
	// that refused credentials or an unreachable upstream show at start.
	upstreams *upstream.Set
	// metrics is served on --metrics-listen; nil when it is not set.
	metrics prometheus.Gatherer
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Warn("close", "err", err)
		}
	}
}

func build(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	keys, err := loadSecretKeys(cfg.SecretKeyFiles)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		log.Warn("no --secret-key-file: narinfos are served unsigned, as nix-serve does")
	}
	local, err := openLocalStore(cfg, log)
	if err != nil {
		return nil, err
	}
	opts := server.Options{Keys: keys, LocalCompression: cfg.LocalCompression, Priority: cfg.Priority, Logger: log, Registerer: reg, Gatherer: reg}
	if cfg.AccessLog {
		opts.AccessLog = log
	}
	for _, u := range cfg.Upstreams {
		opts.UpstreamNames = append(opts.UpstreamNames, u.URL)
	}
	if local != nil {
		a.closers = append(a.closers, local.Close)
		opts.Local = local
	}
	if err := a.wireAccess(&opts, reg); err != nil {
		a.close()
		return nil, err
	}
	m, err := buildMirror(cfg, keys, log, reg)
	if err != nil {
		a.close()
		return nil, err
	}
	if m != nil {
		a.closers = append(a.closers, m.close)
		opts.Mirror = m.mirror
		opts.Status = m.status
		a.upstreams = m.upstreams
		if err := a.startAdmin(m.cache); err != nil {
			a.close()
			return nil, err
		}
	}
	if err := a.wirePush(&opts, keys); err != nil {
		a.close()
		return nil, err
	}
	a.handler = server.New(opts)
	if a.tls, err = buildTLS(ctx, cfg, log, reg, &a.closers); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func loadSecretKeys(files []string) ([]signature.SecretKey, error) {
	var keys []signature.SecretKey
	for _, f := range files {
		if err := refusePublicKey("secret-key-file", f); err != nil {
			return nil, err
		}
		b, err := config.ReadSecret("secret-key-file", f)
		if err != nil {
			return nil, err
		}
		k, err := narinfo.ParseSecretKey(b)
		if err != nil {
			return nil, &config.Error{Key: "secret-key-file", Err: fmt.Errorf("%s: %w", f, err)}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func openLocalStore(cfg *config.Config, log *slog.Logger) (*localstore.Store, error) {
	if cfg.LocalStore == "false" {
		return nil, nil
	}
	st, err := localstore.Open(cfg.StoreRoot)
	switch {
	case err == nil:
		log.Info("serving the local store", "root", cfg.StoreRoot)
		return st, nil
	case errors.Is(err, fs.ErrNotExist) && cfg.LocalStore == "auto":
		log.Info("no local Nix store database: serving none", "root", cfg.StoreRoot)
		return nil, nil
	}
	return nil, &config.Error{Key: "local-store", Err: err}
}

func (a *app) run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         a.tls,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	ln, err := listen(a.cfg.Listen, a.log)
	if err != nil {
		return err
	}
	ln = limitConnections(ln, a.cfg, a.log)
	servers := []*http.Server{srv}
	errc := make(chan error, 3)
	if a.metrics != nil {
		ms, err := startMetrics(a.cfg.MetricsListen, a.metrics, a.log, errc)
		if err != nil {
			ln.Close()
			return err
		}
		servers = append(servers, ms)
	}
	if a.tls != nil {
		ln = tls.NewListener(ln, a.tls)
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "tls", a.tls != nil)
	go func() { errc <- srv.Serve(ln) }()
	if a.upstreams != nil {
		go a.upstreams.Probe(ctx)
	}

	if a.tls != nil && a.cfg.HTTPRedirectListen != "" {
		redirect, err := startRedirect(a.cfg.HTTPRedirectListen, a.cfg.Listen, a.handler, a.log, errc)
		if err != nil {
			srv.Close()
			return err
		}
		servers = append(servers, redirect)
	}
	go notifySystemd(ctx, a.log) // every listener is up

	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down")
		notifyStopping()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
