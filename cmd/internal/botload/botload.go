// Package botload joins synthetic participants to a running server for the commands that load it
// (cmd/mcubench, cmd/mcusoak): signaling/bot bots that send a pre-encoded clip (signaling/bot/replay) of
// their own colour and tone, and count what they receive without decoding it, so that many of them cost
// the load generator little CPU.
//
// Every participant sends the same kind of media: 640x360 H.264 at 30 fps and 500 kbit/s with a
// keyframe every second, looping every 2 s, and an Opus tone. The video shows Config.Content in the
// participant's colour: block noise (the default) or a camera-like scene (replay.Camera). Participant i's clip is made once, on its
// first join, and shared by every later participant i.
package botload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/signaling/bot"
	"github.com/openmcu/mcu/signaling/bot/peer"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

// The video every participant sends.
const (
	Width, Height    = 640, 360
	FrameRate        = 30
	VideoBitrate     = 500_000 // bit/s
	KeyframeInterval = time.Second
	// Loop is the length of a clip, which participants replay in a loop.
	Loop = 2 * time.Second
)

// Tone returns participant i's tone in Hz: 300 Hz and up in steps of 37 Hz (no two share a bin of the
// receivers' spectra, and none is a harmonic of 300 among the first dozens).
func Tone(i int) float64 { return 300 + 37*float64(i) }

// Config says how the bots connect. It is plain data.
type Config struct {
	// Interceptors runs pion's default interceptors in every bot, as a browser does: NACKs, receiver
	// reports and TWCC feedback (peer.Config.Interceptors).
	Interceptors bool
	// Content is what every participant's video shows: replay.Noise (the default) or replay.Camera.
	Content replay.Content
}

// Params holds what a Load is given rather than configured with.
type Params struct {
	// Colour returns participant i's picture colour (i is 0-based). Required.
	Colour func(i int) codec.YUV
	// Logger receives the bots' lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Load joins bots and keeps the clip of every participant index it has joined. It starts nothing itself;
// each bot it returns runs until its Close. Safe for concurrent use.
type Load struct {
	cfg    Config
	colour func(int) codec.YUV
	log    *slog.Logger // may be nil

	mu    sync.Mutex
	clips map[int]func() (*replay.Clip, error) // each made once, outside mu
}

// New returns a Load with no clips yet.
func New(cfg Config, p Params) (*Load, error) {
	if p.Colour == nil {
		return nil, errors.New("botload: no Colour")
	}
	return &Load{cfg: cfg, colour: p.Colour, log: p.Logger, clips: map[int]func() (*replay.Clip, error){}}, nil
}

// ClipConfig returns the configuration of participant i's clip: its colour and tone, and the media every
// participant sends (of the Load's Content).
func (l *Load) ClipConfig(i int) replay.Config {
	return replay.Config{
		Colour: l.colour(i), ToneHz: Tone(i),
		Width: Width, Height: Height, FrameRate: FrameRate, VideoBitrate: VideoBitrate,
		VideoCodec: codec.H264, Duration: Loop, KeyframeInterval: KeyframeInterval, Content: l.cfg.Content,
	}
}

// Clip returns participant i's clip, encoding it on the first call for i (a fraction of a second of
// work, during which callers for i wait and callers for other participants do not). A failure is kept
// and returned again.
func (l *Load) Clip(i int) (*replay.Clip, error) {
	l.mu.Lock()
	clip, ok := l.clips[i]
	if !ok {
		clip = sync.OnceValues(func() (*replay.Clip, error) {
			c, err := replay.New(l.ClipConfig(i))
			if err != nil {
				return nil, fmt.Errorf("clip %d: %w", i, err)
			}
			return c, nil
		})
		l.clips[i] = clip
	}
	l.mu.Unlock()
	return clip()
}

// Join makes participant i join room on the server at url (http://host:port) as "bot-NN", over loopback,
// replaying its clip; it expects to receive frameRate frames per second (0: 30), below which it counts
// freezes. The caller closes the bot.
func (l *Load) Join(ctx context.Context, url, room string, i, frameRate int) (*bot.Bot, error) {
	clip, err := l.Clip(i)
	if err != nil {
		return nil, err
	}
	return bot.Join(ctx, l.botConfig(url, room, i, frameRate),
		bot.Params{Video: replay.NewVideo(clip), Audio: replay.NewAudio(clip), Logger: l.log})
}

// botConfig returns participant i's bot.Config.
func (l *Load) botConfig(url, room string, i, frameRate int) bot.Config {
	return bot.Config{
		URL: url, Room: room, Name: fmt.Sprintf("bot-%02d", i), Layout: "grid",
		Media: peer.Config{NoDecode: true, Interceptors: l.cfg.Interceptors, IncludeLoopback: true,
			Interfaces: []string{"lo"}, ExpectedFrameRate: frameRate},
	}
}
