package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/fixture"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/nginx"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

// fleetResult is what the fleet phase found besides its measures.
type fleetResult struct {
	Network     string `json:"network"`
	Fixture     string `json:"fixture"`
	NarBytes    int64  `json:"nar_bytes"`
	Compression string `json:"mirror_compression"` // what the mirror handed out, warm
	NginxComp   string `json:"nginx_compression"`
	Runs        int    `json:"runs"`
}

// fleetPhase times a fleet host updating: nix copy of a closure of real
// binaries (xz upstream, as cache.nixos.org) straight from the upstream,
// and through nginx proxy_cache and private-nix-cache on the bastion,
// cold and warm, with the bastion's CPU time in the cold runs.
func (b *bench) fleetPhase(ctx context.Context) error {
	root, err := fixture.CacheRoot()
	if err != nil {
		return err
	}
	fl, err := fixture.GetFleet(ctx, root, b.cfg.fleet, b.log)
	if err != nil {
		return err
	}
	pl := newFleetPlace(ctx, b.cfg.fleetNet, b.cfg.quick)
	defer pl.close()
	pl.splitCPUs(b.cfg.fleetCPUs == "split")
	b.logf("fleet: %s", pl.note)
	b.fleet = &fleetResult{Network: pl.note, NarBytes: fl.NarBytes, Runs: b.cfg.fleetReps,
		Fixture: fmt.Sprintf("%d store paths, %d files copied from this machine's %s; NAR %.0f MB, xz %.0f MB (as cache.nixos.org serves it), signed by %s",
			len(fl.Paths), fl.Files, strings.Join(fixture.FleetSources, ", "), float64(fl.NarBytes)/1e6, float64(fl.FileBytes)/1e6, fl.KeyName)}

	up, err := b.fleetNginx(pl, roleUpstream, "ref", "upstream (nginx static, xz)", nginx.Site{Root: fl.Cache()})
	if err != nil {
		return err
	}
	defer up.stop()
	var ng, ours *contender
	defer func() { ng.stop(); ours.stop() }()
	for rep := 0; rep < b.cfg.fleetReps; rep++ {
		ng.stop()
		ours.stop()
		if ng, err = b.fleetNginx(pl, roleBastion, "nginx", "nginx proxy_cache (bastion)", nginx.Site{Upstream: up.url}); err != nil {
			return err
		}
		if ours, err = b.fleetOurs(pl, up, fl.PublicKey); err != nil {
			return err
		}
		b.logf("fleet run %d/%d: nix copy of %d paths (%.0f MB of NAR), direct and through cold mirrors, then warm",
			rep+1, b.cfg.fleetReps, len(fl.Paths), float64(fl.NarBytes)/1e6)
		for _, c := range rotate([]*contender{up, ng, ours}, rep) {
			if err := b.fleetRun(ctx, pl, fl, c, "cold"); err != nil {
				return err
			}
		}
		for _, c := range rotate([]*contender{ng, ours}, rep) {
			if err := b.fleetRun(ctx, pl, fl, c, "warm"); err != nil {
				return err
			}
		}
	}
	// What each mirror hands out once it holds the closure.
	if b.fleet.Compression, err = b.fleetCompression(ctx, pl, ours, fl); err != nil {
		return err
	}
	b.fleet.NginxComp, err = b.fleetCompression(ctx, pl, ng, fl)
	return err
}

// fleetRun copies the closure from c once and records the time and the
// CPU seconds c spent per GB of NAR; the upstream's one run counts as
// both its cold and its warm figure (a static server has no cold state).
func (b *bench) fleetRun(ctx context.Context, pl *fleetPlace, fl *fixture.Fleet, c *contender, state string) error {
	before, err := c.p.CPUSeconds()
	if err != nil {
		return err
	}
	d, err := b.fleetCopy(ctx, pl, fl, c.url)
	if err != nil {
		return fmt.Errorf("%s (%s): %w", c.name, state, err)
	}
	after, err := c.p.CPUSeconds()
	if err != nil {
		return err
	}
	perGB := (after - before) / (float64(fl.NarBytes) / 1e9)
	b.logf("fleet: %s %s: %.2f s, %.2f CPU s per GB", c.name, state, d.Seconds(), perGB)
	if c.key == "ref" {
		b.record("fleet_cold", "fleet update: nix copy, cold mirror", "s", "lower", c, d.Seconds())
		b.record("fleet_warm", "fleet update: nix copy, warm mirror", "s", "lower", c, d.Seconds())
		return nil
	}
	b.record("fleet_"+state, "fleet update: nix copy, "+state+" mirror", "s", "lower", c, d.Seconds())
	if state == "cold" {
		b.record("fleet_cold_cpu", "bastion CPU s per GB re-encoded (cold mirror)", "CPU s/GB", "lower", c, perGB)
	} else {
		b.record("fleet_warm_cpu", "bastion CPU s per GB served (warm mirror)", "CPU s/GB", "lower", c, perGB)
	}
	return nil
}

// fleetCopy runs nix copy of the fleet closure from base into a fresh
// chroot store in the client's namespace, signatures required.
func (b *bench) fleetCopy(ctx context.Context, pl *fleetPlace, fl *fixture.Fleet, base string) (time.Duration, error) {
	dir, err := b.tempDir("fleet-copy-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	env := fixture.NixEnv(dir + "/xdg-cache")
	name, args := "nix", []string{"copy", "--from", base, "--to", dir + "/store",
		"--option", "require-sigs", "true",
		"--option", "trusted-public-keys", fl.PublicKey + " " + b.ourPublic, fl.Root}
	if w := pl.wrap(roleClient); w != nil {
		name, args = w(name, args...)
	}
	start := time.Now()
	if _, err := proc.Output(ctx, env, name, args...); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// fleetCompression reads the Compression of a narinfo of the closure
// from c, as the client sees it.
func (b *bench) fleetCompression(ctx context.Context, pl *fleetPlace, c *contender, fl *fixture.Fleet) (string, error) {
	ni, err := getNarInfo(ctx, pl.client, c.url, fl.Paths[0])
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	if ni.Compression == "" {
		return "bzip2 (no Compression field)", nil
	}
	return ni.Compression, nil
}
