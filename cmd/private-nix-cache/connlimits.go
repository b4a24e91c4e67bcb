package main

import (
	"log/slog"
	"net"
	"time"

	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/internal/connlimit"
)

// limitConnections raises the open file limit and caps the connections of
// ln, so that clients holding responses unread cannot run the process out
// of descriptors.
func limitConnections(ln net.Listener, cfg *config.Config, log *slog.Logger) net.Listener {
	nofile, err := connlimit.RaiseOpenFileLimit()
	if err != nil {
		log.Warn("open file limit", "err", err)
	}
	opts := connlimit.Options{
		Max:        cfg.MaxConnections,
		MaxPerAddr: cfg.MaxConnectionsPerIP,
		WriteStall: time.Duration(cfg.WriteStallTimeout),
	}
	if opts.Max == 0 && nofile > 0 {
		opts.Max = connlimit.MaxForFileLimit(nofile)
	}
	log.Info("connection limits", "max", opts.Max, "per-ip", opts.MaxPerAddr, "write-stall", opts.WriteStall, "open-files", nofile)
	return connlimit.NewListener(ln, opts)
}
