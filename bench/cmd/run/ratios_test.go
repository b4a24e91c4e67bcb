package main

import (
	"math"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
)

func TestComputeRatios(t *testing.T) {
	measures := map[string]*Measure{
		"hit_rps": {ID: "hit_rps", Better: "higher", Values: map[string]stats.Summary{
			"ours": stats.Of([]float64{130, 120, 140}), "nginx": stats.Of([]float64{100, 100, 100})}},
		"closure_cold": {ID: "closure_cold", Better: "lower", Values: map[string]stats.Summary{
			"ours": stats.Of([]float64{12}), "ref": stats.Of([]float64{10}), "nginx": stats.Of([]float64{11})}},
		"ttfb": {ID: "ttfb", Better: "lower", Unit: "ms", Values: map[string]stats.Summary{
			"ours": stats.Of([]float64{14}), "ref": stats.Of([]float64{5})}},
	}
	got := map[string]Ratio{}
	for _, r := range computeRatios(measures) {
		got[r.ID] = r
	}
	tests := []struct {
		id       string
		median   float64
		min, max float64
		target   float64
		met      *bool
	}{
		{"hit_rps/nginx", 1.3, 1.2, 1.4, 1.25, ptr(true)},
		{"closure_cold/ref", 1.2, 1.2, 1.2, 1.10, ptr(false)},
		{"closure_cold/nginx", 12.0 / 11, 12.0 / 11, 12.0 / 11, 0, nil},
		{"ttfb/ref", 14.0 / 15, 14.0 / 15, 14.0 / 15, 1, ptr(true)}, // within 10 ms of 5 ms
	}
	for _, tt := range tests {
		r, ok := got[tt.id]
		if !ok {
			t.Errorf("no ratio %s", tt.id)
			continue
		}
		if !near(r.Median, tt.median) || !near(r.Min, tt.min) || !near(r.Max, tt.max) || !near(r.Target, tt.target) {
			t.Errorf("%s = %.3f (%.3f–%.3f) target %.3f; want %.3f (%.3f–%.3f) target %.3f",
				tt.id, r.Median, r.Min, r.Max, r.Target, tt.median, tt.min, tt.max, tt.target)
		}
		if (r.Met == nil) != (tt.met == nil) || (r.Met != nil && *r.Met != *tt.met) {
			t.Errorf("%s met = %v, want %v", tt.id, deref(r.Met), deref(tt.met))
		}
	}
	if n := got["ttfb/ref"].Note; n != "+9.0 ms vs upstream" {
		t.Errorf("ttfb note = %q", n)
	}
	if _, ok := got["hit_p99/nginx"]; ok {
		t.Errorf("ratio for a measure that was not taken")
	}
}

func ptr(b bool) *bool { return &b }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFloorTable(t *testing.T) {
	hits := &Measure{ID: "hit_rps", Name: "narinfo cache hits, 64 connections", Unit: "req/s", Better: "higher",
		Values: map[string]stats.Summary{
			"ours":  stats.Of([]float64{90, 100}),
			"nginx": stats.Of([]float64{100, 100}),
			"floor": stats.Of([]float64{100, 125}),
		}}
	r := &Report{index: map[string]*Measure{"hit_rps": hits}}
	got := r.floorTable()
	want := "| narinfo cache hits, 64 connections (req/s) | 112 (100–125) | 1.12× (1.00–1.25) | 0.84× (0.80–0.90) |\n"
	if !strings.Contains(got, want) {
		t.Errorf("floor table:\n%s\nwant the row\n%s", got, want)
	}
	if got := (&Report{index: map[string]*Measure{}}).floorTable(); got != "" {
		t.Errorf("floor table without a floor: %q", got)
	}
}
