package mcu

import (
	"fmt"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"

	"github.com/openmcu/mcu/mcu/internal/pionlog"
)

// Automatic tier choice. Each participant's PeerConnection runs pion's send-side bandwidth estimator
// (TWCC feedback into GCC, no pacer: the tier bounds what is sent). Once feedback arrives, a ticker
// goroutine per participant (runBWE) feeds the estimate and GCC's loss into a tierController, whose choice
// becomes the participant's estimated caps: one more input to applyTier, merged with the explicit caps
// and b=AS/b=TIAS, the tightest winning. Without TWCC feedback (a client that does not negotiate it) the
// estimated caps stay empty and the explicit caps alone decide.

// bweParams are the tier controller's thresholds.
type bweParams struct {
	interval  time.Duration // tick of runBWE
	downAfter time.Duration // estimate below the current tier's need this long, with loss: step down
	// delayDownAfter is downAfter when the link shows congestion by delay alone (no loss): a receiver
	// whose CPU is starved, or a noisy Wi-Fi, makes GCC's delay detector see overuse for a moment.
	delayDownAfter time.Duration
	lossHigh       float64       // loss at or above this ...
	lossDownAfter  time.Duration // ... this long: step down at least one tier
	lossLow        float64       // stepping up needs loss below this
	upHeadroom     float64       // stepping up needs the estimate at this times the next tier's need ...
	upHold         time.Duration // ... for this long (doubled after each failed step up, up to upHoldMax)
	upHoldMax      time.Duration
	probeWindow    time.Duration // a step down this soon after a step up means the step up failed
	settle         time.Duration // after a step down, the estimate and loss settle this long before counting
	trialFactor    time.Duration // a clean link tries the next tier after trialFactor times its hold
}

// defaultBWEParams returns the thresholds the server uses.
func defaultBWEParams() bweParams {
	return bweParams{
		interval:       200 * time.Millisecond,
		downAfter:      time.Second,
		delayDownAfter: 3 * time.Second,
		lossHigh:       0.10,
		lossDownAfter:  500 * time.Millisecond,
		lossLow:        0.02,
		upHeadroom:     1.2,
		upHold:         5 * time.Second,
		upHoldMax:      40 * time.Second,
		probeWindow:    10 * time.Second,
		settle:         2 * time.Second,
		trialFactor:    2,
	}
}

// tierController chooses the tier a link carries from a series of estimates, with hysteresis: down at
// once to the tier the estimate fits when it has stayed below the current tier's need for downAfter (or
// one tier down when loss stays high), up one tier at a time when the estimate has held above the next
// tier's need with headroom for upHold while the current tier was sent. A step up that fails within probeWindow doubles that tier's hold.
// It is plain state owned by one goroutine, with the clock passed in.
type tierController struct {
	p    bweParams
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

func newTierController(p bweParams, need []int) *tierController {
	c := &tierController{p: p, need: need, above: make([]time.Time, len(need)), hold: make([]time.Duration, len(need))}
	for i := range c.hold {
		c.hold[i] = p.upHold
	}
	return c
}

// update takes the estimate (bit/s), loss (0..1) and whether GCC's delay detector sees overuse at now,
// and returns the tier to be on and, when it changed, why.
//
// A low estimate counts only while the link shows congestion: GCC overshoots downwards under heavy loss and
// then climbs back by about 8 % a second, and a link that carries the current tier without loss or
// queueing has proved that it does, whatever the estimate says. Loss counts as congestion for downAfter
// after it was seen, and steps down after downAfter; delay alone (overuse, or the estimate falling) counts
// only while it lasts (two ticks) and steps down after delayDownAfter, so that a receiver whose CPU was
// starved for a moment keeps its tier.
func (c *tierController) update(now time.Time, estimate int, loss float64, overuse bool) (int, string) {
	if loss >= c.p.lossLow || overuse || (c.prevEstimate > 0 && estimate < c.prevEstimate) {
		c.congested = now
	}
	if loss >= c.p.lossLow {
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
	if loss >= c.p.lossLow || c.overuseTicks >= 2 {
		c.clean = time.Time{}
	} else if c.clean.IsZero() {
		c.clean = now
	}
	lossRecent := !c.lossSeen.IsZero() && now.Sub(c.lossSeen) <= c.p.downAfter
	c.prevEstimate = estimate
	congested := lossRecent || (!c.congested.IsZero() && now.Sub(c.congested) <= 2*c.p.interval)
	for i, n := range c.need {
		if float64(estimate) >= c.p.upHeadroom*float64(n) && loss < c.p.lossLow {
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
	if loss >= c.p.lossHigh && !settling {
		if c.lossy.IsZero() {
			c.lossy = now
		}
	} else {
		c.lossy = time.Time{}
	}

	switch {
	case c.cur >= 0 && !c.below.IsZero() && (now.Sub(c.below) >= c.p.delayDownAfter ||
		(lossRecent && now.Sub(c.below) >= c.p.downAfter)):
		return c.down(now, c.fitting(estimate), fmt.Sprintf("estimate %d kbit/s below %d kbit/s for %v",
			estimate/1000, c.need[c.cur]/1000, now.Sub(c.below).Round(100*time.Millisecond)))
	case c.cur >= 0 && !c.lossy.IsZero() && now.Sub(c.lossy) >= c.p.lossDownAfter:
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
	trial := next >= 0 && !settling && !c.clean.IsZero() && now.Sub(c.clean) >= c.p.trialFactor*c.hold[next]
	if byEstimate || trial {
		reason := fmt.Sprintf("estimate %d kbit/s above %.0f kbit/s for %v", estimate/1000,
			c.p.upHeadroom*float64(c.need[next])/1000, now.Sub(c.above[next]).Round(100*time.Millisecond))
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
	if c.cur >= 0 && c.upTo == c.cur && !c.upAt.IsZero() && now.Sub(c.upAt) >= c.p.probeWindow {
		c.hold[c.cur] = c.p.upHold
	}
	return c.cur, ""
}

// down moves to tier i (len(need) or more: audio only) and backs off the tier just left when it was
// reached by a step up that has now failed.
func (c *tierController) down(now time.Time, i int, reason string) (int, string) {
	if i >= len(c.need) {
		i = -1
	}
	if c.cur >= 0 && c.upTo == c.cur && !c.upAt.IsZero() && now.Sub(c.upAt) < c.p.probeWindow {
		c.hold[c.cur] = min(2*c.hold[c.cur], c.p.upHoldMax)
		reason += fmt.Sprintf(" (step up failed: next try after %v)", c.hold[c.cur])
	}
	c.cur = i
	c.below, c.lossy = time.Time{}, time.Time{}
	c.upAt = time.Time{}
	c.settled = now.Add(c.p.settle)
	for j := range c.above {
		c.above[j] = time.Time{} // the estimate must hold anew after a step down
	}
	return c.cur, reason
}

// fitting returns the best tier whose need fits estimate, or len(need) when none does.
func (c *tierController) fitting(estimate int) int {
	for i, n := range c.need {
		if n <= estimate {
			return i
		}
	}
	return len(c.need)
}

// tierNeeds returns what each tier needs of a link, best first: its video bitrate plus the audio's.
func (c Config) tierNeeds() []int {
	var need []int
	for _, t := range c.Tiers() {
		need = append(need, t.VideoBitrate+c.AudioBitrate)
	}
	return need
}

// capsForTier returns the caps that put a receiver on tier i of needs (-1: audio only).
func capsForTier(need []int, i int) Caps {
	if i < 0 {
		return Caps{MaxBitrate: max(need[len(need)-1]-1, 1)}
	}
	return Caps{MaxBitrate: need[i]}
}

// Quality is a snapshot of what one participant's downstream link carries. It is plain data.
type Quality struct {
	// Tier is the name of the video tier received, or "audio-only".
	Tier string `json:"tier"`
	// EstimatedBitrate is the send-side bandwidth estimate (GCC from TWCC feedback) in bit/s; 0 before
	// the first feedback or when the client sends none.
	EstimatedBitrate int `json:"estimated_bitrate"`
	// SentBitrate is the audio and video payload sent to the participant over the last second, in bit/s.
	SentBitrate int `json:"sent_bitrate"`
	// Loss is the fraction of packets the client reported missing in its TWCC feedback (GCC's average).
	Loss float64 `json:"loss"`
	// Limit says what holds the tier down: "caps" (its own or its SDP's), "bandwidth" (the estimate) or
	// "" (nothing: the best tier).
	Limit string `json:"limit"`
	// KeyframeRequests counts the PLIs and FIRs the participant sent; KeyframesForced the IDRs forced on
	// the encoder it receives at its request (requests within the keyframe interval are coalesced).
	KeyframeRequests uint64 `json:"keyframe_requests"`
	KeyframesForced  uint64 `json:"keyframes_forced"`
}

// Quality returns a snapshot of the participant's downstream link. Safe for concurrent use.
func (p *Participant) Quality() Quality {
	p.mu.Lock()
	q := p.quality
	explicit, est := p.caps.merge(p.sdpCaps), p.estCaps
	p.mu.Unlock()
	i := int(p.tier.Load())
	q.Tier = p.tierName(i)
	q.KeyframeRequests, q.KeyframesForced = p.keyframeRequests.Load(), p.keyframesForced.Load()
	switch ec, bc := p.m.cfg.tierFor(explicit), p.m.cfg.tierFor(est); {
	case i == 0:
	case ec == i:
		q.Limit = "caps"
	case bc == i:
		q.Limit = "bandwidth"
	}
	return q
}

// newBWE returns the bandwidth estimator factory of the MCU's PeerConnections: GCC starting a little
// above the main tier's need, without a pacer.
func (m *MCU) newBWE() (*cc.InterceptorFactory, error) {
	need := m.cfg.tierNeeds()
	lf := pionlog.Factory{Log: m.log}
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return newGCC(need[0], lf)
	})
	if err != nil {
		return nil, fmt.Errorf("bandwidth estimator: %w", err)
	}
	f.OnNewPeerConnection(func(id string, e cc.BandwidthEstimator) {
		m.bweMu.Lock()
		defer m.bweMu.Unlock()
		m.bwes[id] = e
	})
	return f, nil
}

// newGCC returns one PeerConnection's estimator: GCC starting at 1.25 times the main tier's need (so a
// receiver starts on the best tier its caps allow and steps down if its link cannot carry it), between
// 30 kbit/s and twice that need, without a pacer (the leaky-bucket pacer queues without bound and delays
// audio behind video; what is sent is bounded by the tier instead).
func newGCC(mainNeed int, lf logging.LoggerFactory) (*gcc.SendSideBWE, error) {
	return gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(mainNeed*5/4), gcc.SendSideBWEMinBitrate(30_000),
		gcc.SendSideBWEMaxBitrate(2*mainNeed), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()), gcc.WithLoggerFactory(lf))
}

// takeEstimator returns and forgets the estimator of the PeerConnection with this ID (nil if none).
func (m *MCU) takeEstimator(id string) cc.BandwidthEstimator {
	m.bweMu.Lock()
	defer m.bweMu.Unlock()
	e := m.bwes[id]
	delete(m.bwes, id)
	return e
}

// runBWE turns the participant's bandwidth estimate into its tier every bweParams.interval until it
// leaves, and keeps its Quality snapshot.
func (p *Participant) runBWE(e cc.BandwidthEstimator) {
	defer p.wg.Done()
	defer p.m.catch(panicBWE, p.log, p.removeAsync)
	params := defaultBWEParams()
	need := p.m.cfg.tierNeeds()
	ctl := newTierController(params, need)
	tick := time.NewTicker(params.interval)
	defer tick.Stop()
	var lastSent uint64
	var lastAt time.Time
	sentRate := 0
	for {
		var now time.Time
		select {
		case <-p.left:
			return
		case now = <-tick.C:
		}
		// Sent bitrate over windows of about a second.
		if lastAt.IsZero() {
			lastSent, lastAt = p.sentBytes.Load(), now
		} else if d := now.Sub(lastAt); d >= time.Second {
			n := p.sentBytes.Load()
			sentRate = int(float64(n-lastSent) * 8 / d.Seconds())
			lastSent, lastAt = n, now
		}
		estimate := e.GetTargetBitrate()
		st := e.GetStats()
		loss, _ := st["averageLoss"].(float64)
		delayTarget, _ := st["delayTargetBitrate"].(int)
		if delayTarget == 0 {
			// No feedback yet (or none ever): the estimate is only the initial guess.
			p.mu.Lock()
			p.quality = Quality{SentBitrate: sentRate}
			p.mu.Unlock()
			continue
		}
		before := ctl.cur
		usage, _ := st["usage"].(string)
		i, reason := ctl.update(now, estimate, loss, usage == "overuse")
		p.mu.Lock()
		p.quality = Quality{EstimatedBitrate: estimate, SentBitrate: sentRate, Loss: loss}
		if i != before {
			p.estCaps = capsForTier(need, i)
		}
		p.mu.Unlock()
		if i != before {
			p.m.stats.tierChanges.Add(1)
			p.log.Debug("bandwidth tier", "tier", p.tierName(i), "reason", reason)
			if err := p.applyTier("bandwidth: " + reason); err != nil {
				p.log.Warn("apply tier", "err", err)
			}
		}
	}
}
