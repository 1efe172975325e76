package mcu

import (
	"fmt"
	"sync/atomic"

	"github.com/pion/rtcp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/codec/g722"
	"github.com/openmcu/mcu/codec/opus"
)

// audioClass is how a listener's mix is encoded: the codec and, for Opus, a bitrate and the packet loss
// it expects (which sets how much in-band FEC it carries). Listeners of one mix in one class share one
// encoder, so the number of encodes per tick is the number of distinct (mix, class) pairs, not of
// participants.
type audioClass struct {
	codec       AudioCodec
	bitrate     int // Opus only
	lossPercent int // Opus only
}

// audioOnlyBitrate caps the Opus bitrate of a listener who gets no video because its link is too thin.
const audioOnlyBitrate = 24_000

// lossBuckets are the expected-loss settings a listener's measured loss is rounded up to; few buckets
// keep listeners sharing encoders.
var lossBuckets = [...]int{5, 10, 20, 30}

// audioClassFor returns the class for a listener on video tier tier (-1: audio only) whose receiver
// reports say lossPercent of its audio is lost.
func audioClassFor(cfg Config, tier int, lossPercent int) audioClass {
	c := audioClass{codec: Opus, bitrate: cfg.AudioBitrate, lossPercent: lossBuckets[len(lossBuckets)-1]}
	if tier < 0 {
		c.bitrate = min(c.bitrate, audioOnlyBitrate)
	}
	for _, b := range lossBuckets {
		if lossPercent < b {
			c.lossPercent = b
			break
		}
	}
	return c
}

// audioLoss tracks the loss a listener reports for its audio (RTCP receiver reports), smoothed. Safe for
// concurrent use.
type audioLoss struct{ percent atomic.Int32 }

// observe takes the receiver reports in pkts about ssrc.
func (l *audioLoss) observe(pkts []rtcp.Packet, ssrc uint32) {
	for _, pk := range pkts {
		rr, ok := pk.(*rtcp.ReceiverReport)
		if !ok {
			continue
		}
		for _, r := range rr.Reports {
			if r.SSRC == ssrc {
				l.observeFraction(r.FractionLost)
			}
		}
	}
}

// observeFraction takes one report block's fraction lost (of 256) about the listener's audio. It rises
// at once and falls slowly: a listener that just lost packets keeps its FEC for a while.
func (l *audioLoss) observeFraction(fraction uint8) {
	now := int32(fraction) * 100 / 256
	if old := l.percent.Load(); now < old {
		now = (old*3 + now) / 4
	}
	l.percent.Store(now)
}

func (l *audioLoss) get() int { return int(l.percent.Load()) }

// audioEncKey names one audio encoder of a room: a mix in a class.
type audioEncKey struct {
	mix   string
	class audioClass
}

// newAudioEncoder opens an encoder for a class.
func newAudioEncoder(c audioClass) (codec.AudioEncoder, error) {
	switch c.codec {
	case PCMU:
		return g711.NewEncoder(g711.MuLaw)
	case PCMA:
		return g711.NewEncoder(g711.ALaw)
	case G722:
		return g722.NewEncoder()
	case Opus:
		cfg := opus.DefaultEncoderConfig()
		cfg.Bitrate = c.bitrate
		cfg.PacketLoss = c.lossPercent
		return opus.NewEncoder(cfg)
	}
	return nil, fmt.Errorf("audio encoder for %v: %w", c.codec, ErrNoCodec)
}

// newAudioDecoder opens a decoder for an incoming audio stream.
func newAudioDecoder(c AudioCodec) (codec.AudioDecoder, error) {
	switch c {
	case PCMU:
		return g711.NewDecoder(g711.MuLaw)
	case PCMA:
		return g711.NewDecoder(g711.ALaw)
	case G722:
		return g722.NewDecoder()
	case Opus:
		return opus.NewDecoder()
	}
	return nil, fmt.Errorf("audio decoder for %v: %w", c, ErrNoCodec)
}
