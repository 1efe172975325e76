package h264_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/h264"
)

func newEncoder(tb testing.TB, cfg h264.Config) *h264.Encoder {
	tb.Helper()
	e, err := h264.NewEncoder(cfg)
	if err != nil {
		tb.Fatalf("NewEncoder(%+v): %v", cfg, err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func cfg(w, h, bitrate int) h264.Config {
	return h264.Config{Width: w, Height: h, FrameRate: 30, Bitrate: bitrate}
}

func TestValidate(t *testing.T) {
	ok := h264.DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := []struct {
		name   string
		change func(*h264.Config)
		size   bool // the error wraps codec.ErrFrameSize
	}{
		{"odd width", func(c *h264.Config) { c.Width = 641 }, true},
		{"zero height", func(c *h264.Config) { c.Height = 0 }, true},
		{"too wide", func(c *h264.Config) { c.Width = codec.MaxWidth + 2 }, true},
		{"zero frame rate", func(c *h264.Config) { c.FrameRate = 0 }, false},
		{"bitrate too low", func(c *h264.Config) { c.Bitrate = 1000 }, false},
		{"unknown preset", func(c *h264.Config) { c.Preset = "warp" }, false},
		{"negative keyframe interval", func(c *h264.Config) { c.KeyframeInterval = -time.Second }, false},
	}
	for _, tt := range tests {
		c := ok
		tt.change(&c)
		err := c.Validate()
		if err == nil || errors.Is(err, codec.ErrFrameSize) != tt.size {
			t.Errorf("%s: Validate(%+v) = %v, want an error (ErrFrameSize: %v)", tt.name, c, err, tt.size)
		}
		if _, err := h264.NewEncoder(c); err == nil {
			t.Errorf("%s: NewEncoder(%+v) succeeded", tt.name, c)
		}
	}
}

// nalTypes lists the NAL unit types of an access unit.
func nalTypes(au []byte) []int {
	var types []int
	h264.SplitNALs(au, func(nal []byte) { types = append(types, h264.NALType(nal)) })
	return types
}

func firstSPS(au []byte) []byte {
	var sps []byte
	h264.SplitNALs(au, func(nal []byte) {
		if h264.NALType(nal) == h264.NALSPS && sps == nil {
			sps = nal
		}
	})
	return sps
}

func TestProfileAndLevel(t *testing.T) {
	tests := []struct {
		w, h, fps int
		level     byte
	}{
		{320, 180, 30, 31},
		{640, 360, 30, 31},
		{1280, 720, 30, 31},
		{1280, 720, 60, 32},
		{1920, 1080, 30, 40},
	}
	for _, tt := range tests {
		c := h264.Config{Width: tt.w, Height: tt.h, FrameRate: tt.fps, Bitrate: 1_000_000}
		e := newEncoder(t, c)
		au, key, err := e.Encode(nil)
		if err != nil || !key {
			t.Fatalf("%dx%d@%d: first frame key %v, error %v", tt.w, tt.h, tt.fps, key, err)
		}
		sps := firstSPS(au)
		if len(sps) < 4 {
			t.Fatalf("%dx%d@%d: no SPS in first access unit (NAL types %v)", tt.w, tt.h, tt.fps, nalTypes(au))
		}
		// profile_idc 66 (Baseline) with constraint_set1 (Constrained Baseline), as 42e01f announces.
		if sps[1] != 66 || sps[2]&0x40 == 0 || sps[3] != tt.level {
			t.Errorf("%dx%d@%d: SPS profile/constraints/level %02x %02x %02x (%d), want 42 with 0x40 set and level %d",
				tt.w, tt.h, tt.fps, sps[1], sps[2], sps[3], sps[3], tt.level)
		}
		e.Close()
	}
}

func TestForceKeyframe(t *testing.T) {
	e := newEncoder(t, cfg(320, 180, 500_000))
	e.Frame().Fill(codec.RGBToYUV(0, 0, 255))
	for i := range 11 {
		au, key, err := e.Encode(nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		types := nalTypes(au)
		if i == 0 {
			if !key || fmt.Sprint(types) != "[7 8 6 5]" {
				t.Fatalf("frame 0: key %v, NAL types %v, want SPS PPS SEI IDR", key, types)
			}
			continue
		}
		if key || h264.IsKeyframe(au) {
			t.Fatalf("frame %d: key %v, NAL types %v, want no IDR", i, key, types)
		}
	}
	e.ForceKeyframe()
	au, key, err := e.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Headers repeat before every IDR, so a receiver that joins at this keyframe can decode.
	if types := nalTypes(au); !key || fmt.Sprint(types) != "[7 8 5]" {
		t.Errorf("forced keyframe: key %v, NAL types %v, want SPS PPS IDR", key, types)
	}
	if au, key, _ := e.Encode(nil); key || h264.IsKeyframe(au) {
		t.Errorf("frame after forced keyframe: key %v, NAL types %v, want a delta frame", key, nalTypes(au))
	}
}

func TestKeyframeInterval(t *testing.T) {
	c := cfg(160, 90, 200_000)
	c.KeyframeInterval = time.Second // 30 frames
	e := newEncoder(t, c)
	var keys []int
	for i := range 95 {
		_, key, err := e.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		if key {
			keys = append(keys, i)
		}
	}
	if fmt.Sprint(keys) != "[0 30 60 90]" {
		t.Errorf("keyframes at %v with a 1 s interval at 30 fps, want [0 30 60 90]", keys)
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
		au, _, err := e.Encode(nil)
		if err != nil {
			tb.Fatalf("frame %d: %v", i, err)
		}
		total += len(au)
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
	encodeNoise(t, e, 100, 15) // let the VBV buffer drain
	low := encodeNoise(t, e, 200, 30)
	t.Logf("noise %dx%d, 30 frames: %d bytes at 2 Mbit/s, %d bytes at 200 kbit/s", w, h, high, low)
	if high <= 2*low {
		t.Errorf("30 frames of noise: %d bytes at 2 Mbit/s, %d at 200 kbit/s: want more than twice as many", high, low)
	}
	// One second at 2 Mbit/s is 250 kB; the VBV cap keeps it within reach of that.
	if high > 400_000 || low > 60_000 {
		t.Errorf("30 frames: %d bytes at 2 Mbit/s (want <= 400000), %d at 200 kbit/s (want <= 60000)", high, low)
	}
	for _, bad := range []int{0, 5000, h264.MaxBitrate + 1} {
		if err := e.SetBitrate(bad); err == nil {
			t.Errorf("SetBitrate(%d) succeeded", bad)
		}
	}
}

// TestSliceMaxSize checks that with SliceMaxSize every NAL unit of noisy pictures at a high bitrate fits,
// while without it the pictures are single NAL units far larger.
func TestSliceMaxSize(t *testing.T) {
	const w, h, limit = 640, 360, 1200
	largest := func(c h264.Config) (int, int) {
		e := newEncoder(t, c)
		biggest, nals := 0, 0
		for i := range 10 {
			codectest.FillNoise(e.Frame(), uint64(i), 8, noiseAmp)
			au, _, err := e.Encode(e.Frame())
			if err != nil {
				t.Fatal(err)
			}
			h264.SplitNALs(au, func(nal []byte) {
				if t := h264.NALType(nal); t == 1 || t == 5 { // slices
					biggest, nals = max(biggest, len(nal)), nals+1
				}
			})
		}
		return biggest, nals
	}
	c := cfg(w, h, 2_000_000)
	whole, n1 := largest(c)
	c.SliceMaxSize = limit
	sliced, n2 := largest(c)
	t.Logf("10 noisy frames at 2 Mbit/s: largest slice %d bytes in %d slices; with SliceMaxSize %d: %d bytes in %d",
		whole, n1, limit, sliced, n2)
	if sliced > limit || whole <= limit || n2 <= n1 {
		t.Errorf("largest slice %d bytes with SliceMaxSize %d (want <= it), %d without (want more)", sliced, limit, whole)
	}
	c.SliceMaxSize = 50
	if err := c.Validate(); err == nil {
		t.Error("SliceMaxSize 50 accepted")
	}
}

func TestEncodeCopiesSource(t *testing.T) {
	const w, h = 320, 180
	e := newEncoder(t, cfg(w, h, 500_000))
	dec, err := av.NewVideoDecoder(codec.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	green := codec.RGBToYUV(0, 255, 0)
	src := codec.NewVideoFrame(w, h)
	src.Fill(green)
	pic := codectest.RoundTrip(t, e, dec, src, 3)
	if got := pic.Mean(pic.Bounds().Inset(40)); !codectest.Near(got, green, 6) {
		t.Errorf("decoded %v, want %v", got, green)
	}
	if got := e.Frame().At(w/2, h/2); got != green {
		t.Errorf("Frame() after Encode(src) holds %v, want the copied %v", got, green)
	}
	if _, _, err := e.Encode(codec.NewVideoFrame(w+2, h)); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode of a %dx%d frame into %dx%d: %v, want ErrFrameSize", w+2, h, w, h, err)
	}
}

func TestClose(t *testing.T) {
	e, err := h264.NewEncoder(cfg(160, 90, 100_000))
	if err != nil {
		t.Fatal(err)
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
	if f := e.Frame(); len(f.Y) != 0 {
		t.Errorf("Frame after Close still has a %d-byte Y plane", len(f.Y))
	}
}

func benchmarkEncode(b *testing.B, w, h int) {
	e := newEncoder(b, cfg(w, h, 1_500_000))
	// Camera-like content: eight frames of a moving gradient and box, copied in by Encode.
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

func BenchmarkEncode640x360(b *testing.B)  { benchmarkEncode(b, 640, 360) }
func BenchmarkEncode1280x720(b *testing.B) { benchmarkEncode(b, 1280, 720) }

func TestMaxFrameMacroblocks(t *testing.T) {
	for _, tc := range []struct{ idc, want int }{{9, 99}, {10, 99}, {13, 396}, {21, 792}, {30, 1620}, {31, 3600}, {41, 8192}, {60, 36864}} {
		if got := h264.MaxFrameMacroblocks(tc.idc); got != tc.want {
			t.Errorf("MaxFrameMacroblocks(%d) = %d, want %d", tc.idc, got, tc.want)
		}
	}
	if got := h264.Macroblocks(1280, 720); got != 3600 {
		t.Errorf("Macroblocks(1280, 720) = %d, want 3600", got)
	}
}
