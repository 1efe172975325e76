package main

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

// botLoad joins synthetic participants (signaling/bot) the way browsers do: the WebSocket protocol and
// a real WebRTC PeerConnection with pion's interceptors (NACK, reports, TWCC), replaying a pre-encoded
// 640x360@30 H.264 clip and an Opus tone without decoding what they receive. The clip of each position
// in a room is made once and reused. Safe for concurrent use.
type botLoad struct {
	url string // the server, http://host:port
	log *slog.Logger

	mu    sync.Mutex
	clips map[int]*replay.Clip
}

func newBotLoad(url string, log *slog.Logger) *botLoad {
	return &botLoad{url: url, log: log, clips: map[int]*replay.Clip{}}
}

// clip returns the clip of position i: a colour and tone of its own, 500 kbit/s, a keyframe every second.
func (l *botLoad) clip(i int) (*replay.Clip, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.clips[i]; ok {
		return c, nil
	}
	c, err := replay.New(replay.Config{
		Colour: codec.RGBToYUV(uint8(40+53*i), uint8(200-37*i), uint8(90+71*i)), ToneHz: 300 + 37*float64(i),
		Width: 640, Height: 360, FrameRate: 30, VideoBitrate: 500_000, VideoCodec: codec.H264,
		Duration: 2 * time.Second, KeyframeInterval: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("clip %d: %w", i, err)
	}
	l.clips[i] = c
	return c, nil
}

// join makes perRoom bots join each of rooms, four joins at a time. On error it closes those that joined.
func (l *botLoad) join(ctx context.Context, rooms []string, perRoom int) ([]*bot.Bot, error) {
	bots := make([]*bot.Bot, len(rooms)*perRoom)
	errs := make([]error, len(bots))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for k := range bots {
		room, i := rooms[k/perRoom], k%perRoom
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			clip, err := l.clip(i)
			if err != nil {
				errs[k] = err
				return
			}
			jctx, cancel := context.WithTimeout(ctx, bot.JoinTimeout)
			defer cancel()
			bots[k], errs[k] = bot.Join(jctx, bot.Config{
				URL: l.url, Room: room, Name: fmt.Sprintf("bot-%02d", i), Layout: "grid",
				Media: peer.Config{NoDecode: true, Interceptors: true, IncludeLoopback: true,
					Interfaces: []string{"lo"}},
			}, bot.Params{Video: replay.NewVideo(clip), Audio: replay.NewAudio(clip), Logger: l.log})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = leave(bots)
		return nil, fmt.Errorf("join: %w", err)
	}
	return bots, nil
}

// waitReceiving waits until every bot has received video and audio, or timeout.
func waitReceiving(ctx context.Context, bots []*bot.Bot, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		for _, b := range bots {
			select {
			case <-b.Done():
				return false, fmt.Errorf("the server ended %s's session", b.ID())
			default:
			}
			if s := b.Stats(); s.VideoFrames == 0 || s.AudioPackets == 0 {
				return false, nil
			}
		}
		return true, nil
	})
}

// ended returns how many bots' sessions the server has ended.
func ended(bots []*bot.Bot) int {
	n := 0
	for _, b := range bots {
		select {
		case <-b.Done():
			n++
		default:
		}
	}
	return n
}

// leave closes every bot at once (each sends "leave" and waits for the server to close its socket).
func leave(bots []*bot.Bot) error {
	errs := make([]error, len(bots))
	var wg sync.WaitGroup
	for i, b := range bots {
		if b != nil {
			wg.Go(func() { errs[i] = b.Close() })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// poll calls done every 100 ms until it reports true or an error, ctx ends, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
