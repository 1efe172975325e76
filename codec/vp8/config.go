package vp8

import (
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// Config describes one VP8 output. It is plain data and safe to copy and serialise.
type Config struct {
	// Width and Height of the encoded picture in pixels; even, at most codec.MaxWidth x codec.MaxHeight.
	Width, Height int
	// FrameRate in frames per second (1..120). The encoder assumes one Encode call per frame interval.
	FrameRate int
	// Bitrate is the target bitrate in bits per second (10 kbit/s .. 50 Mbit/s).
	Bitrate int
}

// DefaultConfig returns 640x360 at 30 fps and 800 kbit/s, the middle tier.
func DefaultConfig() Config {
	return Config{Width: 640, Height: 360, FrameRate: 30, Bitrate: 800_000}
}

// Bitrate limits accepted by Validate and SetBitrate, in bits per second.
const (
	MinBitrate = 10_000
	MaxBitrate = 50_000_000
)

// KeyframeInterval is the longest run of frames between two key frames, in seconds of frames at the
// configured rate. Receivers ask for key frames when they need them, so this is only a backstop.
const KeyframeInterval = 10

// Validate reports the first invalid field of c, wrapping codec.ErrFrameSize for a bad picture size.
func (c Config) Validate() error {
	if c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0 ||
		c.Width > codec.MaxWidth || c.Height > codec.MaxHeight {
		return fmt.Errorf("vp8: size %dx%d: %w", c.Width, c.Height, codec.ErrFrameSize)
	}
	if c.FrameRate < 1 || c.FrameRate > 120 {
		return fmt.Errorf("vp8: frame rate %d out of range 1..120", c.FrameRate)
	}
	if c.Bitrate < MinBitrate || c.Bitrate > MaxBitrate {
		return fmt.Errorf("vp8: bitrate %d out of range %d..%d", c.Bitrate, MinBitrate, MaxBitrate)
	}
	return nil
}

// IsKeyframe reports whether the VP8 frame f is a key frame (the inverted key-frame bit of the frame tag,
// RFC 6386 section 9.1). It is safe for concurrent use.
func IsKeyframe(f []byte) bool { return len(f) > 0 && f[0]&1 == 0 }
