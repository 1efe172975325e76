package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openmcu/mcu/cmd/internal/botload"
	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/signaling/bot"
)

// botLoad joins synthetic participants (botload's bots) the way browsers do: the WebSocket protocol and
// a real WebRTC PeerConnection with pion's interceptors (NACK, reports, TWCC), replaying a pre-encoded
// 640x360@30 H.264 clip and an Opus tone without decoding what they receive. The clip of each position
// in a room is made once and reused. Safe for concurrent use.
type botLoad struct {
	url  string // the server, http://host:port
	bots *botload.Load
}

func newBotLoad(url string, log *slog.Logger) (*botLoad, error) {
	bots, err := botload.New(botload.Config{Interceptors: true}, botload.Params{Colour: positionColour, Logger: log})
	if err != nil {
		return nil, err
	}
	return &botLoad{url: url, bots: bots}, nil
}

// positionColour is the colour of position i in a room.
func positionColour(i int) codec.YUV {
	return codec.RGBToYUV(uint8(40+53*i), uint8(200-37*i), uint8(90+71*i))
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
			jctx, cancel := context.WithTimeout(ctx, bot.JoinTimeout)
			defer cancel()
			bots[k], errs[k] = l.bots.Join(jctx, l.url, room, i, 0)
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
