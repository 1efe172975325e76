package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// VideoCodecCase describes one video codec to the conformance checks: how to build its encoder and
// decoder and how to read its bitstream. The test of each codec package fills one in. A VideoCodecCase
// holds only functions and numbers: copy it freely; it is safe for concurrent use if its functions are.
type VideoCodecCase struct {
	// Codec names the codec in subtests and failure messages.
	Codec codec.VideoCodec
	// NewEncoder returns an encoder of width x height pictures at 30 frames per second, targeting bitrate
	// bits per second. When it returns an error its encoder result is ignored, so a constructor that
	// returns a concrete type can be returned as is: return h264.NewEncoder(cfg).
	NewEncoder func(width, height, bitrate int) (codec.VideoEncoder, error)
	// NewDecoder returns a decoder for the codec's frames; only the round-trip checks call it. Its
	// decoder result is ignored with an error, as with NewEncoder.
	NewDecoder func() (codec.VideoDecoder, error)
	// IsKeyframe reports whether a frame's bitstream marks it as a keyframe, whatever the encoder said.
	IsKeyframe func(frame []byte) bool
	// Tolerance is how far each component of the mean colour of a decoded region may be from the colour
	// that was encoded.
	Tolerance int
}

// Encoder returns an encoder from vc.NewEncoder, closed when tb's test ends, and fails tb (naming the codec
// and the settings) if there is none; see Open for builds without cgo.
func (vc VideoCodecCase) Encoder(tb testing.TB, width, height, bitrate int) codec.VideoEncoder {
	tb.Helper()
	enc, err := vc.NewEncoder(width, height, bitrate)
	return closing(tb, fmt.Sprintf("%v encoder %dx%d at %d bit/s", vc.Codec, width, height, bitrate), enc, err)
}

// Decoder returns a decoder from vc.NewDecoder, closed when tb's test ends, and fails tb if there is none;
// see Open for builds without cgo.
func (vc VideoCodecCase) Decoder(tb testing.TB) codec.VideoDecoder {
	tb.Helper()
	dec, err := vc.NewDecoder()
	return closing(tb, vc.Codec.String()+" decoder", dec, err)
}

// Centre returns the middle half of a width x height picture, where round-trip checks measure colours
// away from the edges.
func Centre(width, height int) image.Rectangle {
	return image.Rect(width/4, height/4, width*3/4, height*3/4)
}

// CheckColorRoundTrip encodes a 320x180 picture of each of Colors at 500 kbit/s for 5 frames, through
// Encode(src), the path that copies src into the encoder's own picture, and decodes every frame. The first
// frame must be a keyframe; after each Encode the encoder's picture must hold the copied colour; from the
// third frame on every decoded picture must be well formed (CheckPicture) and the mean colour both of its
// Centre and of all but a 40-pixel border must be within vc.Tolerance of the colour. One subtest per
// colour.
func CheckColorRoundTrip(t *testing.T, vc VideoCodecCase) {
	t.Helper()
	const w, h, frames = 320, 180, 5
	for _, col := range Colors() {
		t.Run(col.Name, func(t *testing.T) {
			enc, dec := vc.Encoder(t, w, h, 500_000), vc.Decoder(t)
			src := codec.NewVideoFrame(w, h)
			src.Fill(col.YUV())
			roundTrip(t, enc, dec, src, frames, func(i int, pic *codec.VideoFrame) {
				if got := enc.Frame().At(w/2, h/2); got != col.YUV() {
					t.Errorf("%v frame %d: Frame() after Encode(src) holds %v, want the copied %v", vc.Codec, i, got, col)
				}
				if i < 2 {
					return
				}
				if pic == nil {
					t.Fatalf("%v %dx%d %s: frame %d decoded to no picture", vc.Codec, w, h, col.Name, i)
				}
				CheckPicture(t, pic, w, h)
				for _, r := range []image.Rectangle{Centre(w, h), pic.Bounds().Inset(40)} {
					if got := pic.Mean(r); !Near(got, col.YUV(), vc.Tolerance) {
						t.Errorf("%v %dx%d %s frame %d: mean of %v is %v, want %v ±%d",
							vc.Codec, w, h, col.Name, i, r, got, col.YUV(), vc.Tolerance)
					}
				}
			})
		})
	}
}

// CheckForceKeyframe checks an encoder's keyframe decisions on a steady 320x180 picture (blue, at 500
// kbit/s): the first of 11 frames is a keyframe and the other 10 are not; after ForceKeyframe the next
// frame is one and the frame after it is not. "Is" means both what Encode reports and what vc.IsKeyframe
// reads in the bitstream; every frame must be non-empty. It returns copies of the first frame and of the
// forced keyframe for the codec's own bitstream checks.
func CheckForceKeyframe(t *testing.T, vc VideoCodecCase) (first, forced []byte) {
	t.Helper()
	enc := vc.Encoder(t, 320, 180, 500_000)
	enc.Frame().Fill(Colors()[2].YUV())
	encode := func(what string, wantKey bool) []byte {
		t.Helper()
		data, key, err := enc.Encode(nil)
		switch {
		case err != nil:
			t.Fatalf("%v %s: %v", vc.Codec, what, err)
		case len(data) == 0:
			t.Fatalf("%v %s: no output", vc.Codec, what)
		case key != wantKey || vc.IsKeyframe(data) != wantKey:
			t.Fatalf("%v %s: keyframe %v, bitstream says %v, want %v", vc.Codec, what, key, vc.IsKeyframe(data), wantKey)
		}
		return bytes.Clone(data)
	}
	first = encode("frame 0", true)
	for i := 1; i < 11; i++ {
		encode(fmt.Sprintf("frame %d", i), false)
	}
	enc.ForceKeyframe()
	forced = encode("forced keyframe", true)
	encode("frame after the forced keyframe", false)
	return first, forced
}

// NoiseAmp is the amplitude, around mid grey, of the noise (FillNoise) that the bitrate checks encode. Blocks
// of 8x8 that all change every frame are hard enough; full-range noise is out of reach of 200 kbit/s at
// 640x360 (VP8 at its highest quantizer still spends some 60 kbit per frame on it), and then no rate
// control can show a difference.
const NoiseAmp = 8

// encodeNoise encodes n frames of noise (8x8 blocks of NoiseAmp) that changes every frame, the first drawn
// from seed, and returns the total size.
func encodeNoise(tb testing.TB, enc codec.VideoEncoder, seed uint64, n int) int {
	tb.Helper()
	total := 0
	for i := range n {
		FillNoise(enc.Frame(), seed+uint64(i), 8, NoiseAmp)
		data, _, err := enc.Encode(nil)
		if err != nil {
			tb.Fatalf("noise frame %d: %v", i, err)
		}
		total += len(data)
	}
	return total
}

// CheckSetBitrate checks that SetBitrate takes effect: a 640x360 encoder at 2 Mbit/s encodes 30 frames of
// changing noise, then, switched to 200 kbit/s and given 15 frames to drain its buffers, 30 more. The 2
// Mbit/s frames must take more than twice the bytes of the 200 kbit/s ones; each run must stay within
// reach of its budget (one second at 2 Mbit/s is 250 kB: at most 400 kB, and at most 60 kB at 200
// kbit/s). SetBitrate must refuse 0, -1 and each of invalid.
func CheckSetBitrate(t *testing.T, vc VideoCodecCase, invalid ...int) {
	t.Helper()
	const w, h = 640, 360
	enc := vc.Encoder(t, w, h, 2_000_000)
	high := encodeNoise(t, enc, 0, 30)
	if err := enc.SetBitrate(200_000); err != nil {
		t.Fatalf("%v SetBitrate(200000): %v", vc.Codec, err)
	}
	encodeNoise(t, enc, 100, 15) // let the rate control's buffer drain
	low := encodeNoise(t, enc, 200, 30)
	t.Logf("%v noise %dx%d, 30 frames: %d bytes at 2 Mbit/s, %d bytes at 200 kbit/s", vc.Codec, w, h, high, low)
	// A tenth of the bitrate: measured 12x smaller for H.264, 8x for VP8 (the encoders are deterministic on
	// this noise); at least 5x holds for both with a margin.
	if high < 5*low {
		t.Errorf("%v, 30 frames of noise: %d bytes at 2 Mbit/s, %d at 200 kbit/s: want at least 5 times as many", vc.Codec, high, low)
	}
	if high > 400_000 || low > 60_000 {
		t.Errorf("%v, 30 frames: %d bytes at 2 Mbit/s (want <= 400000), %d at 200 kbit/s (want <= 60000)", vc.Codec, high, low)
	}
	for _, bad := range append([]int{0, -1}, invalid...) {
		if err := enc.SetBitrate(bad); err == nil {
			t.Errorf("%v SetBitrate(%d) succeeded", vc.Codec, bad)
		}
	}
}

// CheckEncoderClose checks a 160x90 encoder at 100 kbit/s: Encode of a picture of another size (320x180,
// 162x90) fails with codec.ErrFrameSize; Close succeeds twice; afterwards Encode and SetBitrate fail with
// codec.ErrClosed, ForceKeyframe does nothing, and Frame() has no planes left.
func CheckEncoderClose(t *testing.T, vc VideoCodecCase) {
	t.Helper()
	const w, h = 160, 90
	enc, err := vc.NewEncoder(w, h, 100_000)
	failOpen(t, vc.Codec.String()+" encoder", err)
	for _, s := range [][2]int{{2 * w, 2 * h}, {w + 2, h}} {
		if _, _, err := enc.Encode(codec.NewVideoFrame(s[0], s[1])); !errors.Is(err, codec.ErrFrameSize) {
			t.Errorf("%v Encode of a %dx%d frame into %dx%d: %v, want ErrFrameSize", vc.Codec, s[0], s[1], w, h, err)
		}
	}
	for i := range 2 {
		if err := enc.Close(); err != nil {
			t.Errorf("%v Close #%d: %v", vc.Codec, i+1, err)
		}
	}
	enc.ForceKeyframe()
	if _, _, err := enc.Encode(nil); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("%v Encode after Close: %v, want ErrClosed", vc.Codec, err)
	}
	if err := enc.SetBitrate(100_000); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("%v SetBitrate after Close: %v, want ErrClosed", vc.Codec, err)
	}
	if f := enc.Frame(); len(f.Y)+len(f.U)+len(f.V) != 0 {
		t.Errorf("%v Frame after Close still has %d/%d/%d-byte planes", vc.Codec, len(f.Y), len(f.U), len(f.V))
	}
}

// BenchVideoEncode measures Encode of camera-like content (eight frames of FillMoving, copied in by
// Encode) by a width x height encoder at bitrate, reporting allocations.
func BenchVideoEncode(b *testing.B, vc VideoCodecCase, width, height, bitrate int) {
	enc := vc.Encoder(b, width, height, bitrate)
	frames := make([]*codec.VideoFrame, 8)
	for i := range frames {
		frames[i] = codec.NewVideoFrame(width, height)
		FillMoving(frames[i], i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := enc.Encode(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}
