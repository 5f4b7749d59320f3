package bench

import (
	"math"
	"math/bits"
	"time"
)

// latencyHistogram counts latencies in log-linear buckets, as HdrHistogram
// does: microseconds below 64 exactly, then each power-of-two range split
// into 32 equal buckets, so a quantile is read to within 1/32 (3%) of its
// value in a fixed 8 KB whatever the run's length.
type latencyHistogram struct {
	counts [latencyBuckets]uint64
	total  uint64
	max    time.Duration
}

const (
	latencyExactMicros = 64
	latencySubBuckets  = 32
	// latencyShiftsMax covers up to 2^(latencyShiftsMax+6) µs, about 19
	// hours; longer latencies count in the last bucket.
	latencyShiftsMax = 30
	latencyBuckets   = latencyExactMicros + latencyShiftsMax*latencySubBuckets
)

func (h *latencyHistogram) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := int(us)
	if us >= latencyExactMicros {
		shift := bits.Len64(us) - 6 // us>>shift is in [32, 64)
		i = latencyExactMicros + (shift-1)*latencySubBuckets + int(us>>shift) - latencySubBuckets
	}
	h.counts[min(i, latencyBuckets-1)]++
	h.total++
	h.max = max(h.max, d)
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the highest latency of the bucket holding quantile q.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= max(rank, 1) {
			if i == latencyBuckets-1 { // the overflow bucket has no top
				return h.max
			}
			return min(latencyBucketTop(i), h.max)
		}
	}
	return h.max
}

// latencyBucketTop is the highest latency bucket i counts.
func latencyBucketTop(i int) time.Duration {
	if i < latencyExactMicros {
		return time.Duration(i)*time.Microsecond + time.Microsecond - 1
	}
	shift := (i-latencyExactMicros)/latencySubBuckets + 1
	sub := uint64((i-latencyExactMicros)%latencySubBuckets + latencySubBuckets)
	return time.Duration((sub+1)<<shift)*time.Microsecond - 1
}
