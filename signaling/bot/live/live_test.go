package live

import (
	"errors"
	"image"
	"io"
	"math"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/codec/vp8"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var orange = codectest.NamedColor{Name: "orange", R: 230, G: 120, B: 20}.YUV()

// frameOf copies a picture returned by Pattern.Read into a VideoFrame.
func frameOf(t *testing.T, img image.Image) *codec.VideoFrame {
	t.Helper()
	yuv, ok := img.(*image.YCbCr)
	if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		t.Fatalf("picture %T, want 4:2:0 *image.YCbCr", img)
	}
	f := codec.NewVideoFrame(yuv.Rect.Dx(), yuv.Rect.Dy())
	copyI420(f, yuv)
	return f
}

func TestPatternConfig(t *testing.T) {
	tests := []struct {
		cfg PatternConfig
		ok  bool
	}{
		{PatternConfig{}, true},
		{PatternConfig{Width: 320, Height: 180, FrameRate: 15}, true},
		{PatternConfig{Width: 321, Height: 180}, false},
		{PatternConfig{Width: 32, Height: 32}, false},
		{PatternConfig{Width: 8192, Height: 4320}, false},
		{PatternConfig{FrameRate: 121}, false},
		{PatternConfig{FrameRate: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v, want ok %t", tt.cfg, err, tt.ok)
		}
		if _, err := NewPattern(tt.cfg); (err == nil) != tt.ok {
			t.Errorf("NewPattern(%+v) = %v, want ok %t", tt.cfg, err, tt.ok)
		}
	}
}

// TestPattern reads a few frames of a pattern: the middle is exactly the colour, the name band is
// darkened, the lower band changes from frame to frame (the bar moves), a plain pattern is the colour
// everywhere, and Read after Close says io.EOF.
func TestPattern(t *testing.T) {
	p, err := NewPattern(PatternConfig{Name: "Pattern", Colour: orange, FrameRate: 120})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID() != "pattern:Pattern" {
		t.Errorf("ID %q", p.ID())
	}
	var frames []*codec.VideoFrame
	for range 3 {
		img, release, err := p.Read()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frameOf(t, img))
		release()
	}
	f := frames[0]
	centre := image.Rect(f.Width/2-40, f.Height/2-20, f.Width/2+40, f.Height/2+20)
	if got := f.Mean(centre); got != orange {
		t.Errorf("centre %v, want exactly %v", got, orange)
	}
	if name := f.Mean(image.Rect(f.Width/4, f.Height/12, f.Width*3/4, f.Height/4)); name.Y >= orange.Y {
		t.Errorf("name band %v, want darker than the background %v", name, orange)
	}
	bar := image.Rect(0, f.Height-f.Height/12, f.Width, f.Height)
	for i := 1; i < len(frames); i++ {
		if !differs(frames[i-1], frames[i], bar) {
			t.Errorf("frames %d and %d have the same bar", i-1, i)
		}
	}
	p.Close()
	p.Close()
	if _, _, err := p.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("Read after Close: %v, want io.EOF", err)
	}

	plain, err := NewPattern(PatternConfig{Name: "ignored", Colour: orange, Width: 320, Height: 180, Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	img, _, err := plain.Read()
	if err != nil {
		t.Fatal(err)
	}
	pf := frameOf(t, img)
	for _, r := range []image.Rectangle{pf.Bounds(), image.Rect(0, 0, 320, 40), image.Rect(0, 150, 320, 180)} {
		if got := pf.Mean(r); got != orange {
			t.Errorf("plain pattern: %v is %v, want %v", r, got, orange)
		}
	}
}

// differs reports whether a and b differ anywhere in r's luma.
func differs(a, b *codec.VideoFrame, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.Y[y*a.StrideY+x] != b.Y[y*b.StrideY+x] {
				return true
			}
		}
	}
	return false
}

// TestTone reads half a second of a tone: one continuous sine at the frequency and amplitude asked for.
func TestTone(t *testing.T) {
	for _, cfg := range []ToneConfig{{Hz: -1}, {Hz: 24000}, {Hz: math.NaN()}, {Hz: 440, Amplitude: -5}} {
		if _, err := NewTone(cfg); err == nil {
			t.Errorf("NewTone(%+v): no error", cfg)
		}
	}
	tone, err := NewTone(ToneConfig{Hz: 523})
	if err != nil {
		t.Fatal(err)
	}
	defer tone.Close()
	var pcm []int16
	for range 25 {
		chunk, release, err := tone.Read()
		if err != nil {
			t.Fatal(err)
		}
		if info := chunk.ChunkInfo(); info != (wave.ChunkInfo{Len: 960, Channels: 1, SamplingRate: 48000}) {
			t.Fatalf("chunk %+v, want 960 mono samples at 48 kHz", info)
		}
		pcm = append(pcm, chunk.(*wave.Int16Interleaved).Data...)
		release()
	}
	if f := codectest.PeakFrequency(pcm, codec.SampleRate); math.Abs(f-523) > 3 {
		t.Errorf("peak at %.1f Hz, want 523", f)
	}
	peak, jump := 0, 0
	for i, s := range pcm {
		peak = max(peak, int(s))
		if i > 0 {
			jump = max(jump, abs(int(s)-int(pcm[i-1])))
		}
	}
	// A sine of amplitude 8000 at 523 Hz moves at most 8000·2π·523/48000 ≈ 548 per sample.
	if peak < 7990 || peak > 8000 || jump > 560 {
		t.Errorf("peak %d (want 8000), largest step %d (want at most 548: no phase jump between chunks)", peak, jump)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestPatternSource encodes the live pattern through mediadevices and each adapter and decodes it back:
// the middle shows the colour, and a keyframe request is honoured at the next frame.
func TestPatternSource(t *testing.T) {
	for _, vc := range []codec.VideoCodec{codec.VP8, codec.H264} {
		t.Run(vc.String(), func(t *testing.T) {
			src, err := NewPatternSource(PatternConfig{Name: vc.String(), Colour: orange, Width: 320, Height: 180,
				FrameRate: 60}, VideoEncoder{Codec: vc})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.Codec() != vc {
				t.Errorf("codec %v, want %v", src.Codec(), vc)
			}
			dec, err := av.NewVideoDecoder(vc)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			isKey := vp8.IsKeyframe
			if vc == codec.H264 {
				isKey = h264.IsKeyframe
			}
			var pic *codec.VideoFrame
			for i := range 8 {
				if i == 5 {
					src.ForceKeyframe()
				}
				s, err := src.ReadSample()
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Data) == 0 || s.Duration <= 0 {
					t.Fatalf("sample %d: %d bytes, duration %v", i, len(s.Data), s.Duration)
				}
				if key, want := isKey(s.Data), i == 0 || i == 5; key != want {
					t.Errorf("sample %d: keyframe %t, want %t (asked for one before sample 5)", i, key, want)
				}
				if pic, err = dec.Decode(s.Data); err != nil {
					t.Fatalf("decode sample %d: %v", i, err)
				}
			}
			if pic == nil {
				t.Fatal("no picture decoded")
			}
			if got := pic.Mean(image.Rect(150, 80, 170, 100)); !codectest.Near(got, orange, 8) {
				t.Errorf("decoded centre %v, want %v", got, orange)
			}
			src.Close()
			if _, err := src.ReadSample(); err == nil {
				t.Error("ReadSample after Close: no error")
			}
		})
	}
	if _, err := NewPatternSource(PatternConfig{}, VideoEncoder{Bitrate: 1}); err == nil {
		t.Error("a 1 bit/s encoder: no error")
	}
	if _, err := NewPatternSource(PatternConfig{}, VideoEncoder{Codec: codec.VideoCodec(9)}); err == nil {
		t.Error("an unknown codec: no error")
	}
}

// TestToneSource encodes the live tone through mediadevices and the Opus adapter and decodes it back.
func TestToneSource(t *testing.T) {
	src, err := NewToneSource(ToneConfig{Hz: 777}, OpusEncoder{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec, err := opus.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pcm []int16
	frame := make([]int16, codec.FrameSamples)
	for range 25 {
		s, err := src.ReadSample()
		if err != nil {
			t.Fatal(err)
		}
		if s.Duration != codec.FrameDuration {
			t.Errorf("sample of %v, want 20 ms", s.Duration)
		}
		if err := dec.Decode(s.Data, frame); err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, frame...)
	}
	if f := codectest.PeakFrequency(pcm[len(pcm)/2:], codec.SampleRate); math.Abs(f-777) > 5 {
		t.Errorf("decoded tone peaks at %.1f Hz, want 777", f)
	}
	if _, err := NewToneSource(ToneConfig{Hz: 440}, OpusEncoder{Config: opus.EncoderConfig{Bitrate: 1}}); err == nil {
		t.Error("a 1 bit/s Opus encoder: no error")
	}
}

// chunks is an audio.Reader that returns the given chunks, then io.EOF.
type chunks []wave.Audio

func (c *chunks) Read() (wave.Audio, func(), error) {
	if len(*c) == 0 {
		return nil, func() {}, io.EOF
	}
	a := (*c)[0]
	*c = (*c)[1:]
	return a, func() {}, nil
}

// TestOpusRechunk feeds the Opus adapter stereo float chunks of 700 samples, as a microphone might: it
// mixes them to mono and encodes one packet per 960 samples, whatever the chunk boundaries.
func TestOpusRechunk(t *testing.T) {
	var in chunks
	var phase float64
	for range 6 { // 4200 samples: four packets and 360 left over
		c := wave.NewFloat32Interleaved(wave.ChunkInfo{Len: 700, Channels: 2, SamplingRate: 48000})
		tone := codectest.Tone(1000, 16000, 700, codec.SampleRate, &phase)
		for i, s := range tone {
			c.SetFloat32(i, 0, wave.Float32Sample(float32(s)/32768))
			c.SetFloat32(i, 1, 0) // the mono mix halves it
		}
		in = append(in, c)
	}
	enc, err := OpusEncoder{}.BuildAudioEncoder(&in, prop.Media{Audio: prop.Audio{SampleRate: 48000}})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if _, ok := enc.Controller().(interface{ SetBitRate(int) error }); !ok {
		t.Error("the Opus adapter is not a BitRateController")
	}
	packets := 0
	for {
		b, release, err := enc.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n, err := opus.PacketSamples(b); err != nil || n != codec.FrameSamples {
			t.Errorf("packet %d: %d samples, %v; want 960", packets, n, err)
		}
		release()
		packets++
	}
	if packets != 4 {
		t.Errorf("%d packets from 4200 samples, want 4", packets)
	}

	mono := []int16{}
	st := wave.NewInt16Interleaved(wave.ChunkInfo{Len: 2, Channels: 2, SamplingRate: 48000})
	st.SetInt16(0, 0, 1000)
	st.SetInt16(0, 1, 3000)
	st.SetInt16(1, 0, -2000)
	st.SetInt16(1, 1, -4000)
	if pos := appendMono(&mono, st, 0, 5); pos != 2 || mono[0] != 2000 || mono[1] != -3000 {
		t.Errorf("stereo mixdown: %v up to %d, want [2000 -3000] up to 2", mono, pos)
	}
	if _, err := (OpusEncoder{}).BuildAudioEncoder(&in, prop.Media{Audio: prop.Audio{SampleRate: 44100}}); err == nil {
		t.Error("44.1 kHz input: no error")
	}
}

// BenchmarkPatternFrame is the drawing of one frame of the live pattern at 640x360 (not its encoding).
func BenchmarkPatternFrame(b *testing.B) {
	p, err := NewPattern(PatternConfig{Name: "bench", Colour: orange})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.n++
		p.drawBand(now)
	}
}

// BenchmarkLiveVideoFrame is the work of one frame of the live source at 640x360 besides waiting:
// drawing the pattern, converting and copying it into the encoder, and encoding it.
func BenchmarkLiveVideoFrame(b *testing.B) {
	for _, vc := range []codec.VideoCodec{codec.VP8, codec.H264} {
		b.Run(vc.String(), func(b *testing.B) {
			p, err := NewPattern(PatternConfig{Name: "bench", Colour: orange})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			img := image.Image(&p.img)
			r := video.ReaderFunc(func() (image.Image, func(), error) {
				p.n++
				p.drawBand(time.Now())
				return img, func() {}, nil
			})
			enc, err := VideoEncoder{Codec: vc}.BuildVideoEncoder(r, prop.Media{Video: prop.Video{Width: 640, Height: 360}})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := enc.Read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var _ audio.Reader = (*chunks)(nil)
