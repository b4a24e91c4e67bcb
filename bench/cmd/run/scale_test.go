package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/scale"
)

func scaleReport() *Report {
	row := scaleRow{NarInfos: 100000, NARs: 10000,
		Fill: scale.FillResult{InsertPerSecond: 21000, BytesPerNarInfo: 1750.4},
		Read: scale.ReadResult{Readers: 2, ReadSeconds: 60, ServingSeconds: 0.0423, LookupsPerSec: 90000,
			Hit:     scale.Latency{P50: 0.61, P99: 3.2},
			Miss:    scale.Latency{P50: 14.5, P99: 180},
			PeakRSS: 300 << 20, RSSAnon: 40 << 20, RSSFile: 250 << 20, CloseSeconds: 1.5}}
	return &Report{Scale: []scaleRow{row}, index: map[string]*Measure{}}
}

func TestScaleTableShowsFiguresAndTargets(t *testing.T) {
	md := scaleReport().Markdown("")
	for _, want := range []string{
		"### Index at scale",
		"read for 1 min by 2 goroutines",
		"| 100,000 | 10,000 | 21000 | 1750 | 42.3 | 0.610 / 3.20 | 14.5 | 180 | 90000 | 300 (40.0 + 250) | 1500 |",
		"| **target at 1,000,000** | 100,000 | ≥ 25,000 | ≤ 1,200 | < 1,000 | – | – | ≤ 50 | – | < 200 | < 1,000 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// No ratios were measured: no empty ratio table.
	if strings.Contains(md, "### Ratios") {
		t.Errorf("markdown shows an empty ratio table:\n%s", md)
	}
	if md := (&Report{index: map[string]*Measure{}}).Markdown(""); strings.Contains(md, "Index at scale") {
		t.Errorf("scale table without a scale phase:\n%s", md)
	}
}

func TestScaleFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--server", "x", "--quick"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.scaleSizes, []int{5000}) || cfg.scaleDuration != 3*time.Second {
		t.Errorf("quick: sizes %v for %v, want [5000] for 3s", cfg.scaleSizes, cfg.scaleDuration)
	}
	cfg, err = parseFlags([]string{"--server", "x", "--only", "scale", "--scale", "10000, 1_000_000", "--scale-duration", "10s"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.scaleSizes, []int{10000, 1000000}) || cfg.scaleDuration != 10*time.Second || cfg.only != "scale" {
		t.Errorf("sizes %v for %v (only %q), want [10000 1000000] for 10s, only scale", cfg.scaleSizes, cfg.scaleDuration, cfg.only)
	}
	cfg, err = parseFlags([]string{"--server", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.scaleSizes, []int{10000, 100000}) || cfg.scaleDuration != time.Minute {
		t.Errorf("full: sizes %v for %v, want [10000 100000] for 1m", cfg.scaleSizes, cfg.scaleDuration)
	}
	for _, bad := range []string{"", "10k", "5", "100,-3", "20000000"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) took it", bad)
		}
	}
}

func TestKeepOtherPhasesKeepsTheScaleTable(t *testing.T) {
	dir := t.TempDir()
	prev := fleetReport()
	prev.Scale = scaleReport().Scale
	prev.Date, prev.Command = "2026-01-01 00:00 UTC", "bench/run"
	if _, _, _, err := prev.write(dir, "prev"); err != nil {
		t.Fatal(err)
	}
	rep := fleetReport()
	if err := keepOtherPhases(rep, "fleet", dir); err != nil {
		t.Fatal(err)
	}
	if len(rep.Scale) != 1 || rep.Scale[0].NarInfos != 100000 {
		t.Errorf("the scale rows of the previous run were not kept: %+v", rep.Scale)
	}
	// A run of the scale phase keeps its own rows and the other measures.
	rep = scaleReport()
	rep.Scale[0].NarInfos = 5000
	if err := keepOtherPhases(rep, "scale", dir); err != nil {
		t.Fatal(err)
	}
	if rep.Scale[0].NarInfos != 5000 || rep.index["fleet_cold"] == nil {
		t.Errorf("scale rows %+v replaced, or the fleet measures not kept", rep.Scale)
	}
	if md := rep.Markdown(""); !strings.Contains(md, "only the scale phase") {
		t.Errorf("markdown lacks the note on kept figures:\n%s", md)
	}
}
