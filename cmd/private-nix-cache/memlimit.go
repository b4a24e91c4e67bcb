package main

import (
	"log/slog"
	"runtime/debug"

	"github.com/private-nix-cache/private-nix-cache/config"
)

// applyMemoryLimit sets the runtime's soft memory limit from
// memory-limit, unless GOMEMLIMIT (gomemlimit, the environment's) is set:
// an operator's own setting wins. It returns the limit in force; 0 when
// none was set.
func applyMemoryLimit(cfg *config.Config, gomemlimit string, log *slog.Logger) (int64, error) {
	if gomemlimit != "" {
		log.Debug("memory limit from GOMEMLIMIT", "GOMEMLIMIT", gomemlimit)
		return debug.SetMemoryLimit(-1), nil
	}
	n, err := cfg.MemoryLimitBytes()
	if err != nil || n == 0 {
		return 0, err
	}
	debug.SetMemoryLimit(n)
	return n, nil
}
