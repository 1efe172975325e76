package mcu

// The plain-RTP transport: a SIP call or any RTP/AVP endpoint (no ICE, DTLS or SRTP). The signalling
// layer (signaling/sip) does the SDP offer/answer and hands the negotiated media to JoinRTP; the MCU owns
// the UDP sockets (mcu/internal/rtpio), the RTP/RTCP, the codecs and this transport's ingest.

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/mcu/internal/assembler"
	"github.com/openmcu/mcu/mcu/internal/dtmf"
	"github.com/openmcu/mcu/mcu/internal/rtpio"
)

// rtpTransport is the transport of a plain-RTP participant (a SIP call, an RTP/AVP endpoint): up to one
// audio and one video rtpio.Stream, their senders and the negotiated media. The streams' sockets stay for
// the participant's life (a re-INVITE keeps its ports); what flows on them follows the latest RTPMedia.
// Safe for concurrent use.
type rtpTransport struct {
	p *Participant

	// The streams (nil: not negotiated yet). A renegotiation may add one while the stats, the timeout
	// watch and a leave read them: it is stored only while the participant is not closing (p.mu), so a
	// leave's closeStreams never misses one.
	audio, video atomic.Pointer[rtpio.Stream]

	// The senders, replaced when a renegotiation changes the payload type or packetization. The audio
	// sender is written by the room's mixer goroutine only. Video may briefly come from two outputs
	// during a tier change: videoMu is only tried, and a frame that finds it taken is dropped.
	audioOut atomic.Pointer[rtpio.AudioSender]
	audioMu  sync.Mutex // like videoMu, for a renegotiation that replaces the audio sender
	videoOut atomic.Pointer[rtpio.VideoSender]
	videoMu  sync.Mutex

	// The current media, for the readers (which read it per packet) and the writers.
	media atomic.Pointer[RTPMedia]
	// since is when the media last changed: the RTP timeout counts from there too.
	since atomic.Int64 // unix nanoseconds
}

// JoinRTP adds a plain-RTP participant called displayName to roomName with the negotiated media, and
// returns where its media must be sent (for the SDP answer). The MCU opens the sockets (Config.RTPAddress,
// RTPPortMin..RTPPortMax) and starts the streams at once. Errors are Join's, plus ErrNoCodec for media
// without a stream. Safe for concurrent use.
func (m *MCU) JoinRTP(roomName, displayName string, l ParticipantListener, media RTPMedia) (*Participant, RTPLocal, error) {
	if err := checkJoin(roomName, displayName, l); err != nil {
		return nil, RTPLocal{}, err
	}
	if media.Audio == nil && media.Video == nil {
		return nil, RTPLocal{}, fmt.Errorf("join room %q: no audio or video stream: %w", roomName, ErrNoCodec)
	}
	p := m.newMember(displayName, l)
	p.kind = "sip"
	t := &rtpTransport{p: p}
	p.t = t
	audio, video, err := t.open(m.cfg, media)
	if err != nil {
		return nil, RTPLocal{}, fmt.Errorf("join room %q: %w", roomName, err)
	}
	t.audio.Store(audio)
	t.video.Store(video)
	t.applyMedia(media)
	if err := m.join(roomName, p); err != nil {
		return nil, RTPLocal{}, err
	}
	p.mu.Lock()
	p.sdpCaps = rtpCaps(p.m.cfg, media)
	if !p.closing {
		t.start()
	}
	p.mu.Unlock()
	if err := p.applyTier("rtp"); err != nil {
		p.leave(err)
		return nil, RTPLocal{}, fmt.Errorf("join room %q: %w", roomName, err)
	}
	return p, t.local(), nil // its encoder's first frame for it is an IDR (a new receiver)
}

// UpdateRTP applies a renegotiation (a SIP re-INVITE: hold, resume, another codec or address) of a
// plain-RTP participant and returns its local addresses, which stay the same for a stream that still
// exists; a stream that was not there before gets new sockets. It fails for a WebRTC participant. Safe
// for concurrent use.
func (p *Participant) UpdateRTP(media RTPMedia) (RTPLocal, error) {
	t, ok := p.t.(*rtpTransport)
	if !ok {
		return RTPLocal{}, fmt.Errorf("update rtp: %w", errNotRTP)
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return RTPLocal{}, fmt.Errorf("update rtp: %w", ErrClosed)
	}
	p.mu.Unlock()
	audio, video, err := t.open(p.m.cfg, media)
	if err != nil {
		return RTPLocal{}, fmt.Errorf("update rtp: %w", err)
	}
	p.mu.Lock()
	if p.closing { // it left meanwhile: its leave closed the streams it had, these are ours to close
		p.mu.Unlock()
		for _, s := range []*rtpio.Stream{audio, video} {
			if s != nil {
				_ = s.Close()
			}
		}
		return RTPLocal{}, fmt.Errorf("update rtp: %w", ErrClosed)
	}
	if audio != nil {
		t.audio.Store(audio)
	}
	if video != nil {
		t.video.Store(video)
	}
	p.mu.Unlock()
	t.applyMedia(media)
	p.mu.Lock()
	p.sdpCaps = rtpCaps(p.m.cfg, media)
	if !p.closing {
		if audio != nil {
			t.startAudio()
		}
		if video != nil {
			t.startVideo()
		}
	}
	p.mu.Unlock()
	if err := p.applyTier("renegotiation"); err != nil {
		return RTPLocal{}, fmt.Errorf("update rtp: %w", err)
	}
	p.requestKeyframe(true)
	p.log.Info("rtp media updated", "audio", describeAudio(media.Audio), "video", describeVideo(media.Video))
	return t.local(), nil
}

// rtpCaps are the limits the negotiated media put on the video a plain-RTP participant receives: b=AS /
// b=TIAS, and the largest tier whose pictures fit the H.264 level in its profile-level-id (a level 1.3
// phone decodes at most CIF, 396 macroblocks).
func rtpCaps(cfg Config, media RTPMedia) Caps {
	c := Caps{MaxBitrate: media.MaxBitrate}
	if media.Video == nil || len(media.Video.ProfileLevelID) != 6 {
		return c
	}
	level, err := strconv.ParseUint(media.Video.ProfileLevelID[4:], 16, 8)
	if err != nil {
		return c
	}
	maxFS := h264.MaxFrameMacroblocks(int(level))
	tiers := cfg.Tiers()
	fit := tiers[len(tiers)-1] // the smallest, even if too large: better than no picture
	for _, t := range tiers {
		if h264.Macroblocks(t.Width, t.Height) <= maxFS {
			fit = t
			break
		}
	}
	c.MaxWidth, c.MaxHeight = fit.Width, fit.Height
	return c
}

// open opens the streams media has and the peer has not yet, and returns them (nil: none new); the
// caller stores them. On error it closes what it opened. Called before the participant's readers start
// or with negMu held.
func (t *rtpTransport) open(cfg Config, media RTPMedia) (audio, video *rtpio.Stream, err error) {
	bind := netip.IPv4Unspecified()
	if cfg.RTPAddress != "" {
		a, err := netip.ParseAddr(cfg.RTPAddress)
		if err != nil {
			return nil, nil, fmt.Errorf("rtp address: %w", err)
		}
		bind = a
	}
	if media.Audio != nil && t.audio.Load() == nil {
		if audio, err = rtpio.NewStream(bind, cfg.RTPPortMin, cfg.RTPPortMax); err != nil {
			return nil, nil, fmt.Errorf("audio stream: %w", err)
		}
		audio.SetStrict()
	}
	if media.Video != nil && t.video.Load() == nil {
		if video, err = rtpio.NewStream(bind, cfg.RTPPortMin, cfg.RTPPortMax); err != nil {
			if audio != nil {
				_ = audio.Close()
			}
			return nil, nil, fmt.Errorf("video stream: %w", err)
		}
		video.SetStrict()
	}
	return audio, video, nil
}

// local returns the streams' addresses.
func (t *rtpTransport) local() RTPLocal {
	var l RTPLocal
	if s := t.audio.Load(); s != nil {
		l.Audio = s.LocalAddr()
	}
	if s := t.video.Load(); s != nil {
		l.Video = s.LocalAddr()
	}
	return l
}

// totals returns the packets the peer's streams received, dropped (RTP: not RTP, a payload type or a
// source not allowed, maybe cut; RTCP datagrams are not counted) and sent.
func (t *rtpTransport) totals() (received, dropped, sent, unsent uint64) {
	for _, s := range []*rtpio.Stream{t.audio.Load(), t.video.Load()} {
		if s == nil {
			continue
		}
		st := s.Stats()
		received += st.Received
		dropped += st.DroppedSource + st.DroppedMalformed + st.DroppedPayloadType + st.DroppedTooLarge
		sent += st.Sent
		unsent += st.SendNoRemote
	}
	return received, dropped, sent, unsent
}

// addStats adds the streams' packet counts to s.
func (t *rtpTransport) addStats(s *Stats) {
	r, d, n, u := t.totals()
	s.RTPPacketsReceived += r
	s.RTPPacketsDropped += d
	s.RTPPacketsSent += n
	s.RTPPacketsUnsent += u
}

// close closes the streams, which ends their readers, and adds their counts to the MCU's (the participant
// waits for the readers).
func (t *rtpTransport) close() {
	t.closeStreams()
	r, d, n, u := t.totals()
	st := &t.p.m.stats
	st.RTPPacketsReceived.Add(r)
	st.RTPPacketsDropped.Add(d)
	st.RTPPacketsSent.Add(n)
	st.RTPPacketsUnsent.Add(u)
}

// closeStreams closes the streams' sockets.
func (t *rtpTransport) closeStreams() {
	for _, s := range []*rtpio.Stream{t.audio.Load(), t.video.Load()} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// mediaUp is true: a plain-RTP peer has no handshake, and strict RTP sends nothing before it is heard.
func (t *rtpTransport) mediaUp() bool { return true }

// videoEncoding is H.264 while the peer receives video: in slices of one packet each for packetization
// mode 0; nothing without video or on hold.
func (t *rtpTransport) videoEncoding() videoEncoding {
	m := t.media.Load()
	if m == nil || m.Video == nil || !m.Video.Send {
		return videoEncoding{}
	}
	return videoEncoding{codec: codec.H264, sliced: m.Video.PacketizationMode == 0}
}

// audioCodec is the negotiated audio codec (0 without audio).
func (t *rtpTransport) audioCodec() AudioCodec {
	if m := t.media.Load(); m != nil && m.Audio != nil {
		return m.Audio.Codec
	}
	return 0
}

// applyMedia makes media the current one: remote addresses, accepted payload types, senders (new ones
// when the payload type or packetization changes), and so the codecs the room encodes for the participant.
func (t *rtpTransport) applyMedia(media RTPMedia) {
	old := t.media.Load()
	m := media // a copy the readers may keep reading
	m.SignalingAddr = m.SignalingAddr.Unmap()
	if a := m.Audio; a != nil {
		a2 := *a
		m.Audio = &a2
		as := t.audio.Load() // stored before: media with audio opened it
		as.SetSignalingAddr(m.SignalingAddr)
		as.SetRemote(a.Remote)
		pts := []uint8{a.PayloadType}
		if a.DTMFPayloadType != 0 {
			pts = append(pts, a.DTMFPayloadType)
		}
		as.SetPayloadTypes(a.Codec.ClockRate(), pts...)
		if old == nil || old.Audio == nil || old.Audio.PayloadType != a.PayloadType || old.Audio.Codec != a.Codec {
			next := rtpio.NewAudioSender(as, a.PayloadType, a.Codec.ClockRate())
			t.audioMu.Lock() // the writer only tries it: this waits for at most one packet
			if prev := t.audioOut.Load(); prev != nil {
				next.ContinueFrom(prev, a.Codec.ClockRate())
			}
			t.audioOut.Store(next)
			t.audioMu.Unlock()
		}
	}
	if v := m.Video; v != nil {
		v2 := *v
		m.Video = &v2
		vs := t.video.Load() // stored before: media with video opened it
		vs.SetSignalingAddr(m.SignalingAddr)
		vs.SetRemote(v.Remote)
		vs.SetPayloadTypes(rtpio.VideoClockRate, v.PayloadType)
		if old == nil || old.Video == nil || old.Video.PayloadType != v.PayloadType ||
			old.Video.PacketizationMode != v.PacketizationMode {
			next := rtpio.NewVideoSender(vs, v.PayloadType, v.PacketizationMode)
			t.videoMu.Lock() // writers only try it: this waits for at most the frame being written
			if prev := t.videoOut.Load(); prev != nil {
				next.ContinueFrom(prev)
			}
			t.videoOut.Store(next)
			t.videoMu.Unlock()
		}
	}
	t.media.Store(&m)
	t.since.Store(time.Now().UnixNano())
}

// start starts the readers of the streams and the RTP timeout watch. p.mu is held and the participant is
// not closing.
func (t *rtpTransport) start() {
	if t.audio.Load() != nil {
		t.startAudio()
	}
	if t.video.Load() != nil {
		t.startVideo()
	}
	t.p.wg.Add(1)
	go t.watch()
}

// startAudio starts the audio stream's RTCP and its reader. p.mu is held.
func (t *rtpTransport) startAudio() {
	p, s := t.p, t.audio.Load()
	s.Start(rtpAudioRTCP{p})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t.readAudio(s)
	}()
}

// startVideo starts the video stream's RTCP and its reader. p.mu is held.
func (t *rtpTransport) startVideo() {
	p, s := t.p, t.video.Load()
	s.Start(rtpVideoRTCP{p})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var ssrc atomic.Uint32
		// A packetization-mode 0 endpoint sends whole NAL units, however large: read into a buffer that
		// holds any datagram, then give the payload its own buffer, which the frame assembler keeps.
		scratch := make([]byte, 1<<16)
		read := func(pkt *rtp.Packet, buf []byte) (time.Time, error) {
			for {
				at, err := s.ReadRTP(scratch, pkt)
				if err != nil {
					return time.Time{}, err
				}
				if m := t.media.Load(); m.Video == nil || !m.Video.Receive {
					continue // on hold: not taken into the room
				}
				pkt.Payload = append(buf[:0], pkt.Payload...)
				pkt.Extensions, pkt.CSRC = nil, nil // they point into scratch; nothing downstream reads them
				ssrc.Store(pkt.SSRC)
				return at, nil
			}
		}
		pli := func() error { return s.SendPLI(ssrc.Load()) }
		p.readVideo(read, pli, codec.H264, &assembler.H264{}, p.camera())
	}()
}

// readAudio decodes the audio stream into the mixer, switching decoders when the codec changes, and
// hands RFC 4733 key presses to the listener.
func (t *rtpTransport) readAudio(s *rtpio.Stream) {
	p := t.p
	var digits dtmf.Decoder
	dtmfListener, _ := p.listener.(DTMFListener)
	for {
		m := t.media.Load()
		if m.Audio == nil {
			return // cannot happen: the stream exists because some media had audio
		}
		c := m.Audio.Codec
		dec, err := newAudioDecoder(c)
		if err != nil {
			p.log.Error("new audio decoder", "codec", c, "err", err)
			return
		}
		changed := false
		var frames frameSplitter
		read := func(pkt *rtp.Packet, buf []byte) (time.Time, error) {
			for {
				if c != Opus && frames.next(pkt, buf) {
					return frames.at, nil
				}
				at, err := s.ReadRTP(buf, pkt)
				if err != nil {
					return time.Time{}, err
				}
				m := t.media.Load()
				if m.Audio == nil || m.Audio.Codec != c {
					changed = true
					return time.Time{}, errors.New("codec changed")
				}
				if c == Opus || pkt.PayloadType != m.Audio.PayloadType {
					return at, nil // Opus packets are whole frames; DTMF and others go to the filter
				}
				frames.push(pkt, at)
			}
		}
		filter := func(pkt *rtp.Packet) bool {
			a := t.media.Load().Audio
			if a.DTMFPayloadType != 0 && pkt.PayloadType == a.DTMFPayloadType {
				if d, ok := digits.Push(pkt.Payload, pkt.Timestamp, pkt.Marker); ok && dtmfListener != nil {
					p.log.Debug("dtmf", "digit", string(d))
					dtmfListener.OnDTMF(d)
				}
				return false
			}
			return pkt.PayloadType == a.PayloadType && a.Receive
		}
		p.readAudio(read, dec, filter, p.audioTap(c))
		dec.Close()
		if !changed {
			return
		}
	}
}

// frameSplitter turns G.711 and G.722 packets of any length (ptime 10, 20, 30 ms...) into packets of
// exactly 20 ms (160 bytes for both: 8000 samples a second of G.711, 64 kbit/s of G.722), numbered in
// sequence and timestamped on the 8 kHz RTP clock, so that the decoders and the loss concealment (and a
// forwarder: forward.go) see 20 ms frames. A gap in the incoming sequence numbers becomes the gap of as
// many 20 ms frames as it held. It belongs to one goroutine.
type frameSplitter struct {
	pending []byte
	started bool
	last    uint16 // incoming sequence number of the last packet
	seq     uint16 // outgoing sequence number of the next frame
	ts      uint32 // RTP timestamp of the next frame: of its first byte pending
	pt      uint8
	ssrc    uint32
	at      time.Time // arrival of the packet the next frame came with
}

// frameBytes is 20 ms of G.711 or G.722 (at 64 kbit/s both).
const frameBytes = g711.FrameBytes

// push takes one incoming packet (its payload is copied).
func (f *frameSplitter) push(pkt *rtp.Packet, at time.Time) {
	if f.started {
		d := pkt.SequenceNumber - f.last
		if d == 0 || d >= 0x8000 {
			return // a duplicate or late: its time has passed
		}
		if lost := int(d) - 1; lost > 0 {
			f.pending = f.pending[:0]
			f.seq += uint16(lost * len(pkt.Payload) / frameBytes)
		}
	}
	f.started, f.last, f.pt, f.ssrc, f.at = true, pkt.SequenceNumber, pkt.PayloadType, pkt.SSRC, at
	if len(f.pending) == 0 {
		f.ts = pkt.Timestamp
	}
	f.pending = append(f.pending, pkt.Payload...)
}

// next fills pkt with the next whole 20 ms frame, its payload in buf, if there is one.
func (f *frameSplitter) next(pkt *rtp.Packet, buf []byte) bool {
	if len(f.pending) < frameBytes {
		return false
	}
	*pkt = rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: f.pt, SequenceNumber: f.seq, Timestamp: f.ts,
		SSRC: f.ssrc}, Payload: append(buf[:0], f.pending[:frameBytes]...)}
	f.seq++
	f.ts += frameBytes // one byte per tick of the 8 kHz clock, G.722's included
	f.pending = f.pending[:copy(f.pending, f.pending[frameBytes:])]
	return true
}

// rtpAudioRTCP and rtpVideoRTCP take what the participant's RTCP says about what it receives.
type (
	rtpAudioRTCP struct{ p *Participant }
	rtpVideoRTCP struct{ p *Participant }
)

func (l rtpAudioRTCP) OnKeyframeRequest() {}

func (l rtpAudioRTCP) OnReceptionReport(r rtcp.ReceptionReport) {
	l.p.audioLoss.observeFraction(r.FractionLost)
}

func (l rtpVideoRTCP) OnKeyframeRequest() { l.p.onKeyframeRequest() }

func (l rtpVideoRTCP) OnReceptionReport(rtcp.ReceptionReport) {}

// watch removes the participant when neither RTP nor RTCP has been accepted from it on any stream for
// Config.RTPTimeout (counted from the last renegotiation too), whatever the directions: a peer that
// receives only, or holds the call, still sends RTCP (RFC 3550 6, RFC 3264 8.4), and one that sends
// nothing at all is gone. It runs until the participant leaves.
func (t *rtpTransport) watch() {
	p := t.p
	defer p.wg.Done()
	tick := time.NewTicker(min(time.Second, p.m.cfg.RTPTimeout/4))
	defer tick.Stop()
	for {
		select {
		case <-p.left:
			return
		case now := <-tick.C:
			last := t.lastAlive()
			if d := now.Sub(last); d >= p.m.cfg.RTPTimeout {
				p.removeAsync(fmt.Errorf("%w for %v", ErrRTPTimeout, d.Round(100*time.Millisecond)))
				return
			}
		}
	}
}

// lastAlive returns when the peer last showed life: the last RTP or RTCP packet accepted on any stream,
// or the last renegotiation if later.
func (t *rtpTransport) lastAlive() time.Time {
	last := time.Unix(0, t.since.Load())
	for _, s := range []*rtpio.Stream{t.audio.Load(), t.video.Load()} {
		if s == nil {
			continue
		}
		for _, at := range []time.Time{s.LastReceived(), s.LastRTCPReceived()} {
			if at.After(last) {
				last = at
			}
		}
	}
	return last
}

// writeAudio sends one encoded mix frame, unless the participant's audio is on hold.
func (t *rtpTransport) writeAudio(payload []byte) bool {
	m := t.media.Load()
	if m.Audio == nil || !m.Audio.Send {
		return false
	}
	if !t.audioMu.TryLock() {
		return false // the sender is being replaced: one 20 ms frame is not sent
	}
	defer t.audioMu.Unlock()
	a := t.audioOut.Load()
	if a == nil {
		return false
	}
	a.Write(payload)
	return true
}

// writeVideo sends one encoded frame, unless video is on hold or another output is writing now.
func (t *rtpTransport) writeVideo(frame []byte, d time.Duration) bool {
	m := t.media.Load()
	if m.Video == nil || !m.Video.Send {
		return false
	}
	if !t.videoMu.TryLock() {
		t.p.m.stats.VideoFramesDropped.Add(1)
		return false
	}
	defer t.videoMu.Unlock()
	v := t.videoOut.Load()
	if v == nil {
		return false
	}
	v.WriteFrame(frame, d)
	return true
}

func describeAudio(a *RTPAudio) string {
	if a == nil {
		return "none"
	}
	return fmt.Sprintf("%v/%d pt %d dtmf %d to %v send %t receive %t", a.Codec, a.Codec.ClockRate(), a.PayloadType,
		a.DTMFPayloadType, a.Remote, a.Send, a.Receive)
}

func describeVideo(v *RTPVideo) string {
	if v == nil {
		return "none"
	}
	return fmt.Sprintf("H264 pt %d mode %d to %v send %t receive %t", v.PayloadType, v.PacketizationMode, v.Remote,
		v.Send, v.Receive)
}
