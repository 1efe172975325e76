// Package peer is the media side of a synthetic participant: a pion PeerConnection with one audio and one
// video transceiver that sends what its Sources produce (a replayed clip, a live test pattern and tone,
// or a camera and a microphone), receives the one audio and one video stream the MCU sends back, and
// either decodes them (the latest picture and the last seconds of audio are kept) or only counts them
// (ReceiveStats: frames, bytes, losses, freezes, audio underruns). It speaks SDP strings, not a
// signalling protocol, so any signalling layer (package bot's WebSocket, or the mcu package directly in
// tests) can drive it.
//
// It carries media, so unlike the rest of package signaling it imports codec packages: codec/av and
// codec/opus to decode what it receives. It contains no cgo itself.
package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/opus"
)

// audioKept is how much received audio a Client keeps.
const audioKept = 2 * time.Second

// pliInterval is the shortest time between two keyframe requests from a client.
const pliInterval = 500 * time.Millisecond

// Payload types the client offers (the server answers with the offerer's).
const (
	audioPayloadType = 111
	videoPayloadType = 102
)

// Config describes a Client's connection and what it does with the media it receives. Zero fields take
// the defaults noted. It is plain data.
type Config struct {
	// VideoCodec is the only video codec the client offers, sends and receives: codec.H264 or codec.VP8.
	// Zero means the codec of Params.Video, or H.264 when the client sends no video.
	VideoCodec codec.VideoCodec
	// NoDecode makes the client count what it receives (ReceiveStats) without decoding anything: Picture
	// and Audio then stay empty. Without it the client decodes video and audio and counts as well.
	NoDecode bool
	// ExpectedFrameRate is the frame rate the client expects to receive (default 30); a gap between two
	// received frames of more than three intervals is a freeze.
	ExpectedFrameRate int
	// Interfaces restricts ICE candidates to these interfaces (for example "lo"); empty means all.
	Interfaces []string
	// IncludeLoopback gathers loopback candidates (needed to reach a server on 127.0.0.1).
	IncludeLoopback bool
	// ICEServers are the STUN/TURN servers of the PeerConnection (none by default).
	ICEServers []webrtc.ICEServer
	// Interceptors runs pion's default interceptors as a browser would: NACKs, receiver reports and TWCC
	// feedback, which the server's bandwidth estimation needs. Off by default.
	Interceptors bool
	// NetworkTypes are the networks the client's ICE may use (default UDP over IPv4); TCP types make it
	// connect to the server's passive ICE-TCP candidates (webrtc.NetworkTypeTCP4 alone: a client whose
	// UDP is blocked).
	NetworkTypes []webrtc.NetworkType
	// Relay makes the client use only relay candidates (iceTransportPolicy "relay"): everything goes
	// through a TURN server of ICEServers.
	Relay bool
	// SendOnly makes the client a publisher that receives nothing, as OBS over WHIP: its audio and
	// video transceivers are sendonly (a kind it does not send is left out of the offer).
	SendOnly bool
}

// Params holds what a Client is given rather than configured with: its media sources, its callback and
// its logger. It is handed to New once; the sources in it then belong to the Client.
type Params struct {
	// Video and Audio are what the client sends. A nil source makes that kind receive-only (its
	// transceiver is recvonly). New takes ownership of both: the Client closes them, also when New fails.
	Video VideoSource
	Audio Source
	// Screen, when set, is a shared screen: a third, sendonly video transceiver in the codec of Video,
	// its track in the MediaStream ScreenStreamID. New takes ownership of it too.
	Screen VideoSource
	// OnICECandidate, when set, receives the client's local candidates as they are gathered (trickle ICE),
	// and one with an empty Candidate at the end of gathering; Offer then returns at once instead of
	// waiting for gathering to complete. It is called on pion's goroutine and must not block.
	OnICECandidate func(webrtc.ICECandidateInit)
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Client is one synthetic participant's media connection. Create it with New, negotiate with Offer and
// SetAnswer, stop it with Close. Its methods are safe for concurrent use.
//
// Goroutines: a sender per Source (started by the first SetAnswer; each reads its source and writes the
// samples to its track), an RTCP reader per sending transceiver, and a reader per received track (pion's
// OnTrack goroutine); Close stops and waits for all.
type Client struct {
	cfg       Config
	log       *slog.Logger
	pc        *webrtc.PeerConnection
	trickle   bool        // local candidates go to Params.OnICECandidate, not into the offer
	videoSrc  VideoSource // nil: receive-only
	audioSrc  Source      // nil: receive-only
	screenSrc VideoSource // nil: no screen shared
	outVideo  *webrtc.TrackLocalStaticSample
	outAudio  *webrtc.TrackLocalStaticSample
	outScreen *webrtc.TrackLocalStaticSample
	stats     recvCounters
	videoIn   atomic.Uint32 // SSRC of the received video track; 0 before it starts

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	closed   bool
	started  bool              // the senders run and own the sources
	picture  *codec.VideoFrame // latest received picture, a copy
	pictures uint64
	audio    []int16 // the last audioKept of received audio
}

// New creates the client's PeerConnection with one audio and one video transceiver: sendrecv for a kind
// with a source, recvonly for a kind without. It starts no goroutine and sends nothing before SetAnswer.
func New(cfg Config, p Params) (*Client, error) {
	c, err := newClient(cfg, p)
	if err != nil {
		if c != nil {
			c.Close()
		} else {
			closeSources(p.Video, p.Audio)
			if p.Screen != nil {
				p.Screen.Close()
			}
		}
		return nil, err
	}
	return c, nil
}

func newClient(cfg Config, p Params) (*Client, error) {
	if p.Video != nil {
		if vc := p.Video.Codec(); cfg.VideoCodec == 0 {
			cfg.VideoCodec = vc
		} else if vc != cfg.VideoCodec {
			return nil, fmt.Errorf("peer: video source sends %v, config says %v", vc, cfg.VideoCodec)
		}
	}
	if cfg.VideoCodec == 0 {
		cfg.VideoCodec = codec.H264
	}
	if cfg.VideoCodec != codec.H264 && cfg.VideoCodec != codec.VP8 {
		return nil, fmt.Errorf("peer: video codec %v: want H.264 or VP8", cfg.VideoCodec)
	}
	if cfg.ExpectedFrameRate <= 0 {
		cfg.ExpectedFrameRate = 30
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: audioPayloadType}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	fb := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	videoCap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	if cfg.VideoCodec == codec.VP8 {
		videoCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: videoCap, PayloadType: videoPayloadType},
		webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register %s: %w", cfg.VideoCodec, err)
	}
	se := webrtc.SettingEngine{}
	nets := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if len(cfg.NetworkTypes) > 0 {
		nets = slices.Clone(cfg.NetworkTypes)
	}
	se.SetNetworkTypes(nets)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if len(cfg.Interfaces) > 0 {
		allowed := slices.Clone(cfg.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(allowed, name) })
	}
	ir := &interceptor.Registry{}
	if cfg.Interceptors {
		if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
			return nil, fmt.Errorf("register interceptors: %w", err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	policy := webrtc.ICETransportPolicyAll
	if cfg.Relay {
		policy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: cfg.ICEServers, ICETransportPolicy: policy})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	c := &Client{cfg: cfg, log: log, pc: pc, trickle: p.OnICECandidate != nil, videoSrc: p.Video, audioSrc: p.Audio,
		screenSrc: p.Screen}
	c.stats.epoch = time.Now()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if fn := p.OnICECandidate; fn != nil {
		pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand == nil {
				fn(webrtc.ICECandidateInit{})
				return
			}
			fn(cand.ToJSON())
		})
	}
	if c.outAudio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "bot"); err != nil {
		return c, fmt.Errorf("new audio track: %w", err)
	}
	if c.outVideo, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: videoCap.MimeType, ClockRate: 90000}, "video", "bot"); err != nil {
		return c, fmt.Errorf("new video track: %w", err)
	}
	for _, t := range []*webrtc.TrackLocalStaticSample{c.outAudio, c.outVideo} {
		if (t == c.outAudio && c.audioSrc == nil) || (t == c.outVideo && c.videoSrc == nil) {
			if cfg.SendOnly {
				continue
			}
			if _, err := pc.AddTransceiverFromKind(t.Kind(), webrtc.RTPTransceiverInit{
				Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return c, fmt.Errorf("add recvonly %s transceiver: %w", t.Kind(), err)
			}
			continue
		}
		dir := webrtc.RTPTransceiverDirectionSendrecv
		if cfg.SendOnly {
			dir = webrtc.RTPTransceiverDirectionSendonly
		}
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: dir})
		if err != nil {
			return c, fmt.Errorf("add %s transceiver: %w", t.Kind(), err)
		}
		c.wg.Add(1)
		var kf Source
		if t == c.outVideo {
			kf = c.videoSrc
		}
		go c.readRTCP(tr.Sender(), kf)
	}
	if c.screenSrc != nil {
		if c.outScreen, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
			MimeType: videoCap.MimeType, ClockRate: 90000}, "screen", ScreenStreamID); err != nil {
			return c, fmt.Errorf("new screen track: %w", err)
		}
		tr, err := pc.AddTransceiverFromTrack(c.outScreen, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return c, fmt.Errorf("add screen transceiver: %w", err)
		}
		c.wg.Add(1)
		go c.readRTCP(tr.Sender(), c.screenSrc)
	}
	pc.OnTrack(c.onTrack)
	return c, nil
}

// Offer creates the client's offer and returns it once ICE gathering is complete, so that it carries
// every candidate; with Params.OnICECandidate it returns at once and the candidates trickle.
func (c *Client) Offer() (string, error) {
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	if c.trickle {
		return offer.SDP, nil
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		return "", errors.New("ice gathering timed out")
	}
	return c.pc.LocalDescription().SDP, nil
}

// SetAnswer applies the server's answer and, the first time, starts sending.
func (c *Client) SetAnswer(answer string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("set remote description: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.closed {
		return nil
	}
	c.started = true
	if c.videoSrc != nil {
		c.wg.Add(1)
		go c.send(c.videoSrc, c.outVideo, "video")
	}
	if c.audioSrc != nil {
		c.wg.Add(1)
		go c.send(c.audioSrc, c.outAudio, "audio")
	}
	if c.screenSrc != nil {
		c.wg.Add(1)
		go c.send(c.screenSrc, c.outScreen, "screen")
	}
	return nil
}

// ScreenStreamID is the MediaStream ID (msid) of a client's screen track (Params.Screen): what tells the
// server which incoming video is the screen.
const ScreenStreamID = "screen"

// AddICECandidate adds a candidate trickled by the server.
func (c *Client) AddICECandidate(init webrtc.ICECandidateInit) error {
	if err := c.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
}

// ConnectionState returns the PeerConnection's state.
func (c *Client) ConnectionState() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

// VideoCodec returns the video codec the client offers, sends and receives.
func (c *Client) VideoCodec() codec.VideoCodec { return c.cfg.VideoCodec }

// Picture returns a copy of the latest received picture, or nil before the first one (and always with
// Config.NoDecode).
func (c *Client) Picture() *codec.VideoFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.picture == nil {
		return nil
	}
	f := codec.NewVideoFrame(c.picture.Width, c.picture.Height)
	f.CopyFrom(c.picture)
	f.Time = c.picture.Time
	return f
}

// ReceiveStats returns a snapshot of what the client has received so far. It is cheap (a few atomic
// loads) and may be called as often as wanted.
func (c *Client) ReceiveStats() ReceiveStats { return c.stats.snapshot() }

// PicturesReceived returns how many pictures have been decoded.
func (c *Client) PicturesReceived() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pictures
}

// Audio returns a copy of the last d of received audio (48 kHz mono; less if less has arrived; at most 2 s).
func (c *Client) Audio(d time.Duration) []int16 {
	n := int(d.Seconds() * codec.SampleRate)
	c.mu.Lock()
	defer c.mu.Unlock()
	n = min(n, len(c.audio))
	return slices.Clone(c.audio[len(c.audio)-n:])
}

// RequestKeyframe sends the server a PLI for the video the client receives, as a receiver that lost a
// picture does. It fails before that video has started.
func (c *Client) RequestKeyframe() error {
	ssrc := c.videoIn.Load()
	if ssrc == 0 {
		return errors.New("peer: no video received yet")
	}
	return c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// Close stops sending, closes the connection and the sources, and waits for every goroutine. It is
// idempotent and returns the first call's result. It takes at most about one sample interval longer than
// the PeerConnection's own close (a sender finishes the sample it is reading).
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		started := c.started
		c.mu.Unlock()
		c.cancel()
		err := c.pc.Close()
		c.wg.Wait()
		if !started { // no sender ever ran: the sources are still ours to close
			closeSources(c.videoSrc, c.audioSrc)
			if c.screenSrc != nil {
				c.screenSrc.Close()
			}
		}
		if err != nil {
			c.closeErr = fmt.Errorf("close peer connection: %w", err)
		}
	})
	return c.closeErr
}

// closeSources closes the sources that are not nil.
func closeSources(video VideoSource, audio Source) {
	if video != nil {
		video.Close()
	}
	if audio != nil {
		audio.Close()
	}
}

// send reads src and writes its samples to out until the client closes or src fails, then closes src.
func (c *Client) send(src Source, out *webrtc.TrackLocalStaticSample, kind string) {
	defer c.wg.Done()
	defer func() {
		if err := src.Close(); err != nil {
			c.log.Debug("close source", "kind", kind, "err", err)
		}
	}()
	for {
		s, err := src.ReadSample()
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Warn("source ended; sending no more "+kind, "err", err)
			return
		}
		if err := out.WriteSample(s); err != nil {
			c.log.Debug("write sample", "kind", kind, "err", err)
		}
	}
}

// readRTCP drains a sender's RTCP (pion's interceptors need it read) and passes keyframe requests to src
// (nil for audio).
func (c *Client) readRTCP(s *webrtc.RTPSender, src Source) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if src == nil {
			continue
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				src.ForceKeyframe()
			}
		}
	}
}

func (c *Client) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	switch {
	case t.Kind() == webrtc.RTPCodecTypeAudio && c.cfg.NoDecode:
		c.countAudio(t)
	case t.Kind() == webrtc.RTPCodecTypeAudio:
		c.readAudio(t)
	case t.Kind() == webrtc.RTPCodecTypeVideo && c.cfg.NoDecode:
		c.videoIn.Store(uint32(t.SSRC()))
		c.countVideo(t)
	case t.Kind() == webrtc.RTPCodecTypeVideo:
		c.videoIn.Store(uint32(t.SSRC()))
		c.readVideo(t)
	}
}

// readAudio decodes the received Opus stream, concealing lost packets, and keeps the last audioKept.
func (c *Client) readAudio(t *webrtc.TrackRemote) {
	dec, err := opus.NewDecoder()
	if err != nil {
		c.log.Error("new opus decoder", "err", err)
		return
	}
	defer dec.Close()
	buf := make([]byte, 1500)
	pcm := make([]int16, codec.FrameSamples)
	var pkt rtp.Packet
	var last uint16
	started := false
	keep := int(audioKept.Seconds() * codec.SampleRate)
	got := make([]int16, 0, 5*codec.FrameSamples)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		c.stats.audioPacket(pkt.SequenceNumber, len(pkt.Payload), c.stats.now())
		if len(pkt.Payload) == 0 {
			continue
		}
		frames := 1
		if started {
			d := pkt.SequenceNumber - last
			if d == 0 || d >= 0x8000 {
				continue
			}
			frames = min(int(d), 5)
		}
		started, last = true, pkt.SequenceNumber
		got = got[:0]
		for range frames - 1 {
			if dec.Conceal(nil, pcm) == nil {
				got = append(got, pcm...)
			}
		}
		if dec.Decode(pkt.Payload, pcm) == nil {
			got = append(got, pcm...)
		}
		c.mu.Lock()
		c.audio = append(c.audio, got...)
		if len(c.audio) > 2*keep {
			c.audio = append(c.audio[:0], c.audio[len(c.audio)-keep:]...)
		}
		c.mu.Unlock()
	}
}

// readVideo decodes the received video and keeps a copy of the latest picture. A decoding error asks
// the server for a keyframe, at most once per pliInterval.
func (c *Client) readVideo(t *webrtc.TrackRemote) {
	dec, err := av.NewVideoDecoder(c.cfg.VideoCodec)
	if err != nil {
		c.log.Error("new video decoder", "err", err)
		return
	}
	defer dec.Close()
	var depacketizer rtp.Depacketizer = &codecs.H264Packet{}
	if c.cfg.VideoCodec == codec.VP8 {
		depacketizer = &codecs.VP8Packet{}
	}
	sb := samplebuilder.New(512, depacketizer, 90000, samplebuilder.WithMaxTimeDelay(500*time.Millisecond))
	var lastPLI time.Time
	frames := frameState{interval: int64(time.Second) / int64(c.cfg.ExpectedFrameRate)}
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		c.stats.videoPacket(&frames, pkt.SequenceNumber, pkt.Timestamp, len(pkt.Payload), c.stats.now())
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if s.PrevDroppedPackets > 0 {
				dec.Lost()
			}
			pic, err := dec.Decode(s.Data)
			if err != nil {
				if now := time.Now(); now.Sub(lastPLI) >= pliInterval {
					lastPLI = now
					_ = c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
					c.stats.plis.Add(1)
				}
				continue
			}
			if pic == nil {
				continue
			}
			c.mu.Lock()
			if c.picture == nil || c.picture.Width != pic.Width || c.picture.Height != pic.Height {
				c.picture = codec.NewVideoFrame(pic.Width, pic.Height)
			}
			c.picture.CopyFrom(pic)
			c.picture.Time = time.Now()
			c.pictures++
			c.stats.pictures.Add(1)
			c.mu.Unlock()
		}
	}
}

// countVideo counts received video packets and frames without decoding (Config.NoDecode). A missing
// packet makes it ask for a keyframe, at most once per pliInterval, as a decoder that lost its reference
// would.
func (c *Client) countVideo(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	frames := frameState{interval: int64(time.Second) / int64(c.cfg.ExpectedFrameRate)}
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}}
	var lastPLI int64
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		seq, ts, payload, ok := rtpFields(buf[:n])
		if !ok {
			continue
		}
		now := c.stats.now()
		if c.stats.videoPacket(&frames, seq, ts, payload, now) && (lastPLI == 0 || now-lastPLI >= int64(pliInterval)) {
			lastPLI = now
			if err := c.pc.WriteRTCP(pli); err == nil {
				c.stats.plis.Add(1)
			}
		}
	}
}

// countAudio counts received audio packets without decoding (Config.NoDecode).
func (c *Client) countAudio(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if seq, _, payload, ok := rtpFields(buf[:n]); ok {
			c.stats.audioPacket(seq, payload, c.stats.now())
		}
	}
}
