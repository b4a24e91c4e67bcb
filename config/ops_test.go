package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpsSettings(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if b, p, err := c.MinFreeSetting(); err != nil || b != 0 || p != 5 {
		t.Errorf("default min-free = %d bytes, %v%%, %v", b, p, err)
	}
	if r, err := c.ScrubRateBytes(); err != nil || r != 20_000_000 || time.Duration(c.ScrubInterval) != 168*time.Hour {
		t.Errorf("default scrub: %d B/s every %s, %v", r, time.Duration(c.ScrubInterval), err)
	}
	if m, err := c.MemoryLimitBytes(); err != nil || m != 160<<20 {
		t.Errorf("default memory-limit = %d, %v", m, err)
	}
	if c.AdminSocketPath() != filepath.Join(c.StateDir, "admin.sock") {
		t.Errorf("default admin socket %s", c.AdminSocketPath())
	}
	p := writeFile(t, "min-free = \"2GiB\"\nscrub-interval = \"0s\"\nadmin-socket = \"/run/pnc/admin.sock\"\n")
	if c, err = load(t, "--config", p); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := c.MinFreeSetting(); b != 2<<30 || c.ScrubInterval != 0 || c.AdminSocketPath() != "/run/pnc/admin.sock" {
		t.Errorf("from file: min-free %d, scrub %s, socket %s", b, time.Duration(c.ScrubInterval), c.AdminSocketPath())
	}
	if c, err = load(t, "--config", p, "--min-free", "12.5%"); err != nil {
		t.Fatal(err)
	}
	if _, pc, _ := c.MinFreeSetting(); pc != 12.5 {
		t.Errorf("flag wins: %v%%", pc)
	}
	for _, args := range [][]string{{"--min-free", "150%"}, {"--min-free", "lots"}, {"--scrub-rate", "fast"},
		{"--scrub-interval", "-1h"}, {"--memory-limit", "much"}, {"--admin-socket", "admin.sock"}} {
		if _, err := load(t, args...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: err = %v", args, err)
		}
	}
}
