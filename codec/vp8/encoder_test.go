package vp8_test

import (
	"errors"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/vp8"
)

func newEncoder(tb testing.TB, cfg vp8.Config) *vp8.Encoder {
	tb.Helper()
	e, err := vp8.NewEncoder(cfg)
	if err != nil {
		tb.Fatalf("NewEncoder(%+v): %v", cfg, err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func cfg(w, h, bitrate int) vp8.Config {
	return vp8.Config{Width: w, Height: h, FrameRate: 30, Bitrate: bitrate}
}

func TestValidate(t *testing.T) {
	ok := vp8.DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		name   string
		change func(*vp8.Config)
		size   bool // the error wraps codec.ErrFrameSize
	}{
		{"odd height", func(c *vp8.Config) { c.Height = 361 }, true},
		{"zero width", func(c *vp8.Config) { c.Width = 0 }, true},
		{"too high", func(c *vp8.Config) { c.Height = codec.MaxHeight + 2 }, true},
		{"frame rate too high", func(c *vp8.Config) { c.FrameRate = 500 }, false},
		{"bitrate too high", func(c *vp8.Config) { c.Bitrate = vp8.MaxBitrate + 1 }, false},
	}
	for _, tt := range tests {
		c := ok
		tt.change(&c)
		err := c.Validate()
		if err == nil || errors.Is(err, codec.ErrFrameSize) != tt.size {
			t.Errorf("%s: Validate(%+v) = %v, want an error (ErrFrameSize: %v)", tt.name, c, err, tt.size)
		}
		if _, err := vp8.NewEncoder(c); err == nil {
			t.Errorf("%s: NewEncoder(%+v) succeeded", tt.name, c)
		}
	}
}

func TestForceKeyframe(t *testing.T) {
	e := newEncoder(t, cfg(320, 180, 300_000))
	e.Frame().Fill(codec.RGBToYUV(255, 0, 0))
	for i := range 11 {
		f, key, err := e.Encode(nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if len(f) == 0 {
			t.Fatalf("frame %d: no output", i)
		}
		if key != (i == 0) || vp8.IsKeyframe(f) != (i == 0) {
			t.Fatalf("frame %d: key %v, key bit %v, want %v", i, key, vp8.IsKeyframe(f), i == 0)
		}
	}
	e.ForceKeyframe()
	f, key, err := e.Encode(nil)
	if err != nil || !key || !vp8.IsKeyframe(f) {
		t.Fatalf("forced keyframe: key %v, key bit %v, error %v", key, vp8.IsKeyframe(f), err)
	}
	// A key frame carries its size in its header (RFC 6386 section 9.1).
	if w, h := int(f[6])|int(f[7]&0x3f)<<8, int(f[8])|int(f[9]&0x3f)<<8; w != 320 || h != 180 {
		t.Errorf("key frame header says %dx%d, want 320x180", w, h)
	}
	if f, key, _ := e.Encode(nil); key || vp8.IsKeyframe(f) {
		t.Errorf("frame after forced keyframe: key %v, key bit %v", key, vp8.IsKeyframe(f))
	}
}

// noiseAmp is the amplitude of the test noise around mid grey. Blocks of 8x8 that all change every frame
// are hard enough; full-range noise is out of reach of 200 kbit/s at 640x360 (VP8 at its highest quantizer
// still spends some 60 kbit per frame on it), and then no rate control can show a difference.
const noiseAmp = 8

// encodeNoise encodes n frames of noise that changes every frame and returns the total size.
func encodeNoise(tb testing.TB, e codec.VideoEncoder, seed uint64, n int) int {
	total := 0
	for i := range n {
		codectest.FillNoise(e.Frame(), seed+uint64(i), 8, noiseAmp)
		f, _, err := e.Encode(nil)
		if err != nil {
			tb.Fatalf("frame %d: %v", i, err)
		}
		total += len(f)
	}
	return total
}

func TestSetBitrate(t *testing.T) {
	const w, h = 640, 360
	e := newEncoder(t, cfg(w, h, 2_000_000))
	high := encodeNoise(t, e, 0, 30)
	if err := e.SetBitrate(200_000); err != nil {
		t.Fatal(err)
	}
	encodeNoise(t, e, 100, 15)
	low := encodeNoise(t, e, 200, 30)
	t.Logf("noise %dx%d, 30 frames: %d bytes at 2 Mbit/s, %d bytes at 200 kbit/s", w, h, high, low)
	if high <= 2*low {
		t.Errorf("30 frames of noise: %d bytes at 2 Mbit/s, %d at 200 kbit/s: want more than twice as many", high, low)
	}
	if high > 400_000 || low > 60_000 {
		t.Errorf("30 frames: %d bytes at 2 Mbit/s (want <= 400000), %d at 200 kbit/s (want <= 60000)", high, low)
	}
	if err := e.SetBitrate(1); err == nil {
		t.Error("SetBitrate(1) succeeded")
	}
}

func TestEncodeWrongSizeAndClose(t *testing.T) {
	e, err := vp8.NewEncoder(cfg(160, 90, 100_000))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Encode(codec.NewVideoFrame(320, 180)); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode of a 320x180 frame into 160x90: %v, want ErrFrameSize", err)
	}
	for i := range 2 {
		if err := e.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, _, err := e.Encode(nil); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Encode after Close: %v, want ErrClosed", err)
	}
	if err := e.SetBitrate(100_000); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("SetBitrate after Close: %v, want ErrClosed", err)
	}
}

func BenchmarkEncode640x360(b *testing.B) {
	const w, h = 640, 360
	e := newEncoder(b, cfg(w, h, 800_000))
	frames := make([]*codec.VideoFrame, 8)
	for i := range frames {
		frames[i] = codec.NewVideoFrame(w, h)
		codectest.FillMoving(frames[i], i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := e.Encode(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}
