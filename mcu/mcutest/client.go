// Package mcutest holds a synthetic participant for tests: a client that sends a solid colour (H.264 or
// VP8) and a sine tone (Opus) over one PeerConnection, or replays a pre-encoded Clip, and decodes or
// counts what it receives. It speaks SDP strings, not a signalling protocol, so tests can drive it
// against the mcu package directly (Negotiate) or through any signalling layer.
//
// It is a thin layer over the production packages that cmd/mcubot and the benchmarks use: the client is
// signaling/bot/peer's, the clips are signaling/bot/replay's, and the live colour and tone come from
// signaling/bot/live (pion/mediadevices with this project's encoders). What it adds is the one flat
// Config that tests have always used. Relay, a rate-limited UDP path for bandwidth tests, is its own.
package mcutest

import (
	"errors"
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/signaling/bot/live"
	"github.com/openmcu/mcu/signaling/bot/peer"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

// Config describes one synthetic participant. Zero fields take the defaults noted. Apart from Clip,
// Logger and OnICECandidate it is plain data.
type Config struct {
	// Colour is the solid colour of the sent picture.
	Colour codec.YUV
	// ToneHz is the frequency of the sent sine (0: silence); ToneAmplitude its peak (default 8000, about
	// -12 dBFS).
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
	// NetworkTypes and Relay restrict the client's ICE (peer.Config): TCP only, or relay candidates only.
	NetworkTypes []webrtc.NetworkType
	Relay        bool
	// SendOnly makes the client a publisher that receives nothing (OBS over WHIP): sendonly transceivers.
	SendOnly bool
	// Screen, when set, shares a screen of that solid colour (1280x720 at 15 fps, H.264) besides the
	// camera: the client's third transceiver, in the MediaStream peer.ScreenStreamID.
	Screen *codec.YUV
	// Flash replaces the colour and tone with a synchronisation marker: a picture that is white, and a
	// beep at FlashHz, for the first Flash of every second (black and silence otherwise), both from one
	// clock, in H.264.
	Flash bool
	// FlashLog, with Flash, records when the flashes and beeps were really sent.
	FlashLog *FlashLog
}

// Client is one synthetic participant: a peer.Client. Create it with New, negotiate with Offer and
// SetAnswer (or Negotiate), stop it with Close. Its methods are safe for concurrent use.
type Client = peer.Client

// ReceiveStats counts what a Client has received since it started: peer.ReceiveStats. It is plain data.
type ReceiveStats = peer.ReceiveStats

// New creates a client: a peer.Client sending cfg's colour and tone live (a plain live.Pattern and a
// live.Tone through mediadevices and codec/h264 or codec/vp8 and codec/opus), or replaying cfg.Clip.
func New(cfg Config) (*Client, error) {
	pc := peer.Config{VideoCodec: cfg.VideoCodec, NoDecode: cfg.NoDecode, ExpectedFrameRate: cfg.ExpectedFrameRate,
		Interfaces: cfg.Interfaces, IncludeLoopback: cfg.IncludeLoopback, ICEServers: cfg.ICEServers,
		Interceptors: cfg.Interceptors, SendOnly: cfg.SendOnly, NetworkTypes: cfg.NetworkTypes, Relay: cfg.Relay}
	p := peer.Params{OnICECandidate: cfg.OnICECandidate, Logger: cfg.Logger}
	if cfg.Clip != nil {
		pc.VideoCodec = cfg.Clip.Config().VideoCodec
		if !cfg.NoVideo {
			p.Video = replay.NewVideo(cfg.Clip)
		}
		if !cfg.NoAudio {
			p.Audio = replay.NewAudio(cfg.Clip)
		}
		return peer.New(pc, p)
	}
	if pc.VideoCodec == 0 {
		pc.VideoCodec = codec.H264
	}
	if cfg.Flash {
		if cfg.Width == 0 || cfg.Height == 0 {
			cfg.Width, cfg.Height = 320, 180
		}
		v, a, err := flashSources(cfg.Width, cfg.Height, cfg.FlashLog)
		if err != nil {
			return nil, err
		}
		pc.VideoCodec, p.Video, p.Audio = codec.H264, v, a
		return peer.New(pc, p)
	}
	if !cfg.NoVideo {
		if cfg.Width == 0 || cfg.Height == 0 {
			cfg.Width, cfg.Height = 640, 360
		}
		if cfg.VideoBitrate == 0 {
			cfg.VideoBitrate = 500_000
		}
		v, err := live.NewPatternSource(live.PatternConfig{Colour: cfg.Colour, Width: cfg.Width, Height: cfg.Height,
			FrameRate: cfg.FrameRate, Plain: true},
			live.VideoEncoder{Codec: pc.VideoCodec, Bitrate: cfg.VideoBitrate, KeyframeInterval: 2 * time.Second})
		if err != nil {
			return nil, err
		}
		p.Video = v
	}
	if cfg.Screen != nil {
		s, err := live.NewPatternSource(live.PatternConfig{Colour: *cfg.Screen, Width: 1280, Height: 720,
			FrameRate: 15, Plain: true},
			live.VideoEncoder{Codec: pc.VideoCodec, Bitrate: 800_000, KeyframeInterval: 2 * time.Second})
		if err != nil {
			if p.Video != nil {
				err = errors.Join(err, p.Video.Close())
			}
			return nil, err
		}
		p.Screen = s
	}
	if !cfg.NoAudio {
		a, err := live.NewToneSource(live.ToneConfig{Hz: cfg.ToneHz, Amplitude: cfg.ToneAmplitude}, live.OpusEncoder{})
		if err != nil {
			for _, src := range []peer.VideoSource{p.Video, p.Screen} {
				if src != nil {
					err = errors.Join(err, src.Close())
				}
			}
			return nil, err
		}
		p.Audio = a
	}
	return peer.New(pc, p)
}
