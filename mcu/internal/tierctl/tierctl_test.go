package tierctl

import (
	"strings"
	"testing"
	"time"
)

// needs of the controller tests: hd 1000k, sd 400k, ld 150k (video plus audio).
var testNeeds = []int{1_000_000, 400_000, 150_000}

// step is one estimate fed to the controller for a while, and the tier expected after it.
type step struct {
	d        time.Duration // how long: fed every 200 ms from the step's start to its end, both included
	estimate int
	loss     float64
	overuse  bool
	want     int    // tier after the step
	reason   string // a substring of the last change's reason, if any
}

func runSteps(t *testing.T, c *Controller, now time.Time, steps []step) time.Time {
	t.Helper()
	for n, s := range steps {
		var reason string
		var got int
		for end := now.Add(s.d); !now.After(end); now = now.Add(200 * time.Millisecond) {
			var r string
			got, r = c.Update(now, s.estimate, s.loss, s.overuse)
			if r != "" {
				reason = r
			}
		}
		if got != s.want {
			t.Fatalf("step %d (%v at %d bit/s, loss %.2f): tier %d, want %d (last reason %q)",
				n, s.d, s.estimate, s.loss, got, s.want, reason)
		}
		if s.reason != "" && !strings.Contains(reason, s.reason) {
			t.Errorf("step %d: reason %q, want it to mention %q", n, reason, s.reason)
		}
	}
	return now
}

func TestTierController(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		steps []step
	}{
		{"good link stays on top", []step{{10 * time.Second, 1_500_000, 0, false, 0, ""}}},
		{"a dip shorter than a second is ignored", []step{
			{800 * time.Millisecond, 300_000, 0, false, 0, ""},
			{5 * time.Second, 1_500_000, 0, false, 0, ""},
		}},
		{"down at once to the tier that fits, skipping tiers", []step{
			{600 * time.Millisecond, 1_500_000, 0, false, 0, ""},
			{time.Second, 200_000, 0.05, true, 2, "below 1000 kbit/s"},
		}},
		{"below the lowest tier: audio only", []step{{time.Second, 100_000, 0.05, true, -1, "estimate 100 kbit/s"}}},
		{"delay alone steps down after 3 s, not 1 s", []step{
			{2800 * time.Millisecond, 200_000, 0, true, 0, ""},
			{200 * time.Millisecond, 200_000, 0, true, 2, "below 1000 kbit/s for 3s"},
		}},
		{"a CPU hiccup (overuse for 2 s, no loss) keeps the tier", []step{
			{2 * time.Second, 300_000, 0, true, 0, ""},
			{5 * time.Second, 400_000, 0, false, 0, ""},
		}},
		{"high loss steps down one tier in half a second", []step{
			{600 * time.Millisecond, 1_500_000, 0.3, false, 1, "loss 30%"},
		}},
		{"up one tier at a time, each after 5 s above 1.2x its need", []step{
			{time.Second, 100_000, 0.05, true, -1, ""},
			{4800 * time.Millisecond, 2_000_000, 0, false, -1, ""},
			{0, 2_000_000, 0, false, 2, "above 180 kbit/s for 5s"},
			{4600 * time.Millisecond, 2_000_000, 0, false, 2, ""}, // sd's hold starts with ld
			{200 * time.Millisecond, 2_000_000, 0, false, 1, "above 480 kbit/s for 5s"},
			{4400 * time.Millisecond, 2_000_000, 0, false, 1, ""},
			{200 * time.Millisecond, 2_000_000, 0, false, 0, "above 1200 kbit/s"},
		}},
		{"after a step down the link settles for 2 s before the next", []step{
			{time.Second, 500_000, 0.05, true, 1, "below 1000 kbit/s"},
			{1800 * time.Millisecond, 200_000, 0.3, false, 1, ""},
			{1200 * time.Millisecond, 200_000, 0.3, false, 2, "loss 30%"},
		}},
		{"a low estimate on a link that shows no congestion keeps the tier", []step{
			{5 * time.Second, 800_000, 0, false, 0, ""},
		}},
		{"a falling estimate is congestion", []step{
			{200 * time.Millisecond, 1_500_000, 0, false, 0, ""},
			{0, 900_000, 0, false, 0, ""},
			{time.Second, 800_000, 0.03, false, 1, "below 1000 kbit/s"},
		}},
		{"without the headroom, up only by a trial after 10 s of a clean link", []step{
			{time.Second, 100_000, 0.05, true, -1, ""},
			{9 * time.Second, 170_000, 0, false, -1, ""}, // 1.13x ld's need
			{2 * time.Second, 170_000, 0, false, 2, "trial: no loss or queueing for 10s"},
		}},
		{"a failed trial waits twice as long for the next", []step{
			{time.Second, 100_000, 0.05, true, -1, ""},
			{10 * time.Second, 170_000, 0, false, 2, "trial"},
			{time.Second, 100_000, 0.05, true, -1, "step up failed: next try after 10s"},
			{19 * time.Second, 170_000, 0, false, -1, ""},
			{2 * time.Second, 170_000, 0, false, 2, "trial: no loss or queueing for 20s"},
		}},
		{"a CPU hiccup (one overuse tick, the estimate falling) does not restart the trial clock", []step{
			{time.Second, 100_000, 0.05, true, -1, ""},
			{5 * time.Second, 170_000, 0, false, -1, ""},
			{0, 120_000, 0, true, -1, ""},
			{3800 * time.Millisecond, 130_000, 0, false, -1, ""},
			{2 * time.Second, 130_000, 0, false, 2, "trial: no loss or queueing for 10s"},
		}},
		{"no trial while the link queues", []step{
			{time.Second, 100_000, 0.05, true, -1, ""},
			{20 * time.Second, 170_000, 0, true, -1, ""},
		}},
		{"not up while losing", []step{
			{time.Second, 100_000, 0.05, true, -1, ""},
			{10 * time.Second, 2_000_000, 0.05, false, -1, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, New(DefaultParams(), testNeeds), t0, tt.steps)
		})
	}
}

// TestTierControllerBackoff checks that a step up that fails doubles the hold before the next try, and
// that a tier held through the probe window gets the normal hold back.
func TestTierControllerBackoff(t *testing.T) {
	c := New(DefaultParams(), testNeeds)
	now := runSteps(t, c, time.Unix(1000, 0), []step{
		{time.Second, 300_000, 0.05, true, 2, ""}, // on ld
		{5 * time.Second, 500_000, 0, false, 1, "above 480 kbit/s"},
		{time.Second, 300_000, 0.05, true, 2, "step up failed: next try after 10s"},
		{9 * time.Second, 500_000, 0, false, 2, ""}, // 5 s is no longer enough
		{time.Second, 500_000, 0, false, 1, ""},     // 10 s is
		{time.Second, 300_000, 0.05, true, 2, "next try after 20s"},
	})
	if c.hold[1] != 20*time.Second {
		t.Fatalf("hold of sd after two failures: %v, want 20s", c.hold[1])
	}
	now = runSteps(t, c, now, []step{
		{20 * time.Second, 500_000, 0, false, 1, ""},
		{DefaultParams().ProbeWindow, 500_000, 0, true, 1, ""}, // queueing: no trial of hd
	})
	if c.hold[1] != DefaultParams().UpHold {
		t.Errorf("hold of sd after holding it for the probe window: %v, want %v", c.hold[1], DefaultParams().UpHold)
	}
	// Repeated failed step-ups double the hold each time, up to UpHoldMax: fail the step to sd until the
	// hold stops growing, through the controller.
	p := DefaultParams()
	for i := 0; c.hold[1] < p.UpHoldMax; i++ {
		if i == 10 {
			t.Fatalf("hold of sd still %v after 10 failures, want %v", c.hold[1], p.UpHoldMax)
		}
		before := c.hold[1]
		now = runSteps(t, c, now, []step{
			{time.Second, 300_000, 0.05, true, 2, ""},        // back on ld, settled
			{before + time.Second, 500_000, 0, false, 1, ""}, // held long enough: up to sd
			{time.Second, 300_000, 0.05, true, 2, "step up failed"},
		})
		if want := min(2*before, p.UpHoldMax); c.hold[1] != want {
			t.Fatalf("hold after a failure from %v: %v, want %v", before, c.hold[1], want)
		}
	}
	// One more failure leaves it at the cap.
	runSteps(t, c, now, []step{
		{time.Second, 300_000, 0.05, true, 2, ""},
		{p.UpHoldMax + time.Second, 500_000, 0, false, 1, ""},
		{time.Second, 300_000, 0.05, true, 2, "next try after " + p.UpHoldMax.String()},
	})
	if c.hold[1] != p.UpHoldMax {
		t.Errorf("hold after failing at the cap: %v, want %v", c.hold[1], p.UpHoldMax)
	}
}
