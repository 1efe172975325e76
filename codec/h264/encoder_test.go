package h264_test

import (
	"fmt"
	"image"
	"math"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/h264"
)

// h264Case is H.264 for codectest's conformance checks, decoded by libavcodec.
var h264Case = codectest.VideoCodecCase{
	Codec:      codec.H264,
	NewEncoder: func(w, h, bitrate int) (codec.VideoEncoder, error) { return h264.NewEncoder(cfg(w, h, bitrate)) },
	NewDecoder: func() (codec.VideoDecoder, error) { return av.NewVideoDecoder(codec.H264) },
	IsKeyframe: h264.IsKeyframe,
	Tolerance:  6,
}

func cfg(w, h, bitrate int) h264.Config {
	return h264.Config{Width: w, Height: h, FrameRate: 30, Bitrate: bitrate}
}

func TestValidate(t *testing.T) {
	codectest.CheckConfigs(t, h264.DefaultConfig(), h264.NewEncoder, []codectest.InvalidConfig[h264.Config]{
		{Name: "odd width", Change: func(c *h264.Config) { c.Width = 641 }, FrameSize: true},
		{Name: "zero height", Change: func(c *h264.Config) { c.Height = 0 }, FrameSize: true},
		{Name: "too wide", Change: func(c *h264.Config) { c.Width = codec.MaxWidth + 2 }, FrameSize: true},
		{Name: "zero frame rate", Change: func(c *h264.Config) { c.FrameRate = 0 }},
		{Name: "bitrate too low", Change: func(c *h264.Config) { c.Bitrate = 1000 }},
		{Name: "unknown preset", Change: func(c *h264.Config) { c.Preset = "warp" }},
		{Name: "negative keyframe interval", Change: func(c *h264.Config) { c.KeyframeInterval = -time.Second }},
		{Name: "slice max size too small", Change: func(c *h264.Config) { c.SliceMaxSize = 50 }},
	})
}

func TestRoundTripColors(t *testing.T) { codectest.CheckColorRoundTrip(t, h264Case) }

func TestSetBitrate(t *testing.T) { codectest.CheckSetBitrate(t, h264Case, 5000, h264.MaxBitrate+1) }

func TestClose(t *testing.T) { codectest.CheckEncoderClose(t, h264Case) }

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
		e := codectest.Open(t, h264.NewEncoder, c)
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
	first, forced := codectest.CheckForceKeyframe(t, h264Case)
	if types := nalTypes(first); fmt.Sprint(types) != "[7 8 6 5]" {
		t.Errorf("frame 0: NAL types %v, want SPS PPS SEI IDR", types)
	}
	// Headers repeat before every IDR, so a receiver that joins at this keyframe can decode.
	if types := nalTypes(forced); fmt.Sprint(types) != "[7 8 5]" {
		t.Errorf("forced keyframe: NAL types %v, want SPS PPS IDR", types)
	}
}

func TestKeyframeInterval(t *testing.T) {
	c := cfg(160, 90, 200_000)
	c.KeyframeInterval = time.Second // 30 frames
	e := codectest.Open(t, h264.NewEncoder, c)
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

// TestSliceMaxSize checks that with SliceMaxSize every NAL unit of noisy pictures at a high bitrate fits,
// while without it the pictures are single NAL units far larger.
func TestSliceMaxSize(t *testing.T) {
	const w, h, limit = 640, 360, 1200
	largest := func(c h264.Config) (int, int) {
		e := codectest.Open(t, h264.NewEncoder, c)
		biggest, nals := 0, 0
		for i := range 10 {
			codectest.FillNoise(e.Frame(), uint64(i), 8, codectest.NoiseAmp)
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
}

// lumaPSNR is the PSNR, in dB, of got's luma against want's, as x264 computes it (MaxPSNR when equal).
func lumaPSNR(want, got *codec.VideoFrame) float64 {
	var sse float64
	for y := range want.Height {
		a, b := want.Y[y*want.StrideY:][:want.Width], got.Y[y*got.StrideY:][:got.Width]
		for x := range a {
			d := float64(a[x]) - float64(b[x])
			sse += d * d
		}
	}
	mse := sse / float64(want.Width*want.Height) / (255 * 255)
	if mse <= 1e-10 {
		return h264.MaxPSNR
	}
	return -10 * math.Log10(mse)
}

// TestLastPSNR encodes moving noise at a high and a very low bitrate and checks the encoder's PSNR: what
// a decoder's picture has against the source, higher at the high bitrate; and none when not asked for.
func TestLastPSNR(t *testing.T) {
	const w, h, frames = 320, 180, 20
	src := codec.NewVideoFrame(w, h)
	mean := func(bitrate int, measure bool) float64 {
		c := cfg(w, h, bitrate)
		c.MeasurePSNR = measure
		e := codectest.Open(t, h264.NewEncoder, c)
		dec := h264Case.Decoder(t)
		var sum float64
		for i := range frames {
			codectest.FillNoise(src, uint64(i), 4, 24)
			au, _, err := e.Encode(src)
			if err != nil {
				t.Fatal(err)
			}
			psnr, ok := e.LastPSNR()
			if !measure {
				if ok || psnr != 0 {
					t.Fatalf("MeasurePSNR off: LastPSNR %v, %v; want 0, false", psnr, ok)
				}
				continue
			}
			pic, err := dec.Decode(au)
			if err != nil || pic == nil {
				t.Fatalf("frame %d: decode %v, %v", i, pic, err)
			}
			if !ok || math.IsInf(psnr, 0) || math.IsNaN(psnr) || psnr < 5 || psnr > h264.MaxPSNR {
				t.Fatalf("frame %d at %d bit/s: LastPSNR %v, %v", i, bitrate, psnr, ok)
			}
			// The receiver decodes exactly the encoder's reconstruction.
			if got := lumaPSNR(src, pic); math.Abs(got-psnr) > 0.01 {
				t.Errorf("frame %d at %d bit/s: encoder's PSNR %.3f dB, decoded picture's %.3f dB", i, bitrate, psnr, got)
			}
			sum += psnr
		}
		return sum / frames
	}
	high, low := mean(5_000_000, true), mean(50_000, true)
	t.Logf("moving noise %dx%d: mean luma PSNR %.2f dB at 5 Mbit/s, %.2f dB at 50 kbit/s", w, h, high, low)
	if high < 20 || high > 99 || low < 10 || high < low+3 {
		t.Errorf("mean luma PSNR %.2f dB at 5 Mbit/s, %.2f dB at 50 kbit/s: want 20..99 and well above the low one",
			high, low)
	}
	mean(5_000_000, false)

	// A flat picture codes without any error: x264 caps that at MaxPSNR.
	c := cfg(w, h, 1_000_000)
	c.MeasurePSNR = true
	e := codectest.Open(t, h264.NewEncoder, c)
	if _, _, err := e.Encode(nil); err != nil {
		t.Fatal(err)
	}
	if psnr, ok := e.LastPSNR(); !ok || psnr != h264.MaxPSNR {
		t.Errorf("black picture: LastPSNR %v, %v; want %v, true", psnr, ok, h264.MaxPSNR)
	}
}

func BenchmarkEncode640x360(b *testing.B) {
	codectest.BenchVideoEncode(b, h264Case, 640, 360, 1_500_000)
}
func BenchmarkEncode1280x720(b *testing.B) {
	codectest.BenchVideoEncode(b, h264Case, 1280, 720, 1_500_000)
}

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

// stillScene draws frame n of a still textured background under a 32x32 box moving 4 pixels a frame.
func stillScene(f *codec.VideoFrame, n int) {
	codectest.FillMoving(f, 0)
	x := (n * 4) % (f.Width - 32)
	codectest.FillRect(f, image.Rect(x, f.Height/2-16, x+32, f.Height/2+16), codec.RGBToYUV(255, 200, 0))
}

// TestUnchangedMacroblocks encodes a still background under a moving box, where most macroblocks do not
// change, with x264 told which (the default) and without (AnalyseUnchanged): the decoded pictures must
// be as good either way. Then a picture drawn into Frame() and encoded with Encode(nil), where nothing
// tells which macroblocks changed, must come out whole and not as the previous picture.
func TestUnchangedMacroblocks(t *testing.T) {
	const w, h, frames = 320, 180, 40
	src := codec.NewVideoFrame(w, h)
	mean := func(analyse bool) float64 {
		c := cfg(w, h, 300_000)
		c.AnalyseUnchanged = analyse
		e := codectest.Open(t, h264.NewEncoder, c)
		dec := h264Case.Decoder(t)
		var sum float64
		for i := range frames {
			stillScene(src, i)
			au, _, err := e.Encode(src)
			if err != nil {
				t.Fatal(err)
			}
			pic, err := dec.Decode(au)
			if err != nil || pic == nil {
				t.Fatalf("frame %d: decode %v, %v", i, pic, err)
			}
			sum += lumaPSNR(src, pic)
		}
		if !analyse {
			// Frame() still holds the last picture: draw another one into it in place.
			codectest.FillNoise(e.Frame(), 7, 8, 40)
			au, _, err := e.Encode(nil)
			if err != nil {
				t.Fatal(err)
			}
			pic, err := dec.Decode(au)
			if err != nil || pic == nil {
				t.Fatalf("picture drawn into Frame(): decode %v, %v", pic, err)
			}
			if got := lumaPSNR(e.Frame(), pic); got < 20 {
				t.Errorf("picture drawn into Frame() and encoded with Encode(nil): decoded at %.1f dB, want >= 20", got)
			}
		}
		return sum / frames
	}
	skipping, analysing := mean(false), mean(true)
	t.Logf("still background, moving box, %dx%d at 300 kbit/s: mean luma PSNR %.2f dB skipping unchanged "+
		"macroblocks, %.2f dB analysing them", w, h, skipping, analysing)
	if skipping < 35 || skipping < analysing-1 {
		t.Errorf("mean luma PSNR %.2f dB skipping unchanged macroblocks, %.2f dB analysing them: want >= 35 and "+
			"within 1 dB", skipping, analysing)
	}
}

// BenchmarkEncodeUnchanged encodes 1280x720 pictures with x264 told which macroblocks did not change (the
// default) and without (AnalyseUnchanged): "box", stillScene; "still", the background alone; "grid", three quadrants of block noise that changes every frame and a still fourth (the
// composed view of a 4-person room).
func BenchmarkEncodeUnchanged(b *testing.B) {
	const w, h = 1280, 720
	contents := []struct {
		name string
		draw func(f *codec.VideoFrame, n int)
	}{
		{"box", stillScene},
		{"still", func(f *codec.VideoFrame, n int) { codectest.FillMoving(f, 0) }},
		{"grid", func(f *codec.VideoFrame, n int) {
			codectest.FillNoise(f, uint64(n), 4, 24)
			codectest.FillRect(f, image.Rect(w/2, h/2, w, h), codec.RGBToYUV(60, 60, 60))
		}},
	}
	for _, content := range contents {
		frames := make([]*codec.VideoFrame, 30)
		for i := range frames {
			frames[i] = codec.NewVideoFrame(w, h)
			content.draw(frames[i], i)
		}
		for _, analyse := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/analyse-unchanged=%v", content.name, analyse), func(b *testing.B) {
				c := cfg(w, h, 1_500_000)
				c.AnalyseUnchanged = analyse
				enc := codectest.Open(b, h264.NewEncoder, c)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, _, err := enc.Encode(frames[i%len(frames)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
