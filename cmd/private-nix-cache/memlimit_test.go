package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/config"
)

func TestMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()

	debug.SetMemoryLimit(math.MaxInt64)
	if n, err := applyMemoryLimit(&cfg, "", log); err != nil || n != 160<<20 || debug.SetMemoryLimit(-1) != 160<<20 {
		t.Errorf("default: %d, %v; runtime has %d", n, err, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(1 << 30)
	if n, _ := applyMemoryLimit(&cfg, "1GiB", log); n != 1<<30 {
		t.Errorf("GOMEMLIMIT set: limit %d, want the runtime's own", n)
	}
	cfg.MemoryLimit = "0"
	debug.SetMemoryLimit(math.MaxInt64)
	if n, _ := applyMemoryLimit(&cfg, "", log); n != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("memory-limit 0: %d, runtime %d", n, debug.SetMemoryLimit(-1))
	}
}
