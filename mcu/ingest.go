package mcu

// Ingest: what a participant sends, read by its transport, decoded into the mixers: audio into 20 ms
// frames with loss concealed, video into whole pictures of the participants someone sees.

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/codec/g722"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/mcu/internal/assembler"
	"github.com/openmcu/mcu/mixer"
)

// Ingest tuning.
const (
	// pliInterval is the shortest time between two PLIs sent for one incoming video track.
	pliInterval = 500 * time.Millisecond
	// maxConcealed is the most lost audio frames concealed for one gap: the mixer's input ring holds no
	// more.
	maxConcealed = 5
	// frameMaxDelay is how long a video frame with a missing packet waits for its retransmission before
	// it is given up.
	frameMaxDelay = 300 * time.Millisecond
)

// rtpReader reads the next RTP packet of a track into pkt, using buf, and returns its arrival time. An
// error that is not a parse error ends the track; a packet that does not parse is skipped.
type rtpReader func(pkt *rtp.Packet, buf []byte) (time.Time, error)

// audioPacketFilter, when not nil, sees every incoming audio packet first and returns false for one that
// is not audio to decode (a DTMF event, another payload type).
type audioPacketFilter func(pkt *rtp.Packet) bool

// readAudio decodes one audio track (Opus, G.711 or G.722) into 20 ms frames for the mixer, concealing
// lost packets: with the next packet's FEC for the last frame of a gap (Opus), with PLC for the others.
// Every packet to decode goes to tap first (forward.go; nil: none).
func (p *Participant) readAudio(read rtpReader, dec codec.AudioDecoder, filter audioPacketFilter, tap *streamTap) {
	p.m.stats.AudioDecoders.Add(1)
	defer p.m.stats.AudioDecoders.Add(-1)
	buf := make([]byte, 1500)
	pcm := make([]int16, codec.FrameSamples)
	silence := make([]int16, codec.FrameSamples)
	var pkt rtp.Packet
	var last uint16
	started := false
	var arrived time.Time
	write := func(frame []int16) {
		if p.audioMuted.Load() {
			frame = silence
		}
		if err := p.audioIn.WriteAt(frame, arrived); err != nil {
			p.m.stats.WriteErrors.Add(1)
		}
	}
	for {
		at, err := read(&pkt, buf)
		if err != nil && at.IsZero() {
			return
		}
		if err != nil || len(pkt.Payload) == 0 || (filter != nil && !filter(&pkt)) {
			continue
		}
		tap.packet(&pkt)
		arrived = at
		if started {
			d := pkt.SequenceNumber - last
			if d == 0 || d >= 0x8000 {
				continue // duplicate or late: its frame was concealed already
			}
			if lost := int(d) - 1; lost > 0 {
				p.m.stats.AudioPacketsLost.Add(uint64(lost))
				k := min(lost, maxConcealed)
				for i := range k {
					var next []byte
					if i == k-1 {
						next = pkt.Payload
					}
					if err := dec.Conceal(next, pcm); err == nil {
						write(pcm)
					}
				}
			}
		}
		started, last = true, pkt.SequenceNumber
		if err := dec.Decode(pkt.Payload, pcm); err != nil && !errors.Is(err, codec.ErrFrameSize) {
			p.m.stats.DecodeErrors.Add(1)
			if err := dec.Conceal(nil, pcm); err != nil {
				continue
			}
		}
		write(pcm)
	}
}

// VideoFramesDecoded returns how many of the participant's incoming video frames have been given to a
// decoder. Frames of a participant visible to nobody are not decoded. Safe for concurrent use.
func (p *Participant) VideoFramesDecoded() uint64 { return p.framesDecoded.Load() }

// readVideo assembles frames (assembler.Assembler: as soon as their last packet is in), decodes them and pushes the pictures to the
// compositor, asking the sender for a keyframe when the track starts and whenever the decoder needs one.
//
// While the participant is visible to nobody (mixer.Compositor.Visible) or has its camera off, it keeps reading RTP (so that
// pion's NACK, report and TWCC interceptors keep working) and assembling frames, but decodes nothing, and
// its decoder is closed (its memory freed). When the participant becomes visible again a new decoder is
// opened, and a PLI goes out at once, regardless of the rate limit, so that a fresh picture replaces the
// compositor's placeholder within a round trip.
//
// A camera's packets go to the room's forwarders as they are read (forward.go), visible or not, and a
// keyframe a link asks for (MCU.RequestKeyframe) is asked of the sender like the MCU's own.
func (p *Participant) readVideo(read rtpReader, sendPLI func() error, c codec.VideoCodec, depacketizer rtp.Depacketizer,
	to videoTarget) {
	open := func() (*av.VideoDecoder, error) {
		return av.NewVideoDecoder(c, av.WithMaxSize(p.m.cfg.MaxInputWidth, p.m.cfg.MaxInputHeight))
	}
	dec, err := open()
	if err != nil {
		p.log.Error("new video decoder", "codec", c, "err", err)
		return
	}
	defer func() {
		if dec != nil {
			dec.Close()
		}
	}()
	var reopenFailed time.Time // when opening the decoder again last failed
	p.m.stats.VideoDecoders.Add(1)
	defer p.m.stats.VideoDecoders.Add(-1)
	idle := false // the participant is visible to nobody: frames are not decoded
	p.m.stats.VideoDecodersActive.Add(1)
	defer func() {
		if !idle {
			p.m.stats.VideoDecodersActive.Add(-1)
		}
	}()
	asm := assembler.New(depacketizer, frameMaxDelay, &p.m.packets)
	defer asm.Close()
	tap := p.videoTap(c, to)
	var lastPLI time.Time
	pli := func() {
		if now := time.Now(); now.Sub(lastPLI) >= pliInterval {
			lastPLI = now
			if err := sendPLI(); err == nil {
				p.m.stats.PLIsSent.Add(1)
			}
		}
	}
	pli()
	var arrival time.Time
	emit := func(data []byte, lost bool) {
		// Nothing to decode for a participant visible to nobody or whose camera is off; when that ends, the
		// decoder's references are gone and a keyframe is asked for at once.
		// The decoder itself is closed meanwhile (its pictures and references are 2-3 MB at 360p, and a
		// large room has many participants visible to nobody) and opened again when it is needed.
		if !p.r.video.Visible(to.id) || to.off() {
			if !idle {
				idle = true
				p.m.stats.VideoDecodersActive.Add(-1)
				if dec != nil {
					dec.Close()
					dec = nil
				}
			}
			p.m.stats.VideoFramesNotDecoded.Add(1)
			return
		}
		if dec == nil {
			if time.Since(reopenFailed) < time.Second {
				p.m.stats.VideoFramesNotDecoded.Add(1)
				return
			}
			if dec, err = open(); err != nil {
				reopenFailed = time.Now()
				p.m.stats.DecodeErrors.Add(1)
				p.log.Warn("open video decoder again", "codec", c, "err", err)
				p.m.stats.VideoFramesNotDecoded.Add(1)
				return
			}
		}
		if idle {
			idle = false
			p.m.stats.VideoDecodersActive.Add(1)
			lost = true
			lastPLI = time.Time{}
			pli()
		}
		if lost {
			dec.Lost()
		}
		if !to.screen {
			p.framesDecoded.Add(1)
		}
		p.m.stats.VideoFramesDecoded.Add(1)
		pic, err := dec.Decode(data)
		if err != nil {
			if !errors.Is(err, codec.ErrNeedKeyframe) {
				p.m.stats.DecodeErrors.Add(1)
			}
			pli()
			return
		}
		if pic == nil {
			return
		}
		pic.Time = arrival // the arrival of the frame's last packet
		if err := p.r.video.PushFrame(to.id, pic); err == nil {
			p.m.stats.VideoFramesIn.Add(1)
		}
		// SetMuted may have turned the camera off (and cleared the tile) while this picture was decoded:
		// it must not stay on screen as a frozen frame. SetMuted sets the flag before clearing, so either
		// its clear comes after this push or this check sees the flag.
		if to.off() {
			p.r.video.ClearPicture(to.id)
		}
	}
	// The assembler keeps packets, whose payloads point into their buffers, until their frame is
	// complete, then gives them back to the MCU's pool: each packet is read into a buffer of its own,
	// which was some earlier packet's.
	pkt := p.m.packets.Get()
	defer func() { p.m.packets.Put(pkt) }()
	for {
		at, err := read(&pkt.Packet, pkt.Buf[:])
		if err != nil && at.IsZero() {
			return
		}
		if err != nil {
			continue
		}
		if tap != nil && p.kfWanted.Swap(false) {
			pli()
		}
		tap.packet(&pkt.Packet)
		arrival = at
		asm.Push(pkt, arrival, emit)
		pkt = p.m.packets.Get()
	}
}

// videoTarget is where an incoming video track's pictures go: the participant's camera tile, or its
// screen (screen.go). off reports that nothing is to be decoded now (the camera muted, the screen not
// presented).
type videoTarget struct {
	id     mixer.ParticipantID
	screen bool
	off    func() bool
}

// camera is the target of the participant's camera track.
func (p *Participant) camera() videoTarget {
	return videoTarget{id: p.id, off: p.videoMuted.Load}
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
