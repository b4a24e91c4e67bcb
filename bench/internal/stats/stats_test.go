package stats

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		sorted []float64
		p      float64
		want   float64
	}{
		{[]float64{5}, 50, 5},
		{[]float64{1, 3}, 50, 2},
		{[]float64{1, 2, 3}, 50, 2},
		{[]float64{1, 2, 3, 4, 5}, 0, 1},
		{[]float64{1, 2, 3, 4, 5}, 100, 5},
		{[]float64{1, 2, 3, 4, 5}, 25, 2},
		{[]float64{0, 10}, 99, 9.9},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile(nil) = %v, want NaN", got)
	}
}

func TestOf(t *testing.T) {
	got := Of([]float64{3, 1, 2})
	if got.Median != 2 || got.Min != 1 || got.Max != 3 || len(got.Samples) != 3 {
		t.Errorf("Of = %+v", got)
	}
	if got.Samples[0] != 3 {
		t.Errorf("Of reordered the caller's samples: %v", got.Samples)
	}
	if Of(nil).Valid() {
		t.Errorf("Of(nil) is valid")
	}
}

func TestDurations(t *testing.T) {
	d := []time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}
	if got := Durations(d, 50); got != 2 {
		t.Errorf("Durations p50 = %v, want 2", got)
	}
}
