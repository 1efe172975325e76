package replay

import (
	"image"
	"math"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/opus"
)

// TestClip encodes clips and decodes them back: every frame decodes, through the loop's wrap and after a
// skip to a keyframe, and shows the colour at the centre; keyframes sit where asked; the audio loop is a
// whole number of packets at the rounded tone, with no click at the wrap. The camera content shows the
// colour on average over the picture rather than at its centre.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		vc      codec.VideoCodec
		content Content
	}{{codec.H264, Noise}, {codec.VP8, Noise}, {codec.H264, Camera}, {codec.VP8, Camera}} {
		vc := tc.vc
		t.Run(vc.String()+"/"+tc.content.String(), func(t *testing.T) {
			colour := codectest.NamedColor{Name: "orange", R: 230, G: 120, B: 20}.YUV()
			cfg := Config{Colour: colour, ToneHz: 443.3, VideoCodec: vc, Width: 320, Height: 180,
				Duration: 2 * time.Second, KeyframeInterval: 500 * time.Millisecond, Content: tc.content}
			clip, err := New(cfg)
			if err != nil {
				t.Fatalf("New(%+v): %v", cfg, err)
			}
			if got := clip.VideoFrames(); got != 60 {
				t.Errorf("%d video frames, want 60", got)
			}
			for i, key := range clip.keyframe {
				// Every 15th frame must be a keyframe; the encoder may add others.
				if i%15 == 0 && !key {
					t.Errorf("frame %d is not a keyframe, want one every 15 frames", i)
				}
			}
			if br := clip.VideoBitrate(); br < 100_000 || br > 1_000_000 {
				t.Errorf("video bitrate %d bit/s, want about the configured 500 kbit/s", br)
			}
			dec, err := av.NewVideoDecoder(vc)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			order := []int{}
			for range 2 {
				for i := range clip.VideoFrames() {
					order = append(order, i)
				}
			}
			order = append(order, 0, 1, 2, clip.nextKeyframe(3), clip.nextKeyframe(3)+1)
			where, tol := image.Rect(cfg.Width/2-8, cfg.Height/2-8, cfg.Width/2+8, cfg.Height/2+8), 8
			if tc.content == Camera {
				where, tol = image.Rect(0, 0, cfg.Width, cfg.Height), 10
			}
			for n, i := range order {
				pic, err := dec.Decode(clip.VideoFrame(i))
				if err != nil || pic == nil {
					t.Fatalf("decode #%d (frame %d): %v, %v", n, i, pic, err)
				}
				if got := pic.Mean(where); !codectest.Near(got, colour, tol) {
					t.Fatalf("decode #%d (frame %d): mean of %v %v, want %v", n, i, where, got, colour)
				}
			}

			if got := clip.AudioPackets(); got != 100 {
				t.Errorf("%d audio packets, want 100", got)
			}
			if got := clip.ToneHz(); math.Abs(got-443.5) > 1e-9 {
				t.Errorf("tone %v Hz, want 443.5 (443.3 rounded to whole cycles in 2 s)", got)
			}
			adec, err := opus.NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			defer adec.Close()
			var pcm []int16
			frame := make([]int16, codec.FrameSamples)
			for range 2 {
				for _, p := range clip.audio {
					if err := adec.Decode(p, frame); err != nil {
						t.Fatal(err)
					}
					pcm = append(pcm, frame...)
				}
			}
			if f := codectest.PeakFrequency(pcm, codec.SampleRate); math.Abs(f-clip.ToneHz()) > 3 {
				t.Errorf("audio peaks at %.1f Hz, want %.1f", f, clip.ToneHz())
			}
			// The wrap is at the middle; its 200 ms must be as pure a tone as any other 200 ms.
			wrap := len(pcm) / 2
			window := codec.SampleRate / 5
			atWrap := pureness(pcm[wrap-window/2:wrap+window/2], clip.ToneHz())
			elsewhere := pureness(pcm[wrap/2:wrap/2+window], clip.ToneHz())
			if atWrap < elsewhere-2 {
				t.Errorf("tone to rest %.1f dB across the wrap, %.1f dB elsewhere: a click", atWrap, elsewhere)
			}
		})
	}
}

// pureness returns how far, in dB, the tone at freq stands above everything else in pcm.
func pureness(pcm []int16, freq float64) float64 {
	var total float64
	for _, s := range pcm {
		total += float64(s) * float64(s)
	}
	// Least squares fit of a sine and a cosine at freq: the tone's power; the rest is the residual.
	var ss, sc, cc, ps, pc float64
	for i, s := range pcm {
		ph := 2 * math.Pi * freq * float64(i) / codec.SampleRate
		sn, cs := math.Sin(ph), math.Cos(ph)
		ss += sn * sn
		cc += cs * cs
		sc += sn * cs
		ps += float64(s) * sn
		pc += float64(s) * cs
	}
	det := ss*cc - sc*sc
	a := (ps*cc - pc*sc) / det
	b := (pc*ss - ps*sc) / det
	fit := a*ps + b*pc
	rest := max(total-fit, 1)
	return 10 * math.Log10(fit/rest)
}

func TestClipBadContent(t *testing.T) {
	if _, err := New(Config{Content: Camera + 1}); err == nil {
		t.Error("New with an unknown content: want an error")
	}
}

// BenchmarkEncode measures encoding one 640x360 clip of each content, and reports its bitrate at the same
// 500 kbit/s target: the camera content is the easier one.
func BenchmarkEncode(b *testing.B) {
	for _, content := range []Content{Noise, Camera} {
		b.Run(content.String(), func(b *testing.B) {
			var br int
			for b.Loop() {
				c, err := New(Config{Colour: codec.YUV{Y: 90, U: 160, V: 110}, Content: content})
				if err != nil {
					b.Fatal(err)
				}
				br = c.VideoBitrate()
			}
			b.ReportMetric(float64(br)/1000, "kbit/s")
		})
	}
}
