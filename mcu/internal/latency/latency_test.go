package latency

import (
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	var h Recorder
	for range 50 {
		h.Observe(3 * time.Millisecond) // bucket (2ms, 5ms]
	}
	for range 49 {
		h.Observe(12 * time.Millisecond) // bucket (10ms, 15ms]
	}
	h.Observe(5 * time.Second) // overflow
	s := h.Snapshot()
	if s.Count != 100 || s.Sum != 50*3*time.Millisecond+49*12*time.Millisecond+5*time.Second {
		t.Fatalf("count %d sum %v", s.Count, s.Sum)
	}
	tests := []struct {
		q      float64
		lo, hi time.Duration
	}{{0.25, 2 * time.Millisecond, 5 * time.Millisecond}, {0.5, 2 * time.Millisecond, 5 * time.Millisecond},
		{0.75, 10 * time.Millisecond, 15 * time.Millisecond}, {0.999, time.Second, time.Second}}
	for _, tt := range tests {
		if got := s.Quantile(tt.q); got < tt.lo || got > tt.hi {
			t.Errorf("Quantile(%v) = %v, want within [%v, %v]", tt.q, got, tt.lo, tt.hi)
		}
	}
	if (Histogram{}).Quantile(0.5) != 0 {
		t.Error("empty histogram has a non-zero quantile")
	}
}
