package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
)

func fleetReport() *Report {
	m := func(id, name, unit string, v map[string][]float64) *Measure {
		ms := &Measure{ID: id, Name: name, Unit: unit, Better: "lower", Values: map[string]stats.Summary{}, Who: map[string]string{}}
		for k, s := range v {
			ms.Values[k] = stats.Of(s)
		}
		return ms
	}
	measures := map[string]*Measure{
		"fleet_cold":     m("fleet_cold", "fleet update: nix copy, cold mirror", "s", map[string][]float64{"ref": {30, 32}, "nginx": {31, 33}, "ours": {33, 35}}),
		"fleet_warm":     m("fleet_warm", "fleet update: nix copy, warm mirror", "s", map[string][]float64{"ref": {30, 32}, "nginx": {8, 9}, "ours": {2.5, 3}}),
		"fleet_cold_cpu": m("fleet_cold_cpu", "bastion CPU s per GB re-encoded (cold mirror)", "CPU s/GB", map[string][]float64{"nginx": {1, 1.2}, "ours": {60, 70}}),
	}
	r := &Report{Fleet: &fleetResult{Network: "loopback (quick run)", Fixture: "3 paths <&>", Compression: "xz", NginxComp: "xz", Runs: 2},
		index: map[string]*Measure{}}
	for _, id := range []string{"fleet_cold", "fleet_warm", "fleet_cold_cpu"} {
		r.Measures = append(r.Measures, measures[id])
		r.index[id] = measures[id]
	}
	r.Ratios = computeRatios(measures)
	return r
}

func TestFleetTableShowsRatiosAndCompression(t *testing.T) {
	r := fleetReport()
	md := r.Markdown("bench/results/latest.svg")
	for _, want := range []string{
		"### Fleet update",
		"![fleet update](bench/results/latest-fleet.svg)",
		"| compression handed out (narinfo, warm) | xz | xz | xz |",
		"bastion CPU s per GB re-encoded",
		"ours ÷ nginx proxy_cache: 0.32× (0.31–0.33); target ≤ 0.35× nginx (met)",
		"ours ÷ upstream direct: 1.10× (1.09–1.10); target ≤ 1.05× upstream (not met)",
		"The mirror handed out xz",
		"median of 2 runs",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Sections without measures are left out.
	if strings.Contains(md, "Local store values") || strings.Contains(md, "Mirror (pull-through) values") {
		t.Errorf("markdown shows empty sections:\n%s", md)
	}
	r.Fleet.Compression = "zstd"
	if md := r.Markdown(""); strings.Contains(md, "handed out zstd: it passes") || strings.Contains(md, "![fleet update]") {
		t.Errorf("zstd mirror described as passing NARs on, or chart without name:\n%s", md)
	}
}

func TestFleetSVGIsWellFormedAndWritten(t *testing.T) {
	r := fleetReport()
	out := fleetSVG(r)
	d := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("fleet svg is not well-formed XML: %v\n%s", err, out)
		}
	}
	for _, want := range []string{"upstream direct", "nginx proxy_cache", "private-nix-cache mirror", "cold mirror", "warm mirror", "handed out xz"} {
		if !strings.Contains(out, want) {
			t.Errorf("fleet svg lacks %q", want)
		}
	}
	dir := t.TempDir()
	if _, _, _, err := r.write(dir, "stamp"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest-fleet.svg")); err != nil {
		t.Errorf("write made no fleet chart: %v", err)
	}
}

func TestKeepOtherPhasesAddsPreviousMeasures(t *testing.T) {
	dir := t.TempDir()
	prev := fleetReport()
	hit := &Measure{ID: "hit_rps", Name: "narinfo cache hits, 64 connections", Unit: "req/s", Better: "higher",
		Values: map[string]stats.Summary{"ours": stats.Of([]float64{100}), "nginx": stats.Of([]float64{80})}}
	prev.Measures = append(prev.Measures, hit)
	prev.Date, prev.Command = "2026-01-01 00:00 UTC", "bench/run"
	if _, _, _, err := prev.write(dir, "prev"); err != nil {
		t.Fatal(err)
	}
	rep := fleetReport()
	rep.Measures[0].Values["ours"] = stats.Of([]float64{99})
	if err := keepOtherPhases(rep, "fleet", dir); err != nil {
		t.Fatal(err)
	}
	if rep.index["hit_rps"] == nil {
		t.Fatalf("the mirror measure of the previous run was not kept")
	}
	if got := rep.index["fleet_cold"].Values["ours"].Median; got != 99 {
		t.Errorf("fleet_cold replaced by the previous run's: %v", got)
	}
	md := rep.Markdown("")
	if !strings.Contains(md, "only the fleet phase") || !strings.Contains(md, "narinfo cache hits") {
		t.Errorf("markdown lacks the kept measures or their note:\n%s", md)
	}
}
