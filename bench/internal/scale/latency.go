package scale

import (
	"math/bits"
	"time"
)

// Histogram counts durations in buckets within 1/64 of their value
// (exact below 128 ns), so that a minute of lookups at full rate takes a
// few kilobytes rather than one slot per lookup, which would weigh on the
// memory being measured.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	subBits     = 6 // 64 buckets per power of two
	subCount    = 1 << subBits
	histBuckets = (64 - subBits + 1) * subCount
)

// bucketOf returns the bucket of v nanoseconds.
func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	mantissa := int(uint64(v) >> shift) // in [64, 128)
	return (shift+1)*subCount + mantissa - subCount
}

// bucketValue returns the middle of bucket i, in nanoseconds.
func bucketValue(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	low := int64(subCount+i%subCount) << shift
	return low + int64(1)<<shift/2
}

// Record counts one duration.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.n++
	h.max = max(h.max, v)
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the duration that a fraction q of those recorded do not
// exceed (to within its bucket), 0 when none were.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// Latency is what a report shows of a histogram, in microseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
}

// Summary returns the median, p99 and maximum of h.
func (h *Histogram) Summary() Latency {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{Count: h.n, P50: us(h.Quantile(0.50)), P99: us(h.Quantile(0.99)), Max: us(time.Duration(h.max))}
}
