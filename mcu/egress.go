package mcu

// Egress: one encode per distinct mix and audio class, one per distinct view, tier and video encoding,
// and the fan-out of each encode to the participants who receive it.

import (
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/codec/g722"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/l16"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/codec/vp8"
	"github.com/openmcu/mcu/mcu/internal/rtpio"
	"github.com/openmcu/mcu/mixer"
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
	case L16:
		return l16.NewEncoder(), nil
	case Opus:
		cfg := opus.DefaultEncoderConfig()
		cfg.Bitrate = c.bitrate
		cfg.PacketLoss = c.lossPercent
		return opus.NewEncoder(cfg)
	}
	return nil, fmt.Errorf("audio encoder for %v: %w", c.codec, ErrNoCodec)
}

// audioListener receives the mixer's output on the mixer goroutine.
type audioListener struct{ r *room }

// OnAudioTick encodes each distinct mix once and sends it to all of its listeners.
func (l audioListener) OnAudioTick(tick mixer.AudioTick) {
	r := l.r
	start := time.Now()
	members := *r.snapshot.Load()
	for _, mix := range tick.Mixes {
		// One encode per class among this mix's listeners (almost always one or two classes).
		done := r.audioDone[:0]
		for _, id := range mix.Listeners {
			p := members[id]
			if p == nil || !p.mediaUp() {
				continue // not connected yet: nothing to encode for it
			}
			class := p.audioClass()
			if slices.Contains(done, class) {
				continue
			}
			done = append(done, class)
			key := audioEncKey{mix: mix.Key, class: class}
			enc := r.audioEnc[key]
			if enc == nil {
				var err error
				if enc, err = newAudioEncoder(class); err != nil {
					r.log.Error("new audio encoder", "mix", mix.Key, "codec", class.codec, "err", err)
					continue
				}
				r.audioEncoders.Add(1)
				r.audioEnc[key] = enc
			}
			r.audioUsed[key] = tick.Seq
			n, err := enc.Encode(mix.PCM, r.audioBuf)
			if err != nil {
				r.log.Error("audio encode", "mix", mix.Key, "codec", class.codec, "err", err)
				continue
			}
			for _, lid := range mix.Listeners {
				if q := members[lid]; q != nil && q.mediaUp() && q.audioClass() == class {
					q.writeAudio(r.audioBuf[:n])
				}
			}
		}
		r.audioDone = done
	}
	now := time.Now()
	if !tick.Arrived.IsZero() {
		r.m.stats.audioLatency.Observe(now.Sub(tick.Arrived))
	}
	// How late this tick's last packet went out: a thread that waits for the CPU mid-tick delays the
	// packets as much as a late wakeup.
	late := tick.Late + now.Sub(start)
	r.m.stats.audioTickLate.Observe(late)
	r.video.SetShedLevel(r.m.gov.observe(now, late))
	for k, enc := range r.audioEnc {
		if r.audioUsed[k] != tick.Seq {
			enc.Close()
			r.audioEncoders.Add(-1)
			delete(r.audioEnc, k)
			delete(r.audioUsed, k)
		}
	}
}

// output is one compositor output and the participants who receive it. Its encoder goroutine
// (runOutput) owns the encoders; receivers is a copy-on-write list replaced by the compositor goroutine.
type output struct {
	out       *mixer.Output
	receivers atomic.Pointer[[]*Participant]
	// keyframeDue: a receiver asked for a keyframe (served within Config.KeyframeInterval of the last);
	// keyframeNow: a receiver joined the output or switched to it and needs one at once.
	keyframeDue, keyframeNow atomic.Bool
}

// requestKeyframe asks for an IDR: at once if urgent, else within Config.KeyframeInterval of the last one.
func (o *output) requestKeyframe(urgent bool) {
	if urgent {
		o.keyframeNow.Store(true)
	} else {
		o.keyframeDue.Store(true)
	}
}

// videoListener receives the compositor's output changes on the compositor goroutine.
type videoListener struct{ r *room }

// OutputsChanged starts an encoder goroutine for each new output and updates every receiver list.
func (l videoListener) OutputsChanged(assignments []mixer.Assignment) {
	r := l.r
	members := *r.snapshot.Load()
	seen := make(map[*mixer.Output]bool, len(assignments))
	for _, a := range assignments {
		seen[a.Output] = true
		o := r.outputs[a.Output]
		if o == nil {
			o = &output{out: a.Output}
			o.receivers.Store(&[]*Participant{})
			r.outputs[a.Output] = o
			r.wg.Add(1)
			go r.runOutput(o)
		}
		old := *o.receivers.Load()
		list := make([]*Participant, 0, len(a.Receivers))
		added := false
		for _, id := range a.Receivers {
			p := members[id]
			if p == nil {
				continue
			}
			list = append(list, p)
			p.feed.Store(o)
			if !slices.Contains(old, p) {
				added = true
			}
		}
		o.receivers.Store(&list)
		if added {
			o.requestKeyframe(true)
		}
	}
	for out, o := range r.outputs {
		if !seen[out] {
			o.receivers.Store(&[]*Participant{})
			delete(r.outputs, out)
		}
	}
}

// runOutput encodes one output's pictures and sends them to its receivers, until the output or the room
// closes: one encoder per video encoding its receivers need (H.264, H.264 in one-packet slices, VP8),
// each opened when the first receiver needing it appears and closed when the last one goes.
func (r *room) runOutput(o *output) {
	defer r.wg.Done()
	defer r.m.catch(panicRoom, r.log, r.fail)
	e := newOutputEncoders(r, o)
	defer e.close()
	e.log.Debug("output started")
	defer e.log.Debug("output stopped")
	for {
		var f *codec.VideoFrame
		select {
		case <-r.ctx.Done():
			return
		case <-o.out.Done():
			return
		case f = <-o.out.Frames():
		}
		e.encode(f)
		f.Release()
	}
}

// outputEncoders is the state of one output's encoder goroutine: its encoders by encoding, the keyframe
// coalescing and the RTP time of the frames sent.
type outputEncoders struct {
	r        *room
	o        *output
	key      mixer.OutputKey
	log      *slog.Logger
	tier     int // index in Config.Tiers
	slots    []encoderSlot
	frameDur time.Duration
	// lastForced is the last IDR forced at a receiver's request, lastSent the last frame sent.
	lastForced, lastSent time.Time
	dropped              uint64 // the output's dropped pictures already counted
}

// encodeBounded encodes f with enc once one of the MCU's encode slots is free (see MCU.encodeSlots),
// counting the time it waited for one and the most encodes at once.
func (m *MCU) encodeBounded(enc codec.VideoEncoder, f *codec.VideoFrame) ([]byte, error) {
	select {
	case m.encodeSlots <- struct{}{}:
	default: // every slot taken: wait, and count the wait
		t0 := time.Now()
		m.encodesWaiting.Add(1)
		m.encodeSlots <- struct{}{}
		m.encodesWaiting.Add(-1)
		m.stats.videoEncodeWait.Add(int64(time.Since(t0)))
	}
	n := m.encodesRunning.Add(1)
	for p := m.stats.VideoEncodesPeak.Load(); n > p && !m.stats.VideoEncodesPeak.CompareAndSwap(p, n); {
		p = m.stats.VideoEncodesPeak.Load()
	}
	data, _, err := enc.Encode(f)
	m.encodesRunning.Add(-1)
	<-m.encodeSlots
	return data, err
}

// psnrMeter is a video encoder that measures the PSNR of its pictures (h264.Encoder with
// Config.MeasurePSNR).
type psnrMeter interface {
	// LastPSNR returns the luma PSNR in dB of the last picture encoded, false when not measured.
	LastPSNR() (lumaDB float64, ok bool)
}

// encoderSlot is one encoder of an output and whether this frame's receivers need it.
type encoderSlot struct {
	enc    videoEncoding
	coder  codec.VideoEncoder
	needed bool
}

func newOutputEncoders(r *room, o *output) *outputEncoders {
	key := o.out.Key()
	return &outputEncoders{r: r, o: o, key: key,
		log:      r.log.With("view", key.View, "width", key.Width, "height", key.Height),
		tier:     r.m.tiers.of(key.Width, key.Height, key.FrameRate),
		frameDur: time.Second / time.Duration(max(key.FrameRate, 1))}
}

// encode encodes f once per encoding the receivers need and sends each encoding to its receivers.
func (e *outputEncoders) encode(f *codec.VideoFrame) {
	stats := &e.r.m.stats
	if d := e.o.out.Dropped(); d > e.dropped {
		stats.VideoFramesDropped.Add(d - e.dropped)
		e.dropped = d
	}
	now := time.Now()
	receivers := *e.o.receivers.Load()
	e.markNeeded(receivers)
	force := e.keyframeDue(now, receivers)
	dur := e.rtpDuration(now)
	sent := false
	for i := range e.slots {
		s := &e.slots[i]
		if !s.needed {
			continue
		}
		if s.coder == nil && !e.open(s) {
			continue
		}
		if force {
			s.coder.ForceKeyframe()
		}
		data, err := e.r.m.encodeBounded(s.coder, f)
		if err != nil {
			e.log.Error("video encode", "encoding", s.enc, "err", err)
			continue
		}
		stats.VideoFramesOut.Add(1)
		if m, ok := s.coder.(psnrMeter); ok {
			if db, ok := m.LastPSNR(); ok {
				stats.videoPSNR.observe(db)
			}
		}
		for _, p := range receivers {
			if p.videoEncoding() == s.enc {
				p.writeVideo(data, dur)
			}
		}
		sent = true
	}
	e.closeUnneeded()
	if sent && !f.Time.IsZero() {
		stats.videoLatency.Observe(time.Since(f.Time))
	}
}

// markNeeded marks the slots of the encodings the receivers need, adding slots for new ones.
func (e *outputEncoders) markNeeded(receivers []*Participant) {
	for i := range e.slots {
		e.slots[i].needed = false
	}
	for _, p := range receivers {
		enc := p.videoEncoding()
		if enc.none() {
			continue
		}
		i := slices.IndexFunc(e.slots, func(s encoderSlot) bool { return s.enc == enc })
		if i < 0 {
			e.slots = append(e.slots, encoderSlot{enc: enc})
			i = len(e.slots) - 1
		}
		e.slots[i].needed = true
	}
}

// keyframeDue reports whether this frame must be an IDR: a receiver is new (at once), or one asked
// (coalesced to one per Config.KeyframeInterval); the receivers that asked are counted as served.
func (e *outputEncoders) keyframeDue(now time.Time, receivers []*Participant) bool {
	o := e.o
	if !o.keyframeNow.Swap(false) && !(o.keyframeDue.Load() && now.Sub(e.lastForced) >= e.r.m.cfg.KeyframeInterval) {
		return false
	}
	o.keyframeDue.Store(false)
	e.lastForced = now
	e.r.m.stats.KeyframesForced.Add(1)
	for _, p := range receivers {
		if p.kfPending.Swap(false) {
			p.keyframesForced.Add(1)
		}
	}
	return true
}

// rtpDuration is how long the frame sent now lasts in RTP time: whole frame intervals since the last one
// sent (one, or more when pictures were dropped).
func (e *outputEncoders) rtpDuration(now time.Time) time.Duration {
	dur := e.frameDur
	if !e.lastSent.IsZero() {
		dur = max(e.frameDur, (now.Sub(e.lastSent)+e.frameDur/2)/e.frameDur*e.frameDur)
	}
	e.lastSent = now
	return dur
}

// open opens the encoder of a slot, its first frame an IDR; false if it failed (logged).
func (e *outputEncoders) open(s *encoderSlot) bool {
	c, err := e.r.newVideoEncoder(s.enc, e.key, e.r.m.tiers.tiers[e.tier].VideoBitrate)
	if err != nil {
		e.log.Error("new video encoder", "encoding", s.enc, "err", err)
		return false
	}
	s.coder = c
	e.r.tierEncoders[e.tier].Add(1)
	c.ForceKeyframe()
	return true
}

// closeUnneeded closes the encoders no receiver needs any more and forgets their slots.
func (e *outputEncoders) closeUnneeded() {
	e.slots = slices.DeleteFunc(e.slots, func(s encoderSlot) bool {
		if s.needed {
			return false
		}
		if s.coder != nil {
			s.coder.Close()
			e.r.tierEncoders[e.tier].Add(-1)
		}
		return true
	})
}

// close closes every encoder.
func (e *outputEncoders) close() {
	for i := range e.slots {
		e.slots[i].needed = false
	}
	e.closeUnneeded()
}

// newVideoEncoder opens an encoder of one output in encoding enc.
func (r *room) newVideoEncoder(enc videoEncoding, key mixer.OutputKey, bitrate int) (codec.VideoEncoder, error) {
	if enc.codec == codec.VP8 {
		return vp8.NewEncoder(vp8.Config{Width: key.Width, Height: key.Height, FrameRate: key.FrameRate,
			Bitrate: bitrate})
	}
	cfg := h264.Config{Width: key.Width, Height: key.Height, FrameRate: key.FrameRate, Bitrate: bitrate,
		KeyframeInterval: enc.keyframeInterval, MeasurePSNR: r.m.cfg.MeasurePSNR}
	if enc.sliced {
		cfg.SliceMaxSize = rtpio.MTU
	}
	return h264.NewEncoder(cfg)
}
