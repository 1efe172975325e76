package codectest

import (
	"image"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// TestFillRect paints odd-cornered rectangles, partly outside the frame, and checks every pixel: inside
// the clipped rectangle with its corners rounded down to even, the colour; elsewhere, untouched.
func TestFillRect(t *testing.T) {
	red := codec.RGBToYUV(255, 0, 0)
	for _, r := range []image.Rectangle{
		image.Rect(3, 5, 21, 17), image.Rect(-8, -8, 10, 10), image.Rect(30, 20, 99, 99), image.Rect(7, 7, 8, 8),
	} {
		f := codec.NewVideoFrame(40, 30)
		FillRect(f, r, red)
		want := r.Intersect(f.Bounds())
		want.Min.X, want.Min.Y, want.Max.X, want.Max.Y = want.Min.X&^1, want.Min.Y&^1, want.Max.X&^1, want.Max.Y&^1
		for y := range f.Height {
			for x := range f.Width {
				exp := codec.Black
				if image.Pt(x, y).In(want) {
					exp = red
				}
				if got := f.At(x, y); got != exp {
					t.Fatalf("FillRect(%v): pixel (%d,%d) is %v, want %v", r, x, y, got, exp)
				}
			}
		}
	}
	f := codec.NewVideoFrame(640, 360)
	if n := testing.AllocsPerRun(10, func() { FillNoise(f, 1, 8, NoiseAmp); FillMoving(f, 3) }); n != 0 {
		t.Errorf("FillNoise and FillMoving: %g allocations, want none", n)
	}
}
