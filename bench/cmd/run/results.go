package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
)

// Measure is one quantity measured on each contender.
type Measure struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Unit   string `json:"unit"`
	Better string `json:"better"` // "higher" or "lower"
	// Values by contender key: "ours", "nginx", "ref", "floor".
	Values map[string]stats.Summary `json:"values"`
	// Names of the contenders, by key.
	Who map[string]string `json:"who"`
}

// Ratio compares ours with another contender on one measure.
type Ratio struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	Of      string  `json:"of"` // "ours ÷ nginx proxy_cache"
	Better  string  `json:"better"`
	Median  float64 `json:"median"` // ratio of the medians
	Min     float64 `json:"min"`    // spread of the per-run ratios
	Max     float64 `json:"max"`
	Target  float64 `json:"target,omitempty"` // 0: none
	TargetS string  `json:"target_text,omitempty"`
	Met     *bool   `json:"met,omitempty"`
	Note    string  `json:"note,omitempty"` // shown beside the ratio
}

// ratio builds ours ÷ other for a measure; target 0 means none.
func ratio(m *Measure, other, of string, target float64, targetText string) (Ratio, bool) {
	return ratioOf(m, "ours", other, of, target, targetText)
}

// ratioOf builds num ÷ other for a measure, num and other being contender keys.
func ratioOf(m *Measure, num, other, of string, target float64, targetText string) (Ratio, bool) {
	a, b := m.Values[num], m.Values[other]
	if !a.Valid() || !b.Valid() || b.Median == 0 {
		return Ratio{}, false
	}
	r := Ratio{ID: m.ID + "/" + other, Name: m.Name, Of: of, Better: m.Better, Median: a.Median / b.Median,
		Target: target, TargetS: targetText}
	// Runs were interleaved, so run i of each contender saw the same machine state.
	if len(a.Samples) == len(b.Samples) {
		var rs []float64
		for i := range a.Samples {
			if b.Samples[i] != 0 {
				rs = append(rs, a.Samples[i]/b.Samples[i])
			}
		}
		s := stats.Of(rs)
		r.Min, r.Max = s.Min, s.Max
	} else {
		r.Min, r.Max = r.Median, r.Median
	}
	if target > 0 {
		met := r.Median >= target
		if m.Better == "lower" {
			met = r.Median <= target
		}
		r.Met = &met
	}
	return r, true
}

// fmtValue prints a measured value with sensible precision.
func fmtValue(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func fmtSummary(s stats.Summary) string {
	if !s.Valid() {
		return "–"
	}
	if len(s.Samples) == 1 || s.Min == s.Max {
		return fmtValue(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtValue(s.Median), fmtValue(s.Min), fmtValue(s.Max))
}

func fmtRatio(r Ratio) string {
	s := fmt.Sprintf("%.2f× (%.2f–%.2f)", r.Median, r.Min, r.Max)
	if r.Min == r.Max {
		s = fmt.Sprintf("%.2f×", r.Median)
	}
	if r.Note != "" {
		s += "; " + r.Note
	}
	if strings.HasPrefix(r.Of, "ours ÷ (") {
		s = strings.TrimPrefix(r.Of, "ours ") + " " + s
	}
	return s
}
