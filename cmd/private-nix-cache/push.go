package main

import (
	"context"
	"fmt"
	"time"

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
		if len(cfg.PushTrustedPublicKeys) > 0 || cfg.PushMaxAge > 0 {
			log.Warn("push settings without a push token: uploads are refused")
		}
		return nil
	}
	trusted, err := pushTrustedKeys(cfg, keys)
	if err != nil {
		return err
	}
	if err := checkPushKeys(opts, trusted, keys); err != nil {
		return err
	}
	if cfg.CacheDir == "" {
		return &config.Error{Key: "cache-dir", Err: fmt.Errorf("must be set to take uploads (a push token is configured)")}
	}
	maxUpload, maxStore, err := cfg.PushSizes()
	if err != nil {
		return err
	}
	st, err := a.openPushStore(pushedDir(cfg.CacheDir))
	if err != nil {
		return err
	}
	up, err := push.New(push.Options{
		Store:         st,
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
	if cfg.PushMaxAge > 0 {
		a.closers = append(a.closers, startExpiry(st, time.Duration(cfg.PushMaxAge), log))
	}
	log.Info("taking uploads", "dir", st.c.Dir(), "trusted-keys", len(trusted), "sign", len(keys) > 0,
		"push-max-size", cfg.PushMaxSize, "push-max-age", cfg.PushMaxAge.String())
	return nil
}

// openPushStore opens the pushed store in dir, closed with the app.
func (a *app) openPushStore(dir string) (*pushStore, error) {
	c, err := disk.Open(disk.Options{Dir: dir, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("pushed store: %w", err)
	}
	a.closers = append(a.closers, c.Close)
	ages, err := openPushAges(dir, time.Second)
	if err != nil {
		return nil, fmt.Errorf("pushed store: %w", err)
	}
	a.closers = append(a.closers, ages.Close)
	return newPushStore(c, ages), nil
}

// pushTrustedKeys are the keys an upload may be signed by to be taken
// from any push token: --push-trusted-public-key, and the server's own.
func pushTrustedKeys(cfg *config.Config, keys []signature.SecretKey) ([]signature.PublicKey, error) {
	trusted, err := parsePublicKeys(cfg.PushTrustedPublicKeys)
	if err != nil {
		return nil, err
	}
	if cfg.PushTrustOwnKeys {
		for _, k := range keys {
			trusted = append(trusted, k.ToPublicKey())
		}
	}
	return trusted, nil
}

// checkPushKeys refuses settings under which an upload could never be
// taken, or a sign token would sign nothing.
func checkPushKeys(opts *server.Options, trusted []signature.PublicKey, keys []signature.SecretKey) error {
	if opts.Access.Tokens.Grants(auth.Sign) && len(keys) == 0 {
		return &config.Error{Key: "token-file", Err: fmt.Errorf("a token of the sign scope needs --secret-key-file")}
	}
	if len(trusted) == 0 && len(keys) == 0 {
		return &config.Error{Key: "token-file", Err: fmt.Errorf("a push token needs --secret-key-file or --push-trusted-public-key")}
	}
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
