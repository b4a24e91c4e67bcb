package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/fill"
	"github.com/private-nix-cache/private-nix-cache/mirror"
	"github.com/private-nix-cache/private-nix-cache/server"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// builtMirror is the wired mirror and the parts main still needs.
type builtMirror struct {
	mirror    server.Mirror
	upstreams *upstream.Set // probed once the server listens
	cache     *disk.Cache   // reached by gc and verify through the admin socket
	close     func() error
}

// buildMirror wires the upstream clients, the on-disk cache and the mirror
// that joins them. No upstream means no mirror (nil).
func buildMirror(cfg *config.Config, keys []signature.SecretKey, log *slog.Logger, reg prometheus.Registerer) (*builtMirror, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, nil
	}
	if err := checkCredentialFiles(cfg); err != nil {
		return nil, err
	}
	ups := make([]upstream.Config, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		ups[i] = upstream.Config{URL: u.URL, Priority: u.Priority, PublicKeys: u.PublicKeys, TokenFile: u.TokenFile, NetrcFile: u.NetrcFile}
	}
	set, err := upstream.New(ups, upstream.Options{
		Trusted:          cfg.TrustedPublicKeys,
		NetrcFile:        cfg.NetrcFile,
		LookupTimeout:    time.Duration(cfg.UpstreamLookupTimeout),
		NARHeaderTimeout: time.Duration(cfg.UpstreamNARHeaderTimeout),
		Logger:           log,
		Registerer:       reg,
	})
	if err != nil {
		return nil, &config.Error{Key: "upstream", Err: err}
	}
	maxSize, err := cfg.MaxSizeBytes()
	if err != nil {
		return nil, err
	}
	opts := disk.Options{
		Dir:         cfg.CacheDir,
		MaxSize:     maxSize,
		NegativeTTL: time.Duration(cfg.NegativeTTL),
		Logger:      log,
		Registerer:  reg,
	}
	if err := upkeepOptions(cfg, &opts); err != nil {
		return nil, err
	}
	c, err := disk.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("--cache-dir: %w", err)
	}
	f := fill.New(c, fill.Options{Logger: log, Registerer: reg})
	m, err := mirror.New(mirror.Config{
		Cache:      c,
		Fill:       f,
		Upstreams:  set,
		Keys:       keys,
		Resign:     cfg.Resign,
		Logger:     log,
		Registerer: reg,

		Recompress:      cfg.Recompress,
		RecompressLevel: cfg.RecompressLevel,
	})
	if err != nil {
		f.Close()
		c.Close()
		return nil, err
	}
	names := make([]string, len(ups))
	for i, u := range ups {
		names[i] = u.URL
	}
	log.Info("mirroring", "upstreams", names, "cache-dir", cfg.CacheDir, "max-size", cfg.MaxSize, "resign", cfg.Resign && len(keys) > 0, "recompress", cfg.Recompress)
	closeAll := func() error {
		m.Close()
		f.Close() // the downloads, before the store they write into
		return c.Close()
	}
	return &builtMirror{mirror: m, upstreams: set, cache: c, close: closeAll}, nil
}

// checkCredentialFiles refuses token and netrc files that others can read,
// as for signing keys: a leaked token opens a private cache to anyone.
func checkCredentialFiles(cfg *config.Config) error {
	check := func(key, path string) error {
		if path == "" {
			return nil
		}
		_, err := config.ReadSecret(key, path)
		return err
	}
	if err := check("netrc-file", cfg.NetrcFile); err != nil {
		return err
	}
	for _, u := range cfg.Upstreams {
		if err := check("upstream", u.TokenFile); err != nil {
			return err
		}
		if err := check("upstream", u.NetrcFile); err != nil {
			return err
		}
	}
	return nil
}

// status is what the landing page shows of the upstreams and the cache.
func (b *builtMirror) status() server.Status {
	var st server.Status
	for _, u := range b.upstreams.Upstreams() {
		st.Upstreams = append(st.Upstreams, server.UpstreamStatus{Name: u.Name(), State: u.Status()})
	}
	bytes, files := b.cache.Size()
	st.Cache = &server.CacheStatus{Bytes: bytes, Files: files}
	return st
}
