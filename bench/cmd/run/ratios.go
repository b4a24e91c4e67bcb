package main

import (
	"fmt"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
)

// ratioSpec says which ratios the report shows, and their targets.
type ratioSpec struct {
	id, other, of string
	target        float64
	targetText    string
	// allowance is added to the other's values before dividing: "within
	// 10 ms of the upstream" becomes ours ÷ (upstream + 10 ms) ≤ 1.
	allowance float64
}

func specs() []ratioSpec {
	return []ratioSpec{
		{"hit_rps", "nginx", "nginx proxy_cache", 1.25, "≥ 1.25× nginx", 0},
		{"hit_p99", "nginx", "nginx proxy_cache", 0, "", 0},
		{"miss_p50", "nginx", "nginx proxy_cache", 0, "", 0},
		{"miss_p50", "ref", "upstream direct", 0, "", 0},
		{"nar_miss_p50", "nginx", "nginx proxy_cache", 0, "", 0},
		{"nar_miss_p50", "ref", "upstream direct", 0, "", 0},
		{"nar_hit_1", "nginx", "nginx proxy_cache", 0, "", 0},
		{"nar_hit_16", "nginx", "nginx proxy_cache", 0.9, "≥ 0.9× nginx", 0},
		{"closure_cold", "nginx", "nginx proxy_cache", 0, "", 0},
		{"closure_cold", "ref", "upstream direct", 1.10, "≤ 1.10× upstream", 0},
		{"closure_warm", "nginx", "nginx proxy_cache", 0, "", 0},
		{"closure_warm", "ref", "upstream direct", 0, "", 0},
		{"ttfb", "nginx", "nginx proxy_cache", 0, "", 0},
		{"ttfb", "ref", "(upstream + 10 ms)", 1.0, "≤ 1: within 10 ms of upstream", 10},
		{"cold_nar", "nginx", "nginx proxy_cache", 0, "", 0},
		{"cold_nar", "ref", "upstream direct", 0, "", 0},
		{"rss_mirror", "nginx", "nginx proxy_cache", 0, "", 0},
		{"local_narinfo_rps", "nginx", "nginx static", 0.8, "≥ 0.8× nginx static", 0},
		{"local_nar_1", "nginx", "nginx static", 0, "", 0},
		{"local_nar_1", "ref", "nix-store --dump", 1.0, "≥ 1.0× nix-store --dump", 0},
		{"local_nar_16", "nginx", "nginx static", 0, "", 0},
		{"rss_local", "nginx", "nginx static", 0, "", 0},
		{"fleet_warm", "nginx", "nginx proxy_cache", 0.35, "≤ 0.35× nginx", 0},
		{"fleet_cold", "nginx", "nginx proxy_cache", 0, "", 0},
		{"fleet_cold", "ref", "upstream direct", 1.05, "≤ 1.05× upstream", 0},
		{"fleet_cold_cpu", "nginx", "nginx proxy_cache", 0, "", 0},
	}
}

// computeRatios turns the measures into the ratios of specs.
func computeRatios(measures map[string]*Measure) []Ratio {
	var out []Ratio
	for _, s := range specs() {
		m, ok := measures[s.id]
		if !ok {
			continue
		}
		if s.allowance != 0 {
			m = withAllowance(m, s.other, s.allowance)
		}
		r, ok := ratio(m, s.other, "ours ÷ "+s.of, s.target, s.targetText)
		if !ok {
			continue
		}
		if s.allowance != 0 {
			ours, other := measures[s.id].Values["ours"], measures[s.id].Values[s.other]
			r.Note = fmt.Sprintf("%+.1f %s vs upstream", ours.Median-other.Median, m.Unit)
		}
		out = append(out, r)
	}
	return out
}

// withAllowance returns a copy of m whose other values are raised by a.
func withAllowance(m *Measure, other string, a float64) *Measure {
	c := *m
	c.Values = map[string]stats.Summary{}
	for k, v := range m.Values {
		if k == other {
			raised := make([]float64, len(v.Samples))
			for i, x := range v.Samples {
				raised[i] = x + a
			}
			v = stats.Of(raised)
		}
		c.Values[k] = v
	}
	return &c
}

// section is where a measure belongs in the report.
func section(id string) string {
	switch id {
	case "local_narinfo_rps", "local_narinfo_p99", "local_nar_1", "local_nar_16", "rss_local":
		return "local"
	}
	if strings.HasPrefix(id, "fleet_") {
		return "fleet"
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
	"ttfb":              "cold NAR first byte",
	"cold_nar":          "cold NAR download",
	"rss_mirror":        "peak RSS",
	"local_narinfo_rps": "signed narinfo req/s",
	"local_nar_1":       "NAR MB/s ×1",
	"local_nar_16":      "NAR MB/s ×16",
	"rss_local":         "peak RSS",
	"fleet_cold":        "fleet update, cold",
	"fleet_warm":        "fleet update, warm",
	"fleet_cold_cpu":    "bastion CPU s/GB, cold",
}
