package main

import (
	"fmt"
	"strings"
)

// ratioSpec says which ratios the report shows, and their targets.
type ratioSpec struct {
	id, other, of string
	target        float64
	targetText    string
}

func specs() []ratioSpec {
	return []ratioSpec{
		{"hit_rps", "nginx", "nginx proxy_cache", 1.25, "≥ 1.25× nginx"},
		{"hit_p99", "nginx", "nginx proxy_cache", 0, ""},
		{"miss_p50", "nginx", "nginx proxy_cache", 0, ""},
		{"miss_p50", "ref", "upstream direct", 0, ""},
		{"nar_miss_p50", "nginx", "nginx proxy_cache", 0, ""},
		{"nar_miss_p50", "ref", "upstream direct", 0, ""},
		{"nar_hit_1", "nginx", "nginx proxy_cache", 0, ""},
		{"nar_hit_16", "nginx", "nginx proxy_cache", 0.9, "≥ 0.9× nginx"},
		{"closure_cold", "nginx", "nginx proxy_cache", 0, ""},
		{"closure_cold", "ref", "upstream direct", 1.10, "≤ 1.10× upstream"},
		{"closure_warm", "nginx", "nginx proxy_cache", 0, ""},
		{"closure_warm", "ref", "upstream direct", 0, ""},
		{"ttfb", "nginx", "nginx proxy_cache", 0, ""},
		{"ttfb", "ref", "upstream direct", -10, "≤ upstream + 10 ms"},
		{"cold_nar", "nginx", "nginx proxy_cache", 0, ""},
		{"cold_nar", "ref", "upstream direct", 0, ""},
		{"rss_mirror", "nginx", "nginx proxy_cache", 0, ""},
		{"local_narinfo_rps", "nginx", "nginx static", 0.8, "≥ 0.8× nginx static"},
		{"local_nar_1", "nginx", "nginx static", 0, ""},
		{"local_nar_1", "ref", "nix-store --dump", 1.0, "≥ 1.0× nix-store --dump"},
		{"local_nar_16", "nginx", "nginx static", 0, ""},
		{"rss_local", "nginx", "nginx static", 0, ""},
	}
}

// computeRatios turns the measures into the ratios of specs. A negative
// target is an allowance in the measure's unit over the other's median
// (TTFB within 10 ms), turned into a ratio here.
func computeRatios(measures map[string]*Measure) []Ratio {
	var out []Ratio
	for _, s := range specs() {
		m, ok := measures[s.id]
		if !ok {
			continue
		}
		target := s.target
		if target < 0 {
			if ref := m.Values[s.other]; ref.Valid() && ref.Median > 0 {
				target = (ref.Median - target) / ref.Median
			} else {
				target = 0
			}
		}
		r, ok := ratio(m, s.other, "ours ÷ "+s.of, target, s.targetText)
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// section is where a measure belongs in the report.
func section(id string) string {
	switch id {
	case "local_narinfo_rps", "local_narinfo_p99", "local_nar_1", "local_nar_16", "rss_local":
		return "local"
	}
	return "mirror"
}

// short labels a ratio in the chart: the measure, briefly, and what ours is divided by.
func (r Ratio) short() string {
	name, ok := shortNames[strings.SplitN(r.ID, "/", 2)[0]]
	if !ok {
		name = r.Name
	}
	return fmt.Sprintf("%s ÷ %s", name, strings.TrimPrefix(r.Of, "ours ÷ "))
}

var shortNames = map[string]string{
	"hit_rps":           "narinfo hits req/s",
	"hit_p99":           "narinfo hits p99",
	"miss_p50":          "narinfo miss p50",
	"nar_miss_p50":      "small NAR miss p50",
	"nar_hit_1":         "NAR hits MB/s ×1",
	"nar_hit_16":        "NAR hits MB/s ×16",
	"closure_cold":      "cold closure time",
	"closure_warm":      "warm closure time",
	"ttfb":              "cold NAR TTFB",
	"cold_nar":          "cold NAR download",
	"rss_mirror":        "peak RSS",
	"local_narinfo_rps": "signed narinfo req/s",
	"local_nar_1":       "NAR MB/s ×1",
	"local_nar_16":      "NAR MB/s ×16",
	"rss_local":         "peak RSS",
}
