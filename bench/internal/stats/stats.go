// Package stats summarises repeated benchmark samples.
package stats

import (
	"math"
	"sort"
	"time"
)

// Summary is the median of several runs with their spread.
type Summary struct {
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

// Of summarises samples; the zero Summary when there are none.
func Of(samples []float64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	return Summary{Median: Percentile(s, 50), Min: s[0], Max: s[len(s)-1], Samples: samples}
}

// Valid reports whether the summary holds at least one sample.
func (s Summary) Valid() bool { return len(s.Samples) > 0 }

// Percentile returns the p-th percentile (0..100) of sorted values,
// interpolating linearly between neighbours.
func Percentile(sorted []float64, p float64) float64 {
	switch len(sorted) {
	case 0:
		return math.NaN()
	case 1:
		return sorted[0]
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Durations returns the p-th percentile of durations, in milliseconds.
func Durations(d []time.Duration, p float64) float64 {
	ms := make([]float64, len(d))
	for i, v := range d {
		ms[i] = float64(v) / float64(time.Millisecond)
	}
	sort.Float64s(ms)
	return Percentile(ms, p)
}
