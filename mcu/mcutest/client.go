// Package mcutest holds a synthetic participant for tests and load generation: a pion client that sends
// a solid colour (H.264 or VP8) and a sine tone (Opus) over one PeerConnection, decodes what it receives, and
// exposes the latest received picture and the last seconds of received audio. It speaks SDP strings, not
// a signalling protocol, so any signalling layer (or the mcu package directly) can drive it.
//
// For load generation a client can replay a pre-encoded Clip instead of encoding live and skip decoding
// (Config.NoDecode): it then costs little more than pion's packetization and SRTP, and still counts what
// it receives (ReceiveStats: frames, bytes, losses, freezes, audio underruns).
package mcutest

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
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/codec/vp8"
)

// audioKept is how much received audio a Client keeps.
const audioKept = 2 * time.Second

// Config describes one synthetic participant. Zero fields take the defaults noted.
type Config struct {
	// Colour is the solid colour of the sent picture.
	Colour codec.YUV
	// ToneHz is the frequency of the sent sine; ToneAmplitude its peak (default 8000, about -12 dBFS).
	ToneHz        float64
	ToneAmplitude int16
	// NoVideo and NoAudio make the client receive-only for that kind (no camera, no microphone): its
	// transceiver is recvonly and it sends nothing of that kind.
	NoVideo, NoAudio bool
	// VideoCodec is the only video codec the client offers, sends and receives: codec.H264 (the default)
	// or codec.VP8.
	VideoCodec codec.VideoCodec
	// Width, Height and FrameRate of the sent video (default 640x360 at 30 fps); VideoBitrate in bit/s
	// (default 500 kbit/s).
	Width, Height, FrameRate int
	VideoBitrate             int
	// Interfaces restricts ICE candidates to these interfaces (for example "lo"); empty means all.
	Interfaces []string
	// IncludeLoopback gathers loopback candidates (needed to reach a server on 127.0.0.1).
	IncludeLoopback bool
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger

	// Clip, when set, is replayed in a loop instead of encoding live: its video frames at its frame rate
	// and its audio every 20 ms. A keyframe request makes the client skip ahead to the clip's next
	// keyframe. The clip's codec, size and frame rate replace VideoCodec, Width, Height and FrameRate;
	// Colour, ToneHz, ToneAmplitude and VideoBitrate are ignored.
	Clip *Clip
	// NoDecode makes the client count what it receives (ReceiveStats) without decoding anything: Picture
	// and Audio then stay empty. Without it the client decodes video and audio and counts as well.
	NoDecode bool
	// ExpectedFrameRate is the frame rate the client expects to receive (default 30); a gap between two
	// received frames of more than three intervals is a freeze.
	ExpectedFrameRate int
	// ICEServers are the STUN/TURN servers of the PeerConnection (none by default).
	ICEServers []webrtc.ICEServer
	// OnICECandidate, when set, receives the client's local candidates as they are gathered (trickle ICE),
	// and one with an empty Candidate at the end of gathering; Offer then returns at once instead of
	// waiting for gathering to complete. It is called on pion's goroutine and must not block.
	OnICECandidate func(webrtc.ICECandidateInit)
	// Interceptors runs pion's default interceptors as a browser would: NACKs, receiver reports and TWCC
	// feedback, which the server's bandwidth estimation needs. Off by default.
	Interceptors bool
}

// mediaDefaults fills the zero media settings shared by Config and ClipConfig: a tone at about -12 dBFS,
// 640x360 at 30 fps, 500 kbit/s, H.264.
func mediaDefaults(amp *int16, w, h, fps, bitrate *int, vc *codec.VideoCodec) {
	if *amp == 0 {
		*amp = 8000
	}
	if *w == 0 || *h == 0 {
		*w, *h = 640, 360
	}
	if *fps == 0 {
		*fps = 30
	}
	if *bitrate == 0 {
		*bitrate = 500_000
	}
	if *vc == 0 {
		*vc = codec.H264
	}
}

func (c *Config) defaults() {
	mediaDefaults(&c.ToneAmplitude, &c.Width, &c.Height, &c.FrameRate, &c.VideoBitrate, &c.VideoCodec)
	if c.ExpectedFrameRate <= 0 {
		c.ExpectedFrameRate = 30
	}
	if c.Clip != nil {
		cc := c.Clip.Config()
		c.VideoCodec, c.Width, c.Height, c.FrameRate = cc.VideoCodec, cc.Width, cc.Height, cc.FrameRate
	}
}

// Client is one synthetic participant. Create it with New, negotiate with Offer and SetAnswer, stop it
// with Close. Its methods are safe for concurrent use.
//
// Goroutines: a video sender and an audio sender (started by the first SetAnswer; encoding live or
// replaying a Clip), an RTCP reader per sender, and a reader per received track (pion's OnTrack
// goroutine); Close stops and waits for all.
type Client struct {
	cfg      Config
	log      *slog.Logger
	pc       *webrtc.PeerConnection
	outVideo *webrtc.TrackLocalStaticSample
	outAudio *webrtc.TrackLocalStaticSample
	keyframe atomic.Bool // the server asked for a keyframe
	stats    recvCounters
	videoIn  atomic.Uint32 // SSRC of the received video track; 0 before it starts

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	started  bool
	picture  *codec.VideoFrame // latest received picture, a copy
	pictures uint64
	audio    []int16 // the last audioKept of received audio
}

// New creates the client's PeerConnection with one sendrecv audio and one sendrecv video transceiver.
func New(cfg Config) (*Client, error) {
	cfg.defaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	fb := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	videoCap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	if cfg.VideoCodec == codec.VP8 {
		videoCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: videoCap, PayloadType: 102},
		webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register %s: %w", cfg.VideoCodec, err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
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
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: cfg.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	c := &Client{cfg: cfg, log: log, pc: pc}
	c.stats.epoch = time.Now()
	if fn := cfg.OnICECandidate; fn != nil {
		pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand == nil {
				fn(webrtc.ICECandidateInit{})
				return
			}
			fn(cand.ToJSON())
		})
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.outAudio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "mcutest"); err != nil {
		c.Close()
		return nil, fmt.Errorf("new audio track: %w", err)
	}
	if c.outVideo, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: videoCap.MimeType, ClockRate: 90000}, "video", "mcutest"); err != nil {
		c.Close()
		return nil, fmt.Errorf("new video track: %w", err)
	}
	for _, t := range []*webrtc.TrackLocalStaticSample{c.outAudio, c.outVideo} {
		if (t == c.outAudio && cfg.NoAudio) || (t == c.outVideo && cfg.NoVideo) {
			if _, err := pc.AddTransceiverFromKind(t.Kind(), webrtc.RTPTransceiverInit{
				Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				c.Close()
				return nil, fmt.Errorf("add recvonly %s transceiver: %w", t.Kind(), err)
			}
			continue
		}
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("add %s transceiver: %w", t.Kind(), err)
		}
		c.wg.Add(1)
		go c.readRTCP(tr.Sender(), t.Kind() == webrtc.RTPCodecTypeVideo)
	}
	pc.OnTrack(c.onTrack)
	return c, nil
}

// Offer creates the client's offer and returns it once ICE gathering is complete, so that it carries
// every candidate; with Config.OnICECandidate it returns at once and the candidates trickle.
func (c *Client) Offer() (string, error) {
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	if c.cfg.OnICECandidate != nil {
		return offer.SDP, nil
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
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
	if !c.cfg.NoVideo {
		c.wg.Add(1)
		if c.cfg.Clip != nil {
			go c.replayVideo(c.cfg.Clip)
		} else {
			go c.sendVideo()
		}
	}
	if !c.cfg.NoAudio {
		c.wg.Add(1)
		if c.cfg.Clip != nil {
			go c.replayAudio(c.cfg.Clip)
		} else {
			go c.sendAudio()
		}
	}
	return nil
}

// AddICECandidate adds a candidate trickled by the server.
func (c *Client) AddICECandidate(init webrtc.ICECandidateInit) error {
	if err := c.pc.AddICECandidate(init); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
}

// ConnectionState returns the PeerConnection's state.
func (c *Client) ConnectionState() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

// Picture returns a copy of the latest received picture, or nil before the first one.
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

// Close stops sending, closes the connection and waits for every goroutine. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	err := c.pc.Close()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("close peer connection: %w", err)
	}
	return nil
}

func (c *Client) readRTCP(s *webrtc.RTPSender, video bool) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if !video {
			continue
		}
		for _, pk := range pkts {
			switch pk.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				c.keyframe.Store(true)
			}
		}
	}
}

func (c *Client) sendVideo() {
	defer c.wg.Done()
	var enc codec.VideoEncoder
	var err error
	if c.cfg.VideoCodec == codec.VP8 {
		enc, err = vp8.NewEncoder(vp8.Config{Width: c.cfg.Width, Height: c.cfg.Height, FrameRate: c.cfg.FrameRate,
			Bitrate: c.cfg.VideoBitrate})
	} else {
		enc, err = h264.NewEncoder(h264.Config{Width: c.cfg.Width, Height: c.cfg.Height, FrameRate: c.cfg.FrameRate,
			Bitrate: c.cfg.VideoBitrate, KeyframeInterval: 2 * time.Second})
	}
	if err != nil {
		c.log.Error("new video encoder", "codec", c.cfg.VideoCodec, "err", err)
		return
	}
	defer enc.Close()
	enc.Frame().Fill(c.cfg.Colour)
	interval := time.Second / time.Duration(c.cfg.FrameRate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		if c.keyframe.Swap(false) {
			enc.ForceKeyframe()
		}
		au, _, err := enc.Encode(nil)
		if err != nil {
			c.log.Error("video encode", "err", err)
			return
		}
		if err := c.outVideo.WriteSample(media.Sample{Data: au, Duration: interval}); err != nil {
			c.log.Debug("write video", "err", err)
		}
	}
}

func (c *Client) sendAudio() {
	defer c.wg.Done()
	enc, err := opus.NewEncoder(opus.DefaultEncoderConfig())
	if err != nil {
		c.log.Error("new opus encoder", "err", err)
		return
	}
	defer enc.Close()
	buf := make([]byte, opus.MaxPacketSize)
	var phase float64
	tick := time.NewTicker(codec.FrameDuration)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		pcm := codectest.Tone(c.cfg.ToneHz, c.cfg.ToneAmplitude, codec.FrameSamples, codec.SampleRate, &phase)
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			c.log.Error("opus encode", "err", err)
			return
		}
		if err := c.outAudio.WriteSample(media.Sample{Data: buf[:n], Duration: codec.FrameDuration}); err != nil {
			c.log.Debug("write audio", "err", err)
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

// RequestKeyframe sends the server a PLI for the video the client receives, as a receiver that lost a
// picture does. It fails before that video has started.
func (c *Client) RequestKeyframe() error {
	ssrc := c.videoIn.Load()
	if ssrc == 0 {
		return errors.New("mcutest: no video received yet")
	}
	return c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

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
				if now := time.Now(); now.Sub(lastPLI) >= 500*time.Millisecond {
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
