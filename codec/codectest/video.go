package codectest

import (
	"errors"
	"fmt"
	"image"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// NamedColor is a test colour, full-range sRGB, with a name for failure messages.
type NamedColor struct {
	Name    string
	R, G, B uint8
}

// YUV returns the colour in the frames' colour space (codec.RGBToYUV).
func (c NamedColor) YUV() codec.YUV { return codec.RGBToYUV(c.R, c.G, c.B) }

// String returns the name and the YUV value, for failure messages.
func (c NamedColor) String() string { return fmt.Sprintf("%s %v", c.Name, c.YUV()) }

// Colors returns the colours video round-trip tests check: the primaries, white and a mid grey. It
// returns a new slice on every call.
func Colors() []NamedColor {
	return []NamedColor{
		{"red", 255, 0, 0},
		{"green", 0, 255, 0},
		{"blue", 0, 0, 255},
		{"white", 255, 255, 255},
		{"grey", 128, 128, 128},
	}
}

// Quadrants returns the top-left, top-right, bottom-left and bottom-right quarters of a width x height
// picture, corners rounded down to even.
func Quadrants(width, height int) [4]image.Rectangle {
	mx, my := width/2&^1, height/2&^1
	return [4]image.Rectangle{
		image.Rect(0, 0, mx, my), image.Rect(mx, 0, width, my),
		image.Rect(0, my, mx, height), image.Rect(mx, my, width, height),
	}
}

// FillQuadrants paints the quarters of f (see Quadrants) with c[0] .. c[3].
func FillQuadrants(f *codec.VideoFrame, c [4]codec.YUV) {
	for i, r := range Quadrants(f.Width, f.Height) {
		FillRect(f, r, c[i])
	}
}

// FillRect paints the rectangle r of f (clipped, corners rounded down to even, as f.Sub does) with c. It
// allocates nothing, so benchmarks can draw with it.
func FillRect(f *codec.VideoFrame, r image.Rectangle, c codec.YUV) {
	v := f.Sub(r)
	v.Fill(c)
}

// FillNoise paints f with blocks of block x block pixels, each of one pseudo-random colour within amp of
// mid grey (YUV 128,128,128; amp up to 112) drawn from seed: the same seed always gives the same picture, a
// new seed a completely different one. Frames with a new seed each time are about the hardest content an
// encoder can meet; a small amp keeps it within reach of low bitrates.
func FillNoise(f *codec.VideoFrame, seed uint64, block, amp int) {
	block = max(block&^1, 2)
	amp = min(max(amp, 0), 112)
	s := seed*0x9e3779b97f4a7c15 + 1
	for by := 0; by < f.Height; by += block {
		for bx := 0; bx < f.Width; bx += block {
			// xorshift64*: cheap, deterministic, no allocation.
			s ^= s >> 12
			s ^= s << 25
			s ^= s >> 27
			v := s * 0x2545f4914f6cdd1d
			c := codec.YUV{Y: noise(v, amp), U: noise(v>>20, amp), V: noise(v>>40, amp)}
			FillRect(f, image.Rect(bx, by, bx+block, by+block), c)
		}
	}
}

// noise maps the low bits of v to 128-amp .. 128+amp.
func noise(v uint64, amp int) uint8 { return uint8(128 - amp + int(v%uint64(2*amp+1))) }

// FillMoving paints f with a camera-like picture for frame number n: a smooth diagonal gradient and a
// 64x64 box that moves 4 pixels to the right per frame. It allocates nothing.
func FillMoving(f *codec.VideoFrame, n int) {
	for y := 0; y < f.Height; y++ {
		row := f.Y[y*f.StrideY : y*f.StrideY+f.Width]
		for x := range row {
			row[x] = uint8(16 + (x+y+n)%220)
		}
	}
	for y := 0; y < f.Height/2; y++ {
		u := f.U[y*f.StrideU : y*f.StrideU+f.Width/2]
		v := f.V[y*f.StrideV : y*f.StrideV+f.Width/2]
		for x := range u {
			u[x] = uint8(96 + x*64/max(len(u), 1))
			v[x] = uint8(96 + y*128/max(f.Height, 1))
		}
	}
	x := (n * 4) % max(f.Width-64, 1)
	y := f.Height/2 - 32
	FillRect(f, image.Rect(x, y, x+64, y+64), codec.RGBToYUV(255, 200, 0))
}

// Near reports whether every component of got is within tol of want.
func Near(got, want codec.YUV, tol int) bool {
	return absDiff(got.Y, want.Y) <= tol && absDiff(got.U, want.U) <= tol && absDiff(got.V, want.V) <= tol
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// RoundTrip encodes src n times with enc and decodes every output with dec, failing tb on any error, and
// returns the last picture (valid until dec's next Decode or Close). The first output must be a keyframe.
func RoundTrip(tb testing.TB, enc codec.VideoEncoder, dec codec.VideoDecoder, src *codec.VideoFrame, n int) *codec.VideoFrame {
	tb.Helper()
	var last *codec.VideoFrame
	roundTrip(tb, enc, dec, src, n, func(_ int, pic *codec.VideoFrame) {
		if pic != nil {
			last = pic
		}
	})
	if last == nil {
		tb.Fatalf("%d frames of %dx%d decoded to no picture", n, enc.Frame().Width, enc.Frame().Height)
	}
	return last
}

// roundTrip is RoundTrip calling each with the index and the decoded picture (nil if none yet) of every
// frame.
func roundTrip(tb testing.TB, enc codec.VideoEncoder, dec codec.VideoDecoder, src *codec.VideoFrame, n int, each func(i int, pic *codec.VideoFrame)) {
	tb.Helper()
	w, h := enc.Frame().Width, enc.Frame().Height
	for i := range n {
		data, key, err := enc.Encode(src)
		if err != nil {
			tb.Fatalf("encode frame %d of %dx%d: %v", i, w, h, err)
		}
		if i == 0 && !key {
			tb.Fatalf("first frame of %dx%d is not a keyframe", w, h)
		}
		pic, err := dec.Decode(data)
		if err != nil {
			tb.Fatalf("decode frame %d (%d bytes, key %v) of %dx%d: %v", i, len(data), key, w, h, err)
		}
		each(i, pic)
	}
}

// CheckPicture fails tb unless pic is a well-formed picture of width x height: planes long enough for
// their strides. It accepts any size when width and height are zero.
func CheckPicture(tb testing.TB, pic *codec.VideoFrame, width, height int) {
	tb.Helper()
	if err := pictureError(pic, width, height); err != nil {
		tb.Fatal(err)
	}
}

func pictureError(pic *codec.VideoFrame, width, height int) error {
	switch {
	case pic == nil:
		return errors.New("nil picture")
	case width != 0 && (pic.Width != width || pic.Height != height):
		return fmt.Errorf("picture is %dx%d, want %dx%d", pic.Width, pic.Height, width, height)
	case pic.Width < 2 || pic.Height < 2 || pic.Width > codec.MaxWidth || pic.Height > codec.MaxHeight:
		return fmt.Errorf("picture size %dx%d out of range", pic.Width, pic.Height)
	case pic.StrideY < pic.Width || pic.StrideU < pic.Width/2 || pic.StrideV < pic.Width/2:
		return fmt.Errorf("strides %d/%d/%d too small for width %d", pic.StrideY, pic.StrideU, pic.StrideV, pic.Width)
	case len(pic.Y) < (pic.Height-1)*pic.StrideY+pic.Width,
		len(pic.U) < (pic.Height/2-1)*pic.StrideU+pic.Width/2,
		len(pic.V) < (pic.Height/2-1)*pic.StrideV+pic.Width/2:
		return fmt.Errorf("planes %d/%d/%d bytes too short for %dx%d", len(pic.Y), len(pic.U), len(pic.V), pic.Width, pic.Height)
	}
	return nil
}
