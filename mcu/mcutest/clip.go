package mcutest

import "github.com/openmcu/mcu/signaling/bot/replay"

// ClipConfig describes a Clip: replay.Config. It is plain data.
type ClipConfig = replay.Config

// Clip is pre-encoded media that clients replay in a loop instead of encoding live (Config.Clip):
// replay.Clip. It is immutable and safe for concurrent use.
type Clip = replay.Clip

// NewClip encodes cfg's video and audio (replay.New).
func NewClip(cfg ClipConfig) (*Clip, error) { return replay.New(cfg) }
