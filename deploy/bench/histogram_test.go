package bench

import (
	"testing"
	"time"
)

func TestLatencyHistogram(t *testing.T) {
	var h latencyHistogram
	for us := 1; us <= 100_000; us++ { // 1 µs to 100 ms, evenly
		h.record(time.Duration(us) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 50 * time.Millisecond},
		{0.9, 90 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		got := h.quantile(tt.q)
		// A bucket spans 1/32 of its range: the bucket's top is at most 1/16
		// above the true value, never below it.
		if got < tt.want || got > tt.want+tt.want/16 {
			t.Errorf("quantile(%v) = %v, want %v (+1/16)", tt.q, got, tt.want)
		}
	}
	var merged latencyHistogram
	merged.merge(&h)
	merged.merge(&h)
	if merged.total != 2*h.total || merged.quantile(0.5) != h.quantile(0.5) {
		t.Errorf("merge: total %d median %v, want %d and %v", merged.total, merged.quantile(0.5), 2*h.total, h.quantile(0.5))
	}
	if (&latencyHistogram{}).quantile(0.99) != 0 {
		t.Error("an empty histogram's quantile is not 0")
	}
	h.record(100 * time.Hour) // beyond the last bucket: counted, not lost
	if h.quantile(1) != 100*time.Hour {
		t.Errorf("max quantile %v, want 100h", h.quantile(1))
	}
}
