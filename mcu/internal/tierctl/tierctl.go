// Package tierctl chooses the video tier a receiver's link carries from its bandwidth estimate and loss,
// with hysteresis, backing off failed step-ups. It knows nothing of rooms or pion: the caller feeds it
// estimates on its own clock.
package tierctl

import (
	"fmt"
	"time"
)

// Params are the controller's thresholds. Plain data.
type Params struct {
	Interval  time.Duration // how often the caller feeds Update
	DownAfter time.Duration // estimate below the current tier's need this long, with loss: step down
	// DelayDownAfter is DownAfter when the link shows congestion by delay alone (no loss): a receiver
	// whose CPU is starved, or a noisy Wi-Fi, makes GCC's delay detector see overuse for a moment.
	DelayDownAfter time.Duration
	LossHigh       float64       // loss at or above this ...
	LossDownAfter  time.Duration // ... this long: step down at least one tier
	LossLow        float64       // stepping up needs loss below this
	UpHeadroom     float64       // stepping up needs the estimate at this times the next tier's need ...
	UpHold         time.Duration // ... for this long (doubled after each failed step up, up to UpHoldMax)
	UpHoldMax      time.Duration
	ProbeWindow    time.Duration // a step down this soon after a step up means the step up failed
	Settle         time.Duration // after a step down, the estimate and loss settle this long before counting
	TrialFactor    time.Duration // a clean link tries the next tier after TrialFactor times its hold
}

// DefaultParams returns the thresholds the server uses.
func DefaultParams() Params {
	return Params{
		Interval:       200 * time.Millisecond,
		DownAfter:      time.Second,
		DelayDownAfter: 3 * time.Second,
		LossHigh:       0.10,
		LossDownAfter:  500 * time.Millisecond,
		LossLow:        0.02,
		UpHeadroom:     1.2,
		UpHold:         5 * time.Second,
		UpHoldMax:      40 * time.Second,
		ProbeWindow:    10 * time.Second,
		Settle:         2 * time.Second,
		TrialFactor:    2,
	}
}

// Controller chooses the tier a link carries from a series of estimates, with hysteresis: down at
// once to the tier the estimate fits when it has stayed below the current tier's need for downAfter (or
// one tier down when loss stays high), up one tier at a time when the estimate has held above the next
// tier's need with headroom for upHold while the current tier was sent. A step up that fails within
// ProbeWindow doubles that tier's hold. It is plain state owned by one goroutine, with the clock passed
// in: not safe for concurrent use.
type Controller struct {
	p    Params
	need []int // per tier, best first: video plus audio bitrate
	cur  int   // index into need; -1: audio only

	below, lossy time.Time   // start of the current run below need[cur] / at high loss; zero: none
	above        []time.Time // per tier: start of the current run above need*headroom; zero: none
	hold         []time.Duration
	upAt         time.Time // last step up, to upTo
	upTo         int
	settled      time.Time // end of the settling after the last step down
	congested    time.Time // last sign of congestion: loss, delay overuse or a falling estimate
	lossSeen     time.Time // last loss at or above lossLow
	clean        time.Time // start of the current run without loss, overuse or a falling estimate
	prevEstimate int
	overuseTicks int // consecutive updates with overuse
}

// New returns a controller of the tiers whose link needs (bit/s, best first) are need, starting on the
// best tier.
func New(p Params, need []int) *Controller {
	c := &Controller{p: p, need: need, above: make([]time.Time, len(need)), hold: make([]time.Duration, len(need))}
	for i := range c.hold {
		c.hold[i] = p.UpHold
	}
	return c
}

// Update takes the estimate (bit/s), loss (0..1) and whether GCC's delay detector sees overuse at now,
// and returns the tier to be on and, when it changed, why.
//
// A low estimate counts only while the link shows congestion: GCC overshoots downwards under heavy loss and
// then climbs back by about 8 % a second, and a link that carries the current tier without loss or
// queueing has proved that it does, whatever the estimate says. Loss counts as congestion for downAfter
// after it was seen, and steps down after downAfter; delay alone (overuse, or the estimate falling) counts
// only while it lasts (two ticks) and steps down after delayDownAfter, so that a receiver whose CPU was
// starved for a moment keeps its tier.
func (c *Controller) Update(now time.Time, estimate int, loss float64, overuse bool) (int, string) {
	if loss >= c.p.LossLow || overuse || (c.prevEstimate > 0 && estimate < c.prevEstimate) {
		c.congested = now
	}
	if loss >= c.p.LossLow {
		c.lossSeen = now
	}
	// A clean run (for trials) ends with loss or overuse on two ticks in a row. A single overuse tick is
	// the noise of a busy receiver or sender, not a full link, and so is the estimate's fall that follows
	// it (GCC drops to 0.85 times the received rate on any overuse): a full link shows loss, or keeps
	// queueing.
	if overuse {
		c.overuseTicks++
	} else {
		c.overuseTicks = 0
	}
	if loss >= c.p.LossLow || c.overuseTicks >= 2 {
		c.clean = time.Time{}
	} else if c.clean.IsZero() {
		c.clean = now
	}
	lossRecent := !c.lossSeen.IsZero() && now.Sub(c.lossSeen) <= c.p.DownAfter
	c.prevEstimate = estimate
	congested := lossRecent || (!c.congested.IsZero() && now.Sub(c.congested) <= 2*c.p.Interval)
	for i, n := range c.need {
		if float64(estimate) >= c.p.UpHeadroom*float64(n) && loss < c.p.LossLow {
			if c.above[i].IsZero() {
				c.above[i] = now
			}
		} else {
			c.above[i] = time.Time{}
		}
	}
	// Right after a step down the estimate and the loss still show the congestion that caused it (the
	// bottleneck's queue drains, GCC's loss average decays): they count again once settled.
	settling := now.Before(c.settled)
	if c.cur >= 0 && estimate < c.need[c.cur] && !settling && congested {
		if c.below.IsZero() {
			c.below = now
		}
	} else {
		c.below = time.Time{}
	}
	if loss >= c.p.LossHigh && !settling {
		if c.lossy.IsZero() {
			c.lossy = now
		}
	} else {
		c.lossy = time.Time{}
	}

	switch {
	case c.cur >= 0 && !c.below.IsZero() && (now.Sub(c.below) >= c.p.DelayDownAfter ||
		(lossRecent && now.Sub(c.below) >= c.p.DownAfter)):
		return c.down(now, c.fitting(estimate), fmt.Sprintf("estimate %d kbit/s below %d kbit/s for %v",
			estimate/1000, c.need[c.cur]/1000, now.Sub(c.below).Round(100*time.Millisecond)))
	case c.cur >= 0 && !c.lossy.IsZero() && now.Sub(c.lossy) >= c.p.LossDownAfter:
		return c.down(now, max(c.cur+1, c.fitting(estimate)), fmt.Sprintf("loss %.0f%% for %v",
			100*loss, now.Sub(c.lossy).Round(100*time.Millisecond)))
	}
	next := c.cur - 1
	if c.cur < 0 {
		next = len(c.need) - 1
	}
	byEstimate := next >= 0 && !c.above[next].IsZero() && now.Sub(c.above[next]) >= c.hold[next]
	// GCC's estimate grows slowly (about 8 % a second, and by a few kbit/s a second near the rate of its
	// last decrease), and a link that only carries a low tier cannot show more: after a long clean run
	// the next tier is tried anyway, as probing would. A failed trial doubles the hold, so a link that
	// really carries no more is tried less and less often (at most every 2*upHoldMax).
	trial := next >= 0 && !settling && !c.clean.IsZero() && now.Sub(c.clean) >= c.p.TrialFactor*c.hold[next]
	if byEstimate || trial {
		reason := fmt.Sprintf("estimate %d kbit/s above %.0f kbit/s for %v", estimate/1000,
			c.p.UpHeadroom*float64(c.need[next])/1000, now.Sub(c.above[next]).Round(100*time.Millisecond))
		if !byEstimate {
			reason = fmt.Sprintf("trial: no loss or queueing for %v (estimate %d kbit/s)",
				now.Sub(c.clean).Round(100*time.Millisecond), estimate/1000)
		}
		c.clean = now
		c.cur, c.upAt, c.upTo = next, now, next
		c.below, c.lossy = time.Time{}, time.Time{}
		for j := range c.above {
			if !c.above[j].IsZero() {
				c.above[j] = now // the next tier's hold runs while this one is sent
			}
		}
		return c.cur, reason
	}
	// A tier held through a whole probe window has proved itself: its hold is back to normal.
	if c.cur >= 0 && c.upTo == c.cur && !c.upAt.IsZero() && now.Sub(c.upAt) >= c.p.ProbeWindow {
		c.hold[c.cur] = c.p.UpHold
	}
	return c.cur, ""
}

// down moves to tier i (len(need) or more: audio only) and backs off the tier just left when it was
// reached by a step up that has now failed.
func (c *Controller) down(now time.Time, i int, reason string) (int, string) {
	if i >= len(c.need) {
		i = -1
	}
	if c.cur >= 0 && c.upTo == c.cur && !c.upAt.IsZero() && now.Sub(c.upAt) < c.p.ProbeWindow {
		c.hold[c.cur] = min(2*c.hold[c.cur], c.p.UpHoldMax)
		reason += fmt.Sprintf(" (step up failed: next try after %v)", c.hold[c.cur])
	}
	c.cur = i
	c.below, c.lossy = time.Time{}, time.Time{}
	c.upAt = time.Time{}
	c.settled = now.Add(c.p.Settle)
	for j := range c.above {
		c.above[j] = time.Time{} // the estimate must hold anew after a step down
	}
	return c.cur, reason
}

// fitting returns the best tier whose need fits estimate, or len(need) when none does.
func (c *Controller) fitting(estimate int) int {
	for i, n := range c.need {
		if n <= estimate {
			return i
		}
	}
	return len(c.need)
}

// Tier returns the tier the controller is on (-1: audio only).
func (c *Controller) Tier() int { return c.cur }
