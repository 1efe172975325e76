package mcu

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/codec/vp8"
	"github.com/openmcu/mcu/mcu/internal/rtpio"
	"github.com/openmcu/mcu/mixer"
)

// room is one conference: its members, one audio mixer and one compositor, and their encoders. It is
// created by the first Join of its name and closed by the last Leave.
type room struct {
	m     *MCU
	name  string
	log   *slog.Logger
	audio *mixer.AudioMixer
	video *mixer.Compositor

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // mixer loop, compositor loop, output encoders

	mu      sync.Mutex
	byID    map[ParticipantID]*Participant
	order   []*Participant // join order, for the roster
	closed  bool
	started bool

	// snapshot is a copy-on-write snapshot of byID for the media path, replaced under mu.
	snapshot atomic.Pointer[map[ParticipantID]*Participant]

	// Audio egress, owned by the mixer goroutine (OnAudioTick): one Opus encoder per mix key.
	// Encoders are per (mix, class); audioDone is scratch for one mix's classes.
	audioEnc  map[audioEncKey]codec.AudioEncoder
	audioUsed map[audioEncKey]uint64
	audioBuf  []byte
	audioDone []audioClass

	// Video egress, owned by the compositor goroutine (OutputsChanged): one encoder goroutine per output.
	outputs map[*mixer.Output]*output

	// Encoders running, for the stats (MCU.Stats sums the rooms').
	audioEncoders atomic.Int64
	tierEncoders  []atomic.Int64 // per Config.Tiers index
}

func newRoom(m *MCU, name string) (*room, error) {
	r := &room{
		m: m, name: name, log: m.log.With("room", name),
		byID:      make(map[ParticipantID]*Participant),
		audioEnc:  make(map[audioEncKey]codec.AudioEncoder),
		audioUsed: make(map[audioEncKey]uint64),
		audioBuf:  make([]byte, opus.MaxPacketSize),
		outputs:   make(map[*mixer.Output]*output),
	}
	r.tierEncoders = make([]atomic.Int64, len(m.cfg.Tiers()))
	r.snapshot.Store(&map[ParticipantID]*Participant{})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.audio = mixer.NewAudioMixer(mixer.DefaultAudioConfig(), mixer.AudioParams{
		Logger: r.log, Listener: audioListener{r}})
	ccfg := mixer.DefaultCompositorConfig()
	ccfg.FrameRate = m.cfg.FrameRate
	ccfg.VisibleTiles = m.cfg.VisibleTiles
	ccfg.SpeakerHold = m.cfg.SpeakerHold
	video, err := mixer.NewCompositor(ccfg, mixer.CompositorParams{Logger: r.log, Listener: videoListener{r}})
	if err != nil {
		r.cancel()
		r.audio.Close()
		return nil, fmt.Errorf("new compositor: %w", err)
	}
	r.video = video
	return r, nil
}

// start runs the mixer and compositor loops, once, unless the room closed already.
func (r *room) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		defer r.m.catch(panicRoom, r.log, r.fail)
		if err := r.audio.Run(r.ctx); err != nil {
			r.log.Error("audio mixer stopped", "err", err)
		}
	}()
	go func() {
		defer r.wg.Done()
		defer r.m.catch(panicRoom, r.log, r.fail)
		if err := r.video.Run(r.ctx); err != nil {
			r.log.Error("compositor stopped", "err", err)
		}
	}()
	r.log.Info("room opened")
}

// close stops the loops and the output encoders, waits for them and frees the audio encoders.
func (r *room) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.audio.Close()
	r.video.Close()
	r.wg.Wait()
	for k, enc := range r.audioEnc {
		enc.Close()
		r.audioEncoders.Add(-1)
		delete(r.audioEnc, k)
	}
	r.log.Info("room closed")
}

// fail ends the room after a panic in one of its goroutines (err wraps ErrInternal): the MCU forgets it,
// so the next join of its name opens a fresh room, and every member is removed with err; the last one
// out closes it. Other rooms are not touched.
func (r *room) fail(err error) {
	r.m.mu.Lock()
	r.m.removeRoomLocked(r)
	r.m.mu.Unlock()
	members := r.members()
	r.log.Error("room failed: removing its participants", "err", err, "participants", len(members))
	for _, p := range members {
		p.removeAsync(err)
	}
}

// size returns the number of members.
func (r *room) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// addLocked makes p a member and returns the other members. m.mu is held.
func (r *room) addLocked(p *Participant) ([]*Participant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if len(r.byID) >= r.m.cfg.MaxParticipants {
		return nil, ErrRoomFull
	}
	others := slices.Clone(r.order)
	r.byID[p.id] = p
	r.order = append(r.order, p)
	r.publishLocked()
	p.r = r
	p.log = r.log.With("participant", p.id)
	return others, nil
}

func (r *room) publishLocked() {
	snap := make(map[ParticipantID]*Participant, len(r.byID))
	for id, p := range r.byID {
		snap[id] = p
	}
	r.snapshot.Store(&snap)
}

// members returns the members in join order.
func (r *room) members() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// attach makes p a source and listener of the mixer and a source of the compositor. It becomes a
// receiver of the compositor (applyTier) once its media is connected, so that a participant that never
// connects costs no encode. A viewer is only a listener and a receiver: it hears the full mix and sees
// everyone.
func (r *room) attach(p *Participant) error {
	if !p.viewer {
		src, err := r.audio.AddSource(p.id)
		if err != nil {
			return fmt.Errorf("add audio source: %w", err)
		}
		p.audioIn = src
	}
	if err := r.audio.AddListener(p.id); err != nil {
		return fmt.Errorf("add audio listener: %w", err)
	}
	if !p.viewer {
		r.video.AddSource(p.id, p.name)
	}
	return nil
}

// receiverOptions is what the compositor draws for a receiver with layout l on tier i of Config.Tiers.
func (r *room) receiverOptions(l mixer.Layout, i int) mixer.ReceiverOptions {
	t := r.m.cfg.Tiers()[i]
	return mixer.ReceiverOptions{Width: t.Width, Height: t.Height, FrameRate: t.FrameRate, Layout: l}
}

// remove takes p out of the room and the mixers. It returns the remaining members and whether the room is
// now empty, in which case it is closed for joins and forgotten by the MCU: the caller must close it.
func (r *room) remove(p *Participant) (others []*Participant, empty bool) {
	r.m.mu.Lock()
	r.mu.Lock()
	if r.byID[p.id] == p {
		delete(r.byID, p.id)
		r.order = slices.DeleteFunc(r.order, func(q *Participant) bool { return q == p })
		r.publishLocked()
	}
	others = slices.Clone(r.order)
	empty = len(r.byID) == 0 && !r.closed
	if empty {
		r.closed = true
		r.m.removeRoomLocked(r)
	}
	r.mu.Unlock()
	r.m.mu.Unlock()
	r.audio.RemoveSource(p.id)
	r.audio.RemoveListener(p.id)
	r.video.RemoveReceiver(p.id)
	r.video.RemoveSource(p.id)
	return others, empty
}

// announceJoin tells the others about p (unless p is hidden), and p about the others (but the hidden).
func (r *room) announceJoin(p *Participant, others []*Participant) {
	info := p.Info()
	for _, o := range others {
		if !p.hidden {
			o.listener.OnRoster(RosterEvent{Type: RosterJoined, Participant: info})
		}
		if !o.hidden {
			p.listener.OnRoster(RosterEvent{Type: RosterJoined, Participant: o.Info()})
		}
	}
}

// broadcast sends e to every member but the one it is about; nothing is told about a hidden viewer.
func (r *room) broadcast(e RosterEvent) {
	if p := (*r.snapshot.Load())[e.Participant.ID]; p != nil && p.hidden {
		return
	}
	for _, o := range r.members() {
		if o.id != e.Participant.ID {
			o.listener.OnRoster(e)
		}
	}
}

// audioListener receives the mixer's output on the mixer goroutine.
type audioListener struct{ r *room }

// OnAudioTick encodes each distinct mix once and sends it to all of its listeners.
func (l audioListener) OnAudioTick(tick mixer.AudioTick) {
	r := l.r
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
	if !tick.Arrived.IsZero() {
		r.m.stats.audioLatency.Observe(time.Since(tick.Arrived))
	}
	for k, enc := range r.audioEnc {
		if r.audioUsed[k] != tick.Seq {
			enc.Close()
			r.audioEncoders.Add(-1)
			delete(r.audioEnc, k)
			delete(r.audioUsed, k)
		}
	}
}

// OnSpeakingChanged tells the others and moves the speakers to the front of the compositor's ranking.
func (l audioListener) OnSpeakingChanged(changes []mixer.SpeakingChange) {
	r := l.r
	members := *r.snapshot.Load()
	for _, c := range changes {
		p := members[c.ID]
		if p == nil {
			continue
		}
		p.speaking.Store(c.Speaking)
		r.broadcast(RosterEvent{Type: RosterSpeaking, Participant: p.Info()})
	}
	r.video.SetSpeakers(r.audio.ActiveSpeakers())
}

// output is one compositor output and the participants who receive it. Its encoder goroutine owns the
// encoder; receivers are a copy-on-write list replaced by the compositor goroutine.
type output struct {
	out       *mixer.Output
	receivers atomic.Pointer[[]*Participant]
	keyframe  atomic.Bool // a receiver asked for a keyframe (rate-limited)
	newRecv   atomic.Bool // a receiver was added: force a keyframe now
}

// requestKeyframe asks for an IDR: at once if urgent, else within Config.KeyframeInterval of the last one.
func (o *output) requestKeyframe(urgent bool) {
	if urgent {
		o.newRecv.Store(true)
	} else {
		o.keyframe.Store(true)
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
			p.out.Store(o)
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
// closes. It runs one encoder per codec its receivers use (H.264, VP8), each created when the first
// receiver needing it appears and closed when the last one goes.
func (r *room) runOutput(o *output) {
	defer r.wg.Done()
	defer r.m.catch(panicRoom, r.log, r.fail)
	key := o.out.Key()
	log := r.log.With("view", key.View, "width", key.Width, "height", key.Height)
	log.Debug("output started")
	defer log.Debug("output stopped")
	stats := &r.m.stats
	tier := r.m.cfg.tierOf(key.Width, key.Height, key.FrameRate)
	var encoders [h264Sliced + 1]codec.VideoEncoder
	defer func() {
		for _, enc := range encoders {
			if enc != nil {
				enc.Close()
				r.tierEncoders[tier].Add(-1)
			}
		}
	}()
	frameDur := time.Second / time.Duration(max(key.FrameRate, 1))
	var lastForced, lastSent time.Time
	var dropped uint64
	for {
		var f *codec.VideoFrame
		select {
		case <-r.ctx.Done():
			return
		case <-o.out.Done():
			return
		case f = <-o.out.Frames():
		}
		if d := o.out.Dropped(); d > dropped {
			stats.videoFramesDropped.Add(d - dropped)
			dropped = d
		}
		now := time.Now()
		receivers := *o.receivers.Load()
		var need [h264Sliced + 1]bool
		for _, p := range receivers {
			if c := p.wantsVideo(); c > 0 && int(c) < len(need) {
				need[c] = true
			}
		}
		force := o.newRecv.Swap(false) || (o.keyframe.Load() && now.Sub(lastForced) >= r.m.cfg.KeyframeInterval)
		if force {
			o.keyframe.Store(false)
			lastForced = now
			stats.keyframesForced.Add(1)
			for _, p := range receivers {
				if p.kfPending.Swap(false) {
					p.keyframesForced.Add(1)
				}
			}
		}
		// RTP time advances by whole frame intervals: one, or more when pictures were dropped.
		dur := frameDur
		if !lastSent.IsZero() {
			dur = max(frameDur, (now.Sub(lastSent)+frameDur/2)/frameDur*frameDur)
		}
		lastSent = now
		arrived := f.Time
		sent := false
		for c := range need {
			vc := codec.VideoCodec(c)
			if !need[c] {
				if encoders[c] != nil {
					encoders[c].Close()
					encoders[c] = nil
					r.tierEncoders[tier].Add(-1)
				}
				continue
			}
			if encoders[c] == nil {
				enc, err := r.newVideoEncoder(vc, key, r.m.cfg.Tiers()[tier].VideoBitrate)
				if err != nil {
					log.Error("new video encoder", "codec", vc, "err", err)
					continue
				}
				encoders[c] = enc
				r.tierEncoders[tier].Add(1)
				enc.ForceKeyframe()
			}
			enc := encoders[c]
			if force {
				enc.ForceKeyframe()
			}
			data, _, err := enc.Encode(f)
			if err != nil {
				log.Error("video encode", "codec", vc, "err", err)
				continue
			}
			stats.videoFramesOut.Add(1)
			for _, p := range receivers {
				if p.wantsVideo() == vc {
					p.writeVideo(data, dur)
				}
			}
			sent = true
		}
		f.Release()
		if sent && !arrived.IsZero() {
			stats.videoLatency.Observe(time.Since(arrived))
		}
	}
}

// h264Sliced is the encoder slot, next to codec.H264 and codec.VP8, of H.264 cut into slices that each fit
// one RTP packet, for receivers in packetization-mode 0 (plain-RTP endpoints that cannot take FU-A).
const h264Sliced = codec.VP8 + 1

// newVideoEncoder opens an encoder for one output in the given codec (or h264Sliced).
func (r *room) newVideoEncoder(c codec.VideoCodec, key mixer.OutputKey, bitrate int) (codec.VideoEncoder, error) {
	switch c {
	case h264Sliced:
		return h264.NewEncoder(h264.Config{Width: key.Width, Height: key.Height, FrameRate: key.FrameRate,
			Bitrate: bitrate, SliceMaxSize: rtpio.MTU})
	case codec.VP8:
		return vp8.NewEncoder(vp8.Config{Width: key.Width, Height: key.Height, FrameRate: key.FrameRate,
			Bitrate: bitrate})
	default:
		return h264.NewEncoder(h264.Config{Width: key.Width, Height: key.Height, FrameRate: key.FrameRate,
			Bitrate: bitrate})
	}
}
