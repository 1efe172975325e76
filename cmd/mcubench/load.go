package main

import (
	"context"

	"github.com/openmcu/mcu/cmd/internal/botload"
	"github.com/openmcu/mcu/signaling/bot"
)

// botLoad is the Load of real participants: botload's bots, each with its participantColour.
type botLoad struct{ l *botload.Load }

// Join makes participant i join room (see botload.Load.Join).
func (b botLoad) Join(ctx context.Context, url, room string, i, frameRate int) (Participant, error) {
	p, err := b.l.Join(ctx, url, room, i, frameRate)
	if err != nil {
		return nil, err
	}
	return botParticipant{p}, nil
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
