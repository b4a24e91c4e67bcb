package main

import (
	"context"
	"fmt"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/auth"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/push"
	"github.com/private-nix-cache/private-nix-cache/server"
)

// wirePush takes uploads when a token has the push scope: into a store
// of their own under the cache dir, which the mirror's eviction never
// touches. Without such a token PUT stays refused.
func (a *app) wirePush(opts *server.Options, keys []signature.SecretKey) error {
	cfg, log := a.cfg, a.log
	if !opts.Access.Tokens.Grants(auth.Push) {
		if len(cfg.PushTrustedPublicKeys) > 0 {
			log.Warn("--push-trusted-public-key without a push token: uploads are refused")
		}
		return nil
	}
	trusted, err := parsePublicKeys(cfg.PushTrustedPublicKeys)
	if err != nil {
		return err
	}
	if len(trusted) == 0 && len(keys) == 0 {
		return &config.Error{Key: "token-file", Err: fmt.Errorf("a push token needs --secret-key-file or --push-trusted-public-key")}
	}
	if cfg.CacheDir == "" {
		return &config.Error{Key: "cache-dir", Err: fmt.Errorf("must be set to take uploads (a push token is configured)")}
	}
	maxUpload, maxStore, err := cfg.PushSizes()
	if err != nil {
		return err
	}
	dir := pushedDir(cfg.CacheDir)
	c, err := disk.Open(disk.Options{Dir: dir, Logger: log})
	if err != nil {
		return fmt.Errorf("pushed store: %w", err)
	}
	a.closers = append(a.closers, c.Close)
	up, err := push.New(push.Options{
		Store:         pushStore{c},
		Known:         knownElsewhere(opts),
		Trusted:       trusted,
		SignKeys:      keys,
		MaxUploadSize: maxUpload,
		MaxStoreSize:  maxStore,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	opts.Push = up
	log.Info("taking uploads", "dir", dir, "trusted-keys", len(trusted), "sign", len(keys) > 0, "push-max-size", cfg.PushMaxSize)
	return nil
}

func parsePublicKeys(ss []string) ([]signature.PublicKey, error) {
	var keys []signature.PublicKey
	for _, s := range ss {
		k, err := narinfo.ParsePublicKey(s)
		if err != nil {
			return nil, &config.Error{Key: "push-trusted-public-key", Err: err}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// knownElsewhere reports whether the local store or the mirror has a
// path: references of an upload may point there.
func knownElsewhere(opts *server.Options) func(context.Context, string) bool {
	local, mirror := opts.Local, opts.Mirror
	return func(ctx context.Context, hashPart string) bool {
		if local != nil {
			if _, err := local.PathInfo(ctx, hashPart); err == nil {
				return true
			}
		}
		if mirror != nil {
			if _, err := mirror.NarInfo(ctx, hashPart); err == nil {
				return true
			}
		}
		return false
	}
}
