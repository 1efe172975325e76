package mcu

import (
	"fmt"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"

	"github.com/openmcu/mcu/mcu/internal/pionlog"
	"github.com/openmcu/mcu/mcu/internal/tierctl"
)

// Automatic tier choice. Each participant's PeerConnection runs pion's send-side bandwidth estimator
// (TWCC feedback into GCC, no pacer: the tier bounds what is sent). Once feedback arrives, a ticker
// goroutine per participant (runBWE) feeds the estimate and GCC's loss into a tierctl.Controller, whose choice
// becomes the participant's estimated caps: one more input to applyTier, merged with the explicit caps
// and b=AS/b=TIAS, the tightest winning. Without TWCC feedback (a client that does not negotiate it) the
// estimated caps stay empty and the explicit caps alone decide.

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
	// Limit says what holds the tier down: "caps" (its own or its SDP's), "bandwidth" (the estimate),
	// "cpu" (the server sheds video work: see the README's "Audio first under CPU pressure") or "" (nothing:
	// the best tier).
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
	switch ec, bc := p.m.tiers.fit(explicit), p.m.tiers.fit(est); {
	case i == 0:
	case ec == i:
		q.Limit = "caps"
	case bc == i:
		q.Limit = "bandwidth"
	case int(p.m.tierFloor.Load()) >= i:
		q.Limit = "cpu"
	}
	return q
}

// newBWE returns the bandwidth estimator factory of the MCU's PeerConnections: GCC starting a little
// above the main tier's need, without a pacer.
func (m *MCU) newBWE() (*cc.InterceptorFactory, error) {
	need := m.tiers.needs()
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

// runBWE turns the participant's bandwidth estimate into its tier every tierctl.Params.Interval until it
// leaves, and keeps its Quality snapshot.
func (p *Participant) runBWE(e cc.BandwidthEstimator) {
	defer p.wg.Done()
	defer p.m.catch(panicBWE, p.log, p.removeAsync)
	params := tierctl.DefaultParams()
	need := p.m.tiers.needs()
	ctl := tierctl.New(params, need)
	tick := time.NewTicker(params.Interval)
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
		before := ctl.Tier()
		usage, _ := st["usage"].(string)
		i, reason := ctl.Update(now, estimate, loss, usage == "overuse")
		p.mu.Lock()
		p.quality = Quality{EstimatedBitrate: estimate, SentBitrate: sentRate, Loss: loss}
		if i != before {
			p.estCaps = capsForTier(need, i)
		}
		p.mu.Unlock()
		if i != before {
			p.m.stats.TierChanges.Add(1)
			p.log.Debug("bandwidth tier", "tier", p.tierName(i), "reason", reason)
			if err := p.applyTier("bandwidth: " + reason); err != nil {
				p.log.Warn("apply tier", "err", err)
			}
		}
	}
}
