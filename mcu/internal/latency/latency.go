// Package latency keeps lock-free histograms of latencies.
package latency

import (
	"slices"
	"sync/atomic"
	"time"
)

// bounds are the upper bounds of the latency histogram buckets; a last bucket holds the rest.
var bounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	15 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond, 30 * time.Millisecond,
	40 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond, 80 * time.Millisecond,
	100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond,
	500 * time.Millisecond, time.Second,
}

// Recorder counts durations into fixed buckets (1 ms to 1 s) without locks. Its zero value is ready.
// Safe for concurrent use.
type Recorder struct {
	counts [20]atomic.Uint64 // len(bounds)+1 used
	sum    atomic.Int64      // nanoseconds
}

// Observe counts one duration.
func (h *Recorder) Observe(d time.Duration) {
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot returns the counts so far.
func (h *Recorder) Snapshot() Histogram {
	s := Histogram{Bounds: slices.Clone(bounds), Counts: make([]uint64, len(bounds)+1), Sum: time.Duration(h.sum.Load())}
	for i := range s.Counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i]
	}
	return s
}

// Histogram is a snapshot of a latency distribution. Counts[i] is the number of observations in
// (Bounds[i-1], Bounds[i]]; the last count is everything above the last bound. A plain value.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Quantile estimates the q-quantile (0 < q < 1) by linear interpolation within its bucket; zero when
// empty. Values above the last bound are reported as that bound.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := q * float64(h.Count)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(h.Bounds) {
				return h.Bounds[len(h.Bounds)-1]
			}
			lo := time.Duration(0)
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(frac*float64(h.Bounds[i]-lo))
		}
		seen += float64(c)
	}
	return h.Bounds[len(h.Bounds)-1]
}
