package av_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/vp8"
)

// codecCases returns the codecs under test, decoded by this package.
func codecCases() []codectest.VideoCodecCase {
	return []codectest.VideoCodecCase{{
		Codec: codec.H264,
		NewEncoder: func(w, h, bitrate int) (codec.VideoEncoder, error) {
			return h264.NewEncoder(h264.Config{Width: w, Height: h, FrameRate: 30, Bitrate: bitrate})
		},
		NewDecoder: func() (codec.VideoDecoder, error) { return av.NewVideoDecoder(codec.H264) },
		IsKeyframe: h264.IsKeyframe,
		Tolerance:  6,
	}, {
		Codec: codec.VP8,
		NewEncoder: func(w, h, bitrate int) (codec.VideoEncoder, error) {
			return vp8.NewEncoder(vp8.Config{Width: w, Height: h, FrameRate: 30, Bitrate: bitrate})
		},
		NewDecoder: func() (codec.VideoDecoder, error) { return av.NewVideoDecoder(codec.VP8) },
		IsKeyframe: vp8.IsKeyframe,
		Tolerance:  6,
	}}
}

func TestRoundTripColors(t *testing.T) {
	for _, cc := range codecCases() {
		t.Run(cc.Codec.String(), func(t *testing.T) { codectest.CheckColorRoundTrip(t, cc) })
	}
}

func TestRoundTripQuadrants(t *testing.T) {
	cols := codectest.Colors()
	quad := [4]codec.YUV{cols[0].YUV(), cols[1].YUV(), cols[2].YUV(), cols[3].YUV()}
	for _, cc := range codecCases() {
		t.Run(cc.Codec.String(), func(t *testing.T) {
			const w, h = 640, 360
			enc, dec := cc.Encoder(t, w, h, 1_000_000), cc.Decoder(t)
			// Draw straight into the encoder's own picture and encode it with Encode(nil).
			codectest.FillQuadrants(enc.Frame(), quad)
			pic := codectest.RoundTrip(t, enc, dec, nil, 5)
			codectest.CheckPicture(t, pic, w, h)
			for i, r := range codectest.Quadrants(w, h) {
				if got := pic.Mean(r.Inset(16)); !codectest.Near(got, quad[i], cc.Tolerance) {
					t.Errorf("%v quadrant %d (%s, %v): mean %v, want %v ±%d", cc.Codec, i, cols[i].Name, r, got, quad[i], cc.Tolerance)
				}
			}
		})
	}
}

// encoded is one encoder output, copied.
type encoded struct {
	data []byte
	key  bool
}

func encode(tb testing.TB, enc codec.VideoEncoder, src *codec.VideoFrame) encoded {
	tb.Helper()
	data, key, err := enc.Encode(src)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return encoded{bytes.Clone(data), key}
}

func TestLostWaitsForForcedKeyframe(t *testing.T) {
	for _, cc := range codecCases() {
		t.Run(cc.Codec.String(), func(t *testing.T) {
			const w, h = 320, 180
			enc, dec := cc.Encoder(t, w, h, 500_000), cc.Decoder(t)
			red, blue := codectest.Colors()[0].YUV(), codectest.Colors()[2].YUV()
			src := codec.NewVideoFrame(w, h)
			src.Fill(red)
			for i := range 11 {
				f := encode(t, enc, src)
				if f.key != (i == 0) || cc.IsKeyframe(f.data) != (i == 0) {
					t.Fatalf("frame %d: keyframe %v (bitstream says %v), want %v", i, f.key, cc.IsKeyframe(f.data), i == 0)
				}
				if pic, err := dec.Decode(f.data); err != nil || pic == nil {
					t.Fatalf("decode frame %d: picture %v, error %v", i, pic != nil, err)
				}
			}
			dec.Lost()
			for i := range 2 {
				f := encode(t, enc, src)
				if f.key {
					t.Fatalf("delta frame %d after loss is a keyframe", i)
				}
				if pic, err := dec.Decode(f.data); !errors.Is(err, codec.ErrNeedKeyframe) || pic != nil {
					t.Fatalf("delta frame %d after Lost: picture %v, error %v, want ErrNeedKeyframe", i, pic != nil, err)
				}
			}
			src.Fill(blue)
			enc.ForceKeyframe()
			f := encode(t, enc, src)
			if !f.key || !cc.IsKeyframe(f.data) {
				t.Fatalf("frame after ForceKeyframe: keyframe %v, bitstream says %v", f.key, cc.IsKeyframe(f.data))
			}
			pic, err := dec.Decode(f.data)
			if err != nil {
				t.Fatalf("decode forced keyframe: %v", err)
			}
			codectest.CheckPicture(t, pic, w, h)
			if got := pic.Mean(codectest.Centre(w, h)); !codectest.Near(got, blue, cc.Tolerance) {
				t.Errorf("forced keyframe: centre mean %v, want %v ±%d", got, blue, cc.Tolerance)
			}
			if pic, err := dec.Decode(encode(t, enc, src).data); err != nil || pic == nil {
				t.Errorf("delta frame after recovery: picture %v, error %v", pic != nil, err)
			}
		})
	}
}

func TestStartsWaitingForKeyframe(t *testing.T) {
	for _, cc := range codecCases() {
		t.Run(cc.Codec.String(), func(t *testing.T) {
			const w, h = 320, 180
			enc, dec := cc.Encoder(t, w, h, 500_000), cc.Decoder(t)
			src := codec.NewVideoFrame(w, h)
			src.Fill(codectest.Colors()[1].YUV())
			encode(t, enc, src) // the keyframe, which the decoder never sees
			for i := range 3 {
				f := encode(t, enc, src)
				if pic, err := dec.Decode(f.data); !errors.Is(err, codec.ErrNeedKeyframe) || pic != nil {
					t.Fatalf("delta frame %d first: picture %v, error %v, want ErrNeedKeyframe", i, pic != nil, err)
				}
			}
			enc.ForceKeyframe()
			pic, err := dec.Decode(encode(t, enc, src).data)
			if err != nil {
				t.Fatalf("decode keyframe: %v", err)
			}
			codectest.CheckPicture(t, pic, w, h)
		})
	}
}

func TestResolutionChange(t *testing.T) {
	for _, cc := range codecCases() {
		t.Run(cc.Codec.String(), func(t *testing.T) {
			dec := cc.Decoder(t)
			steps := []struct {
				w, h int
				col  codectest.NamedColor
			}{
				{320, 180, codectest.Colors()[0]},
				{640, 360, codectest.Colors()[2]},
				{320, 180, codectest.Colors()[3]},
			}
			for _, s := range steps {
				enc, err := cc.NewEncoder(s.w, s.h, 800_000)
				if err != nil {
					t.Fatalf("encoder %dx%d: %v", s.w, s.h, err)
				}
				enc.ForceKeyframe()
				enc.Frame().Fill(s.col.YUV())
				pic := codectest.RoundTrip(t, enc, dec, nil, 3)
				codectest.CheckPicture(t, pic, s.w, s.h)
				if got := pic.Mean(codectest.Centre(s.w, s.h)); !codectest.Near(got, s.col.YUV(), cc.Tolerance) {
					t.Errorf("%dx%d %s: centre mean %v, want %v ±%d", s.w, s.h, s.col.Name, got, s.col.YUV(), cc.Tolerance)
				}
				enc.Close()
			}
		})
	}
}

// stream encodes n frames of moving content at w x h, the first a keyframe.
func stream(tb testing.TB, cc codectest.VideoCodecCase, w, h, n int) []encoded {
	tb.Helper()
	enc, err := cc.NewEncoder(w, h, 600_000)
	if err != nil {
		tb.Fatalf("%v encoder: %v", cc.Codec, err)
	}
	defer enc.Close()
	out := make([]encoded, n)
	for i := range out {
		codectest.FillMoving(enc.Frame(), i)
		out[i] = encode(tb, enc, nil)
	}
	return out
}

// mutations returns damaged versions of the frames of s: random bytes, truncations, bit flips and, for
// H.264, random NAL units behind start codes.
func mutations(c codec.VideoCodec, s []encoded, rng *rand.Rand) [][]byte {
	var out [][]byte
	for range 100 {
		b := make([]byte, 1+rng.IntN(3000))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if c == codec.H264 && rng.IntN(2) == 0 {
			copy(b, []byte{0, 0, 0, 1, []byte{0x65, 0x41, 0x67, 0x68, 0x06}[rng.IntN(5)]})
		}
		if c == codec.VP8 && len(b) > 10 && rng.IntN(2) == 0 {
			b[0] &^= 1
			copy(b[3:], []byte{0x9d, 0x01, 0x2a, byte(rng.Uint32()), byte(rng.IntN(4)), byte(rng.Uint32()), byte(rng.IntN(4))})
		}
		out = append(out, b)
	}
	for _, f := range s {
		for _, cut := range []int{1, 3, 5, 10, len(f.data) / 4, len(f.data) / 2, len(f.data) - 1} {
			if cut > 0 && cut < len(f.data) {
				out = append(out, bytes.Clone(f.data[:cut]))
			}
		}
		for range 20 {
			b := bytes.Clone(f.data)
			for range 1 + rng.IntN(8) {
				i := rng.IntN(len(b) * 8)
				b[i/8] ^= 1 << (i % 8)
			}
			out = append(out, b)
		}
	}
	return out
}

func TestCorruptInput(t *testing.T) {
	for _, cc := range codecCases() {
		t.Run(cc.Codec.String(), func(t *testing.T) {
			const w, h = 320, 180
			s := stream(t, cc, w, h, 6)
			rng := rand.New(rand.NewPCG(1, uint64(cc.Codec)))
			dec := cc.Decoder(t)
			var errs, pics int
			for i, b := range mutations(cc.Codec, s, rng) {
				// Every other damaged frame follows a good keyframe, so damaged delta frames reach libavcodec.
				if i%2 == 0 {
					if _, err := dec.Decode(s[0].data); err != nil {
						t.Fatalf("decode good keyframe before mutation %d: %v", i, err)
					}
				}
				pic, err := dec.Decode(b)
				switch {
				case err != nil:
					errs++
				case pic != nil:
					pics++
					codectest.CheckPicture(t, pic, 0, 0)
				}
			}
			t.Logf("%v: %d errors, %d pictures from damaged frames", cc.Codec, errs, pics)
			if errs == 0 {
				t.Errorf("%v: no damaged frame returned an error", cc.Codec)
			}
			// Recovery: a fresh keyframe of a known colour decodes correctly.
			white := codectest.Colors()[3].YUV()
			enc, err := cc.NewEncoder(w, h, 600_000)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			enc.Frame().Fill(white)
			pic := codectest.RoundTrip(t, enc, dec, nil, 2)
			codectest.CheckPicture(t, pic, w, h)
			if got := pic.Mean(codectest.Centre(w, h)); !codectest.Near(got, white, cc.Tolerance) {
				t.Errorf("after corruption: centre mean %v, want %v ±%d", got, white, cc.Tolerance)
			}
		})
	}
}

func TestDecodeRandomFirst(t *testing.T) {
	// A decoder that waits for a keyframe never turns garbage into a picture: VP8 refuses it with an
	// error; H.264 garbage (no start code, so no slice) is a frame without pictures, (nil, nil).
	for _, cc := range codecCases() {
		rng := rand.New(rand.NewPCG(7, 7))
		dec := cc.Decoder(t)
		errs := 0
		for i := range 200 {
			b := make([]byte, 1+rng.IntN(500))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			pic, err := dec.Decode(b)
			if pic != nil {
				t.Errorf("%v: random frame %d (% x...) gave a %dx%d picture", cc.Codec, i, b[:min(len(b), 8)], pic.Width, pic.Height)
			}
			if err != nil {
				errs++
			}
		}
		if cc.Codec == codec.VP8 && errs != 200 {
			t.Errorf("VP8: %d of 200 random frames refused with an error, want all", errs)
		}
	}
}

func TestVP8OversizedKeyframe(t *testing.T) {
	cc := codecCases()[1]
	s := stream(t, cc, 320, 180, 2)
	dec := cc.Decoder(t)
	big := bytes.Clone(s[0].data)
	big[6], big[7], big[8], big[9] = 0x40, 0x1f, 0x40, 0x1f // 8000x8000
	if pic, err := dec.Decode(big); !errors.Is(err, codec.ErrFrameSize) || pic != nil {
		t.Fatalf("8000x8000 key frame: picture %v, error %v, want ErrFrameSize", pic != nil, err)
	}
	if _, err := dec.Decode(s[1].data); !errors.Is(err, codec.ErrNeedKeyframe) {
		t.Fatalf("delta frame after oversized key frame: error %v, want ErrNeedKeyframe", err)
	}
}

// TestMaxSize: a decoder limited with WithMaxSize refuses a larger stream (libavcodec's pixel limit
// refuses it as invalid data, before decoding: ErrCorrupt; a picture that got through would be
// ErrFrameSize) with no picture, and decodes one within the limit.
func TestMaxSize(t *testing.T) {
	for _, cc := range codecCases() {
		big := stream(t, cc, 640, 360, 2)
		small := stream(t, cc, 320, 180, 2)
		dec, err := av.NewVideoDecoder(cc.Codec, av.WithMaxSize(480, 270))
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if pic, err := dec.Decode(big[0].data); !(errors.Is(err, codec.ErrFrameSize) || errors.Is(err, codec.ErrCorrupt)) || pic != nil {
			t.Errorf("%v: 640x360 keyframe with a 480x270 limit: picture %v, error %v, want a refusal", cc.Codec, pic != nil, err)
		}
		if pic, err := dec.Decode(big[1].data); !errors.Is(err, codec.ErrNeedKeyframe) || pic != nil {
			t.Errorf("%v: delta frame after the refused keyframe: picture %v, error %v, want ErrNeedKeyframe", cc.Codec, pic != nil, err)
		}
		pic, err := dec.Decode(small[0].data)
		if err != nil || pic == nil {
			t.Fatalf("%v: 320x180 keyframe: picture %v, error %v", cc.Codec, pic != nil, err)
		}
		codectest.CheckPicture(t, pic, 320, 180)
	}
}

func TestEmptyAndParameterSetsOnly(t *testing.T) {
	cc := codecCases()[0]
	s := stream(t, cc, 320, 180, 2)
	dec := cc.Decoder(t)
	// Split the first access unit into its parameter sets and the rest (SEI and IDR slice).
	var params, idr []byte
	h264.SplitNALs(s[0].data, func(nal []byte) {
		if t := h264.NALType(nal); t == h264.NALSPS || t == h264.NALPPS {
			params = append(append(params, 0, 0, 0, 1), nal...)
		} else {
			idr = append(append(idr, 0, 0, 0, 1), nal...)
		}
	})
	for _, in := range [][]byte{nil, {}, params} {
		if pic, err := dec.Decode(in); err != nil || pic != nil {
			t.Errorf("Decode(% x): picture %v, error %v, want neither", in, pic != nil, err)
		}
	}
	pic, err := dec.Decode(idr)
	if err != nil || pic == nil {
		t.Fatalf("IDR without parameter sets, after them: picture %v, error %v", pic != nil, err)
	}
	codectest.CheckPicture(t, pic, 320, 180)
	if pic, err := dec.Decode(s[1].data); err != nil || pic == nil {
		t.Errorf("delta frame: picture %v, error %v", pic != nil, err)
	}
}

func TestClose(t *testing.T) {
	for _, cc := range codecCases() {
		dec, err := av.NewVideoDecoder(cc.Codec)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := dec.Close(); err != nil {
				t.Errorf("%v: Close #%d: %v", cc.Codec, i+1, err)
			}
		}
		if _, err := dec.Decode([]byte{0, 0, 0, 1, 0x65, 1}); !errors.Is(err, codec.ErrClosed) {
			t.Errorf("%v: Decode after Close: %v, want ErrClosed", cc.Codec, err)
		}
	}
	if _, err := av.NewVideoDecoder(codec.VideoCodec(99)); err == nil {
		t.Error("decoder for unknown codec: no error")
	}
}

// fuzzDecode seeds f with a real stream of c and decodes each input twice: once on a fresh decoder (which
// waits for a keyframe) and once right after a good keyframe, so delta-frame garbage reaches libavcodec.
func fuzzDecode(f *testing.F, cc codectest.VideoCodecCase) {
	s := stream(f, cc, 64, 48, 3)
	for _, e := range s {
		f.Add(e.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, err := av.NewVideoDecoder(cc.Codec)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if pic, err := dec.Decode(data); err == nil && pic != nil {
			codectest.CheckPicture(t, pic, 0, 0)
		}
		// A keyframe right after garbage may be reported damaged once (the fuzzer found such an input,
		// testdata/fuzz/FuzzDecodeH264/ed95ed230cdf9802: libavcodec flags the keyframe's picture as
		// concealed, 0xc); the next keyframe must decode, which is what recovery by PLI relies on.
		if _, err := dec.Decode(s[0].data); err != nil {
			if _, err := dec.Decode(s[0].data); err != nil {
				t.Fatalf("good keyframe, twice: %v", err)
			}
		}
		if pic, err := dec.Decode(data); err == nil && pic != nil {
			codectest.CheckPicture(t, pic, 0, 0)
		}
	})
}

func FuzzDecodeH264(f *testing.F) { fuzzDecode(f, codecCases()[0]) }

func FuzzDecodeVP8(f *testing.F) { fuzzDecode(f, codecCases()[1]) }

func benchmarkDecode(b *testing.B, cc codectest.VideoCodecCase) {
	s := stream(b, cc, 640, 360, 60)
	dec := cc.Decoder(b)
	var n int64
	for _, e := range s {
		n += int64(len(e.data))
	}
	b.SetBytes(n / int64(len(s)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pic, err := dec.Decode(s[i%len(s)].data)
		if err != nil || pic == nil {
			b.Fatalf("frame %d: picture %v, error %v", i%len(s), pic != nil, err)
		}
	}
}

func BenchmarkDecodeH264_640x360(b *testing.B) { benchmarkDecode(b, codecCases()[0]) }

func BenchmarkDecodeVP8_640x360(b *testing.B) { benchmarkDecode(b, codecCases()[1]) }
