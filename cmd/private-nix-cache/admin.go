package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/config"
)

// upkeepOptions sets the cache's scrub and free-space floor from cfg.
func upkeepOptions(cfg *config.Config, opts *disk.Options) error {
	rate, err := cfg.ScrubRateBytes()
	if err != nil {
		return err
	}
	if rate > 0 && cfg.ScrubInterval > 0 {
		opts.ScrubInterval, opts.ScrubRate = time.Duration(cfg.ScrubInterval), rate
	}
	opts.MinFreeBytes, opts.MinFreePercent, err = cfg.MinFreeSetting()
	return err
}

// startAdmin serves gc and verify on the admin socket (mode 0600: root
// and the server's user), and links it from the cache directory so that
// `gc --cache-dir DIR` finds it.
func (a *app) startAdmin(c *disk.Cache) error {
	path := a.cfg.AdminSocketPath()
	ln, err := disk.ListenAdmin(path)
	if err != nil {
		// Serving matters more than maintenance: without the socket, gc
		// and verify only need the server stopped (a unix socket path is
		// also limited to 107 bytes).
		a.log.Warn("no admin socket; gc and verify need the server stopped", "path", path, "err", err)
		return nil
	}
	link := filepath.Join(c.Dir(), disk.AdminLinkName)
	if link != path {
		os.Remove(link)
		if err := os.Symlink(path, link); err != nil {
			a.log.Warn("link the admin socket from the cache dir", "link", link, "err", err)
		}
	}
	srv := &http.Server{Handler: adminMux(c), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	a.log.Info("admin socket", "path", path)
	a.closers = append(a.closers, func() error {
		if link != path {
			os.Remove(link)
		}
		return srv.Close()
	})
	return nil
}

// adminMux is the cache's maintenance commands plus Go's profiles under
// /debug/pprof/: the socket is reachable by root and the server's user
// only, so a memory or CPU question can be asked of a running server.
func adminMux(c *disk.Cache) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", c.AdminHandler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// adminSockets are the sockets a maintenance command tries, in order:
// the one named by --admin-socket alone, else the link in the cache
// directory and the socket the configuration names.
func adminSockets(c *config.Config, flagged string) []string {
	if flagged != "" {
		return []string{flagged}
	}
	link := filepath.Join(c.CacheDir, disk.AdminLinkName)
	if p := c.AdminSocketPath(); p != link {
		return []string{link, p}
	}
	return []string{link}
}

// viaAdmin runs call against the first socket a server answers on; false
// when none does, and the command is to open the directory itself.
func viaAdmin(socks []string, call func(ctx context.Context, sock string) error) (bool, error) {
	for _, sock := range socks {
		err := call(context.Background(), sock)
		if errors.Is(err, disk.ErrNoServer) {
			continue
		}
		if err != nil {
			return true, fmt.Errorf("running server: %w", err)
		}
		return true, nil
	}
	return false, nil
}
