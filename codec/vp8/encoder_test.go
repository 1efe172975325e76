package vp8_test

import (
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/vp8"
)

// vp8Case is VP8 for codectest's conformance checks, decoded by libavcodec.
var vp8Case = codectest.VideoCodecCase{
	Codec:      codec.VP8,
	NewEncoder: func(w, h, bitrate int) (codec.VideoEncoder, error) { return vp8.NewEncoder(cfg(w, h, bitrate)) },
	NewDecoder: func() (codec.VideoDecoder, error) { return av.NewVideoDecoder(codec.VP8) },
	IsKeyframe: vp8.IsKeyframe,
	Tolerance:  6,
}

func cfg(w, h, bitrate int) vp8.Config {
	return vp8.Config{Width: w, Height: h, FrameRate: 30, Bitrate: bitrate}
}

func TestValidate(t *testing.T) {
	codectest.CheckConfigs(t, vp8.DefaultConfig(), vp8.NewEncoder, []codectest.InvalidConfig[vp8.Config]{
		{Name: "odd height", Change: func(c *vp8.Config) { c.Height = 361 }, FrameSize: true},
		{Name: "zero width", Change: func(c *vp8.Config) { c.Width = 0 }, FrameSize: true},
		{Name: "too high", Change: func(c *vp8.Config) { c.Height = codec.MaxHeight + 2 }, FrameSize: true},
		{Name: "frame rate too high", Change: func(c *vp8.Config) { c.FrameRate = 500 }},
		{Name: "bitrate too high", Change: func(c *vp8.Config) { c.Bitrate = vp8.MaxBitrate + 1 }},
	})
}

func TestRoundTripColors(t *testing.T) { codectest.CheckColorRoundTrip(t, vp8Case) }

func TestForceKeyframe(t *testing.T) {
	_, f := codectest.CheckForceKeyframe(t, vp8Case)
	// A key frame carries its size in its header (RFC 6386 section 9.1).
	if w, h := int(f[6])|int(f[7]&0x3f)<<8, int(f[8])|int(f[9]&0x3f)<<8; w != 320 || h != 180 {
		t.Errorf("key frame header says %dx%d, want 320x180", w, h)
	}
}

func TestSetBitrate(t *testing.T) { codectest.CheckSetBitrate(t, vp8Case, 1, vp8.MaxBitrate+1) }

func TestClose(t *testing.T) { codectest.CheckEncoderClose(t, vp8Case) }

func BenchmarkEncode640x360(b *testing.B) { codectest.BenchVideoEncode(b, vp8Case, 640, 360, 800_000) }
