package scale

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantilesOfSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}, {0.001, 1}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestHistogramQuantilesWithinABucket(t *testing.T) {
	var a, b Histogram
	// 1 µs to 10 ms, split over two histograms merged.
	for v := 1; v <= 10000; v++ {
		d := time.Duration(v) * time.Microsecond
		if v%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a.Count() != 10000 {
		t.Fatalf("Count = %d, want 10000", a.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {0.1, time.Millisecond}} {
		got := a.Quantile(c.q)
		if rel := math.Abs(float64(got-c.want)) / float64(c.want); rel > 1.0/64 {
			t.Errorf("Quantile(%v) = %v, want %v within 1/64 (off by %.3f)", c.q, got, c.want, rel)
		}
	}
	if got := a.Quantile(1); got != 10*time.Millisecond {
		t.Errorf("Quantile(1) = %v, want the maximum, 10ms", got)
	}
	s := a.Summary()
	if s.Count != 10000 || math.Abs(s.P50-5000)/5000 > 1.0/64 || s.Max != 10000 {
		t.Errorf("Summary = %+v, want 10000 counted, p50 about 5000 µs, max 10000 µs", s)
	}
}

func TestHistogramBucketsCoverEveryDuration(t *testing.T) {
	var empty Histogram
	if got := empty.Quantile(0.99); got != 0 {
		t.Errorf("Quantile of nothing = %v, want 0", got)
	}
	prev := -1
	for _, v := range []int64{-5, 0, 1, 127, 128, 129, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets || i < prev {
			t.Fatalf("bucketOf(%d) = %d: out of range or not increasing", v, i)
		}
		prev = i
		if v > 0 {
			if mid := bucketValue(i); math.Abs(float64(mid-v))/float64(v) > 1.0/64 {
				t.Errorf("bucket of %d is centred on %d: more than 1/64 away", v, mid)
			}
		}
	}
}
