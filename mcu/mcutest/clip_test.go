package mcutest

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
// whole number of packets at the rounded tone, with no click at the wrap.
func TestClip(t *testing.T) {
	for _, vc := range []codec.VideoCodec{codec.H264, codec.VP8} {
		t.Run(vc.String(), func(t *testing.T) {
			colour := codectest.NamedColor{Name: "orange", R: 230, G: 120, B: 20}.YUV()
			cfg := ClipConfig{Colour: colour, ToneHz: 443.3, VideoCodec: vc, Width: 320, Height: 180,
				Duration: 2 * time.Second, KeyframeInterval: 500 * time.Millisecond}
			clip, err := NewClip(cfg)
			if err != nil {
				t.Fatalf("NewClip(%+v): %v", cfg, err)
			}
			if got := clip.VideoFrames(); got != 60 {
				t.Errorf("%d video frames, want 60", got)
			}
			for i, key := range clip.keyframe {
				if want := i%15 == 0; key != want && want {
					t.Errorf("frame %d: keyframe %t, want %t", i, key, want)
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
			centre := image.Rect(cfg.Width/2-8, cfg.Height/2-8, cfg.Width/2+8, cfg.Height/2+8)
			for n, i := range order {
				pic, err := dec.Decode(clip.video[i])
				if err != nil || pic == nil {
					t.Fatalf("decode #%d (frame %d): %v, %v", n, i, pic, err)
				}
				if got := pic.Mean(centre); !codectest.Near(got, colour, 8) {
					t.Fatalf("decode #%d (frame %d): centre %v, want %v", n, i, got, colour)
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

func TestRTPFields(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		seq     uint16
		ts      uint32
		payload int
		ok      bool
	}{
		{"plain", []byte{0x80, 0x60, 0x12, 0x34, 0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9}, 0x1234, 256, 3, true},
		{"csrc and extension", []byte{0x91, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 7, 7, 7, 7,
			0xbe, 0xde, 0, 1, 1, 2, 3, 4, 9, 9}, 1, 2, 2, true},
		{"padding", []byte{0xa0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 9, 0, 0, 3}, 1, 2, 1, true},
		{"short", []byte{0x80, 0x60, 0, 1}, 0, 0, 0, false},
		{"bad padding", []byte{0xa0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 9, 0, 0, 30}, 0, 0, 0, false},
		{"version 1", []byte{0x40, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 9}, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, ts, payload, ok := rtpFields(tt.pkt)
			if seq != tt.seq || ts != tt.ts || payload != tt.payload || ok != tt.ok {
				t.Errorf("rtpFields(% x) = %d, %d, %d, %t; want %d, %d, %d, %t", tt.pkt, seq, ts, payload, ok,
					tt.seq, tt.ts, tt.payload, tt.ok)
			}
		})
	}
}

func TestSeqCounter(t *testing.T) {
	var s seqCounter
	for _, seq := range []uint16{65533, 65534, 65535, 1, 2, 0, 5, 5} { // wrap, a late 0, 3 and 4 lost, a duplicate
		s.packet(seq, 10)
	}
	if got := s.lost.Load(); got != 1 { // 65533..5 is 9 expected, 8 counted (one a duplicate)
		t.Errorf("lost %d, want 1", got)
	}
	if got := s.packets.Load(); got != 8 {
		t.Errorf("packets %d, want 8", got)
	}
}

// BenchmarkCountPacket is the per-packet work of a non-decoding client: header fields and counters.
func BenchmarkCountPacket(b *testing.B) {
	var r recvCounters
	r.epoch = time.Now()
	st := frameState{interval: int64(time.Second / 30)}
	pkt := make([]byte, 1200)
	pkt[0], pkt[1] = 0x80, 0x66
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		pkt[7] = byte(i / 3)
		seq, ts, n, _ := rtpFields(pkt)
		r.videoPacket(&st, seq, ts, n, r.now())
		r.audioPacket(seq, 80, r.now())
	}
}
