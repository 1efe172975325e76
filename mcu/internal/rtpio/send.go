package rtpio

import (
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/mcu/internal/packetize"
)

// rtpAudioFrame is the duration of the audio in one RTP packet.
const rtpAudioFrame = 20 * time.Millisecond

// VideoClockRate is the RTP clock rate of video.
const VideoClockRate = 90000

// AudioSender turns 20 ms audio payloads into RTP packets on a stream: a random SSRC, sequence number
// and first timestamp; the timestamp advances by one frame per payload or skipped frame; the marker bit
// is set on the first packet and on the first after a gap (a talkspurt's start). It belongs to one
// goroutine and allocates nothing per packet.
type AudioSender struct {
	s      *Stream
	pt     uint8
	ssrc   uint32
	seq    uint16
	ts     uint32
	step   uint32 // timestamp units per frame
	marker bool
	buf    []byte
}

// NewAudioSender returns a sender of payload type pt at clockRate (8000 for PCMU, PCMA and G.722,
// 48000 for Opus) on s, and makes its SSRC the one s reports.
func NewAudioSender(s *Stream, pt uint8, clockRate int) *AudioSender {
	a := &AudioSender{
		s:      s,
		pt:     pt & 0x7f,
		ssrc:   rand.Uint32(),
		seq:    uint16(rand.Uint32()),
		ts:     rand.Uint32(),
		step:   uint32(int64(clockRate) * int64(rtpAudioFrame) / int64(time.Second)),
		marker: true,
		buf:    make([]byte, ReadBufferSize),
	}
	s.setSender(a.ssrc, clockRate)
	return a
}

// SSRC returns the sender's SSRC.
func (a *AudioSender) SSRC() uint32 { return a.ssrc }

// ContinueFrom makes a go on where old stopped: the same SSRC and the next sequence number, as RFC 3550
// wants of a stream whose payload type changes (its timestamps go on from old's too, in the new clock
// rate, which an endpoint resyncs on the marker bit). old must not be written to meanwhile.
func (a *AudioSender) ContinueFrom(old *AudioSender, clockRate int) {
	a.ssrc, a.seq, a.ts, a.marker = old.ssrc, old.seq, old.ts, true
	a.s.setSender(a.ssrc, clockRate)
}

// Write sends one encoded 20 ms frame in one packet. An empty payload is a frame not sent (Skip).
func (a *AudioSender) Write(payload []byte) {
	if len(payload) == 0 {
		a.Skip()
		return
	}
	h := rtp.Header{Version: 2, Marker: a.marker, PayloadType: a.pt, SequenceNumber: a.seq, Timestamp: a.ts, SSRC: a.ssrc}
	n := h.MarshalSize()
	if need := n + len(payload); need > len(a.buf) {
		a.buf = make([]byte, need)
	}
	if _, err := h.MarshalTo(a.buf); err != nil {
		return // the buffer is large enough: cannot happen
	}
	n += copy(a.buf[n:], payload)
	now := time.Now()
	a.s.armWrite(now)
	a.s.writeRTP(a.buf[:n], a.ssrc, a.ts, len(payload), now)
	a.seq++
	a.ts += a.step
	a.marker = false
}

// Skip lets one 20 ms frame pass without a packet (silence, hold): the timestamp advances and the next
// packet carries the marker bit.
func (a *AudioSender) Skip() {
	a.ts += a.step
	a.marker = true
}

// VideoSender turns H.264 access units in Annex-B form (start codes, as the encoder emits them) into
// RTP packets on a stream, in packetization mode 1 (single NAL units, STAP-A and FU-A, payloads up to
// MTU, as pion's payloader cuts them: packetize.H264) or 0 (one NAL unit per packet, however large: such an endpoint needs an
// encoder that slices). Timestamps are at 90 kHz and advance by each frame's duration; the marker bit is
// on the last packet of a frame. It belongs to one goroutine.
type VideoSender struct {
	s         *Stream
	pt        uint8
	mode      int
	ssrc      uint32
	seq       uint16
	ts        uint32
	tsRem     int64 // the fraction of a timestamp unit carried over, in units of 1/time.Second
	payloader packetize.H264
	buf       []byte
}

// NewVideoSender returns a sender of payload type pt in packetizationMode (0 or 1; anything else is
// taken as 1) on s, and makes its SSRC the one s reports.
func NewVideoSender(s *Stream, pt uint8, packetizationMode int) *VideoSender {
	v := &VideoSender{
		s:    s,
		pt:   pt & 0x7f,
		mode: packetizationMode,
		ssrc: rand.Uint32(),
		seq:  uint16(rand.Uint32()),
		ts:   rand.Uint32(),
		buf:  make([]byte, ReadBufferSize),
	}
	if v.mode != 0 {
		v.mode = 1
	}
	s.setSender(v.ssrc, VideoClockRate)
	return v
}

// SSRC returns the sender's SSRC.
func (v *VideoSender) SSRC() uint32 { return v.ssrc }

// ContinueFrom makes v go on where old stopped: the same SSRC, the next sequence number and timestamp, as
// RFC 3550 wants of a stream whose payload type or packetization changes. old must not be written to
// meanwhile.
func (v *VideoSender) ContinueFrom(old *VideoSender) {
	v.ssrc, v.seq, v.ts, v.tsRem = old.ssrc, old.seq, old.ts, old.tsRem
	v.s.setSender(v.ssrc, VideoClockRate)
}

// WriteFrame sends the access unit au, which lasts d (the next frame's timestamp is d later). au is not
// kept.
func (v *VideoSender) WriteFrame(au []byte, d time.Duration) {
	now := time.Now()
	v.s.armWrite(now)
	if v.mode == 0 {
		v.writeSingle(au, now)
	} else {
		payloads := v.payloader.Payloads(MTU, au)
		for i, p := range payloads {
			v.writePacket(p, i == len(payloads)-1, now)
		}
	}
	// Advance by d at 90 kHz exactly, carrying the remainder (33.3 ms frames do not drift).
	units := int64(d)*VideoClockRate + v.tsRem
	v.ts += uint32(units / int64(time.Second))
	v.tsRem = units % int64(time.Second)
}

// writeSingle sends each NAL unit of au in a packet of its own (packetization mode 0), leaving out access
// unit delimiters and filler data as the mode-1 payloader does.
func (v *VideoSender) writeSingle(au []byte, now time.Time) {
	var pending []byte // the last NAL unit goes out with the marker bit
	h264.SplitNALs(au, func(nal []byte) {
		if t := h264.NALType(nal); t == h264.NALAUD || t == nalFiller {
			return
		}
		if pending != nil {
			v.writeNAL(pending, false, now)
		}
		pending = nal
	})
	if pending != nil {
		v.writeNAL(pending, true, now)
	}
}

// nalFiller is the NAL unit type of filler data (H.264 table 7-1).
const nalFiller = 12

// writeNAL sends one NAL unit as a single-NAL-unit packet, counting it if it exceeds the MTU.
func (v *VideoSender) writeNAL(nal []byte, last bool, now time.Time) {
	if len(nal) > MTU {
		v.s.counters.oversized.Add(1)
	}
	v.writePacket(nal, last, now)
}

// writePacket sends one packet with payload, the marker bit set if it is the last of its frame.
func (v *VideoSender) writePacket(payload []byte, last bool, now time.Time) {
	h := rtp.Header{Version: 2, Marker: last, PayloadType: v.pt, SequenceNumber: v.seq, Timestamp: v.ts, SSRC: v.ssrc}
	n := h.MarshalSize()
	if need := n + len(payload); need > len(v.buf) {
		v.buf = make([]byte, need)
	}
	if _, err := h.MarshalTo(v.buf); err != nil {
		return // the buffer is large enough: cannot happen
	}
	n += copy(v.buf[n:], payload)
	v.s.writeRTP(v.buf[:n], v.ssrc, v.ts, len(payload), now)
	v.seq++
}
