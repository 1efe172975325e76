package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/signaling/bot"
	"github.com/openmcu/mcu/signaling/bot/peer"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

// botLoad joins signaling/bot participants that replay pre-encoded clips and do not decode. A clip is
// made once per participant index and reused by every run. Safe for concurrent use.
type botLoad struct {
	log *slog.Logger

	mu    sync.Mutex
	clips map[int]*replay.Clip
}

func newBotLoad(log *slog.Logger) *botLoad {
	return &botLoad{log: log, clips: map[int]*replay.Clip{}}
}

// clip returns participant i's clip: its colour and tone, 640x360@30 H.264 at 500 kbit/s with a keyframe
// every second, looping every 2 s.
func (l *botLoad) clip(i int) (*replay.Clip, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.clips[i]; ok {
		return c, nil
	}
	c, err := replay.New(replay.Config{
		Colour: participantColour(i), ToneHz: participantTone(i),
		Width: inputWidth, Height: inputHeight, FrameRate: inputRate, VideoBitrate: inputBitrate,
		VideoCodec: codec.H264, Duration: 2 * time.Second, KeyframeInterval: inputKeyframe,
	})
	if err != nil {
		return nil, fmt.Errorf("clip %d: %w", i, err)
	}
	l.clips[i] = c
	return c, nil
}

// Join makes participant i join room.
func (l *botLoad) Join(ctx context.Context, url, room string, i, frameRate int) (Participant, error) {
	clip, err := l.clip(i)
	if err != nil {
		return nil, err
	}
	b, err := bot.Join(ctx, bot.Config{
		URL: url, Room: room, Name: fmt.Sprintf("bot-%02d", i), Layout: "grid",
		Media: peer.Config{NoDecode: true, IncludeLoopback: true, Interfaces: []string{"lo"},
			ExpectedFrameRate: frameRate},
	}, bot.Params{Video: replay.NewVideo(clip), Audio: replay.NewAudio(clip), Logger: l.log})
	if err != nil {
		return nil, err
	}
	return botParticipant{b}, nil
}

type botParticipant struct{ b *bot.Bot }

func (p botParticipant) Stats() RecvStats {
	s := p.b.Stats()
	return RecvStats{
		VideoFrames: s.VideoFrames, VideoBytes: s.VideoBytes, VideoPacketsLost: uint64(max(s.VideoPacketsLost, 0)),
		VideoFreezes: s.VideoFreezes, MaxFrameGap: s.MaxFrameGap, AudioPackets: s.AudioPackets,
		AudioPacketsLost: uint64(max(s.AudioPacketsLost, 0)), AudioUnderruns: s.AudioUnderruns,
	}
}

func (p botParticipant) Ended() bool {
	select {
	case <-p.b.Done():
		return true
	default:
		return false
	}
}

func (p botParticipant) Close() error { return p.b.Close() }
