package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/scale"
)

// scaleRow is what the scale phase found at one number of narinfos.
type scaleRow struct {
	NarInfos int              `json:"narinfos"`
	NARs     int              `json:"nars"`
	Fill     scale.FillResult `json:"fill"`
	Read     scale.ReadResult `json:"read"`
}

// scaleFlags adds the flags of the scale phase to fs; the function it
// returns applies their defaults once fs is parsed.
func (cfg *settings) scaleFlags(fs *flag.FlagSet) func() error {
	var sizes string
	fs.StringVar(&sizes, "scale", "", "narinfos in the store of the scale phase, a comma-separated `LIST` (default 10000,100000; quick 5000)")
	fs.DurationVar(&cfg.scaleDuration, "scale-duration", 0, "random reads at each size of the scale phase (default 1m, quick 3s)")
	fs.StringVar(&cfg.scaleBin, "scale-bin", "", "bench/cmd/scale binary the scale phase runs (bench/run builds one); empty: no scale phase")
	return func() error {
		if sizes == "" {
			sizes = "10000,100000"
			if cfg.quick {
				sizes = "5000"
			}
		}
		var err error
		if cfg.scaleSizes, err = parseSizes(sizes); err != nil {
			return fmt.Errorf("--scale: %w", err)
		}
		if cfg.scaleDuration <= 0 {
			cfg.scaleDuration = time.Minute
			if cfg.quick {
				cfg.scaleDuration = 3 * time.Second
			}
		}
		return nil
	}
}

// parseSizes reads "10000,100000" (underscores allowed: 1_000_000).
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 0, 64)
		if err != nil || n < 100 || n > 10_000_000 {
			return nil, fmt.Errorf("want numbers of narinfos from 100 to 10,000,000, got %q", f)
		}
		out = append(out, int(n))
	}
	return out, nil
}

// scalePhase fills a fresh disk store at each size and reads it, each
// step in its own bench/cmd/scale process.
func (b *bench) scalePhase(ctx context.Context) error {
	if b.cfg.scaleBin == "" {
		if b.cfg.only == "scale" {
			return errors.New("--scale-bin is required")
		}
		b.logf("scale: no --scale-bin, phase skipped")
		return nil
	}
	for _, n := range b.cfg.scaleSizes {
		row, err := b.scaleRun(ctx, n)
		if err != nil {
			return fmt.Errorf("%d narinfos: %w", n, err)
		}
		b.scale = append(b.scale, row)
	}
	return nil
}

func (b *bench) scaleRun(ctx context.Context, n int) (scaleRow, error) {
	row := scaleRow{NarInfos: n, NARs: scale.NARCount(n)}
	dir, err := b.tempDir("scale-")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	b.logf("scale: filling a store with %d narinfos and %d NAR files", n, row.NARs)
	base := []string{"-dir", dir, "-n", strconv.Itoa(n)}
	if err := b.scaleChild(ctx, &row.Fill, append([]string{"-mode", "fill"}, base...)...); err != nil {
		return row, err
	}
	f := row.Fill
	b.logf("scale: %.0f narinfos/s, index %.0f B per narinfo; random reads for %v", f.InsertPerSecond, f.BytesPerNarInfo, b.cfg.scaleDuration)
	readArgs := append([]string{"-mode", "read", "-duration", b.cfg.scaleDuration.String()}, base...)
	if err := b.scaleChild(ctx, &row.Read, readArgs...); err != nil {
		return row, err
	}
	r := row.Read
	b.logf("scale: serving after %.0f ms; miss p99 %.1f µs; peak RSS %.0f MiB; Close %.0f ms",
		r.ServingSeconds*1e3, r.Miss.P99, float64(r.PeakRSS)/(1<<20), r.CloseSeconds*1e3)
	return row, nil
}

// scaleChild runs the scale binary with args and decodes what it prints into v.
func (b *bench) scaleChild(ctx context.Context, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, b.cfg.scaleBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, b.log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", b.cfg.scaleBin, strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("%s %s printed no result: %w", b.cfg.scaleBin, strings.Join(args, " "), err)
	}
	return nil
}
