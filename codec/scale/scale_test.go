package scale

import (
	"image"
	"testing"

	"github.com/openmcu/mcu/codec"
)

func near(a, b codec.YUV, tol int) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.Y, b.Y) <= tol && d(a.U, b.U) <= tol && d(a.V, b.V) <= tol
}

// quadrants returns a w x h frame with four coloured quadrants: red, green / blue, white.
func quadrants(w, h int) (*codec.VideoFrame, [4]codec.YUV) {
	cols := [4]codec.YUV{codec.RGBToYUV(255, 0, 0), codec.RGBToYUV(0, 255, 0), codec.RGBToYUV(0, 0, 255), codec.RGBToYUV(255, 255, 255)}
	f := codec.NewVideoFrame(w, h)
	for i, c := range cols {
		x, y := (i%2)*w/2, (i/2)*h/2
		q := f.Sub(image.Rect(x, y, x+w/2, y+h/2))
		q.Fill(c)
	}
	return f, cols
}

func TestFitKeepsColoursAndGeometry(t *testing.T) {
	tests := []struct {
		name       string
		sw, sh     int
		dw, dh     int
		mode       Mode
		wantInside image.Rectangle // where the picture lands in dst (the rest is border)
	}{
		{"2:1 down", 640, 360, 320, 180, Crop, image.Rect(0, 0, 320, 180)},
		{"up", 160, 90, 640, 360, Crop, image.Rect(0, 0, 640, 360)},
		{"4:3 into 16:9 crop", 640, 480, 320, 180, Crop, image.Rect(0, 0, 320, 180)},
		{"4:3 into 16:9 letterbox", 640, 480, 320, 180, Letterbox, image.Rect(40, 0, 280, 180)},
		{"portrait into 16:9 letterbox", 360, 640, 320, 180, Letterbox, image.Rect(110, 0, 210, 180)},
		{"odd ratio stretch", 424, 240, 320, 180, Stretch, image.Rect(0, 0, 320, 180)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, cols := quadrants(tt.sw, tt.sh)
			// Draw into a view of a larger canvas, as the compositor does, and check nothing spills over.
			canvas := codec.NewVideoFrame(tt.dw+64, tt.dh+64)
			canvas.Fill(codec.RGBToYUV(255, 0, 255))
			view := canvas.Sub(image.Rect(32, 32, 32+tt.dw, 32+tt.dh))
			dst := &view
			if err := Fit(dst, src, tt.mode, Box, codec.Black); err != nil {
				t.Fatal(err)
			}
			in := tt.wantInside
			for i, c := range cols {
				// Sample the middle of each quadrant of the picture area; crop trims the edges only.
				qx := in.Min.X + (i%2)*in.Dx()/2 + in.Dx()/4
				qy := in.Min.Y + (i/2)*in.Dy()/2 + in.Dy()/4
				if got := dst.At(qx, qy); !near(got, c, 4) {
					t.Errorf("%dx%d->%dx%d quadrant %d at (%d,%d) = %v, want %v", tt.sw, tt.sh, tt.dw, tt.dh, i, qx, qy, got, c)
				}
			}
			if tt.mode == Letterbox && in.Min.X > 2 {
				if got := dst.At(in.Min.X/2, tt.dh/2); !near(got, codec.Black, 0) {
					t.Errorf("border at (%d,%d) = %v, want black", in.Min.X/2, tt.dh/2, got)
				}
			}
			if got := canvas.At(16, 16); !near(got, codec.RGBToYUV(255, 0, 255), 0) {
				t.Errorf("scaling spilled outside its rectangle: canvas(16,16) = %v", got)
			}
			if got := canvas.At(32+tt.dw+8, 32+tt.dh+8); !near(got, codec.RGBToYUV(255, 0, 255), 0) {
				t.Errorf("scaling spilled outside its rectangle: canvas corner = %v", got)
			}
		})
	}
}

func TestRects(t *testing.T) {
	tests := []struct {
		sw, sh, dw, dh int
		crop, box      image.Rectangle
	}{
		{640, 360, 320, 180, image.Rect(0, 0, 640, 360), image.Rect(0, 0, 320, 180)},
		{640, 480, 320, 180, image.Rect(0, 60, 640, 420), image.Rect(40, 0, 280, 180)},
		{360, 640, 320, 180, image.Rect(0, 218, 360, 420), image.Rect(110, 0, 210, 180)},
	}
	for _, tt := range tests {
		if got := CropRect(tt.sw, tt.sh, tt.dw, tt.dh); got != tt.crop {
			t.Errorf("CropRect(%d,%d,%d,%d) = %v, want %v", tt.sw, tt.sh, tt.dw, tt.dh, got, tt.crop)
		}
		if got := LetterboxRect(tt.sw, tt.sh, tt.dw, tt.dh); got != tt.box {
			t.Errorf("LetterboxRect(%d,%d,%d,%d) = %v, want %v", tt.sw, tt.sh, tt.dw, tt.dh, got, tt.box)
		}
	}
}

func TestScaleRejectsEmpty(t *testing.T) {
	if err := Scale(codec.NewVideoFrame(2, 2), &codec.VideoFrame{}, Box); err == nil {
		t.Fatal("scaling an empty frame did not fail")
	}
}

func BenchmarkFitTile(b *testing.B) {
	for _, tt := range []struct {
		name   string
		dw, dh int
	}{{"640x360_to_320x180", 320, 180}, {"640x360_to_424x240", 424, 240}} {
		b.Run(tt.name, func(b *testing.B) {
			src, _ := quadrants(640, 360)
			dst := codec.NewVideoFrame(tt.dw, tt.dh)
			b.ReportAllocs()
			for b.Loop() {
				if err := Fit(dst, src, Crop, Box, codec.Black); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
