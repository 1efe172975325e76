package live

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestClock runs a 20 ms clock that catches up by at most 100 ms, in a bubble with a fake clock: ticks
// at 0, 20, 40 ms; after a 70 ms stall three waits return at once and the fourth is back on the grid;
// after a 500 ms stall the clock restarts from then.
func TestClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clock{interval: 20 * time.Millisecond, maxLag: 100 * time.Millisecond}
		defer c.stop()
		start := time.Now()
		at := func() time.Duration { c.wait(); return time.Since(start) }
		var got []time.Duration
		for range 3 {
			got = append(got, at())
		}
		time.Sleep(70 * time.Millisecond) // now 110 ms; ticks 60, 80, 100 are late
		for range 4 {
			got = append(got, at())
		}
		time.Sleep(500 * time.Millisecond) // now 620 ms: more than 100 ms late
		for range 2 {
			got = append(got, at())
		}
		ms := time.Millisecond
		want := []time.Duration{0, 20 * ms, 40 * ms, 110 * ms, 110 * ms, 110 * ms, 120 * ms, 620 * ms, 640 * ms}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("waits returned at %v, want %v", got, want)
			}
		}
	})
}
