package scale

import (
	"image"
	"math"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// areaReference shrinks the luma of src into a dw x dh plane by exact area averaging (fractional edges,
// float arithmetic): the ideal that AreaScaler approximates.
func areaReference(src *codec.VideoFrame, dw, dh int) []float64 {
	sw, sh := src.Width, src.Height
	cover := func(d, s, n int) (lo, hi float64) {
		f := float64(s) / float64(n)
		return float64(d) * f, float64(d+1) * f
	}
	tmp := make([]float64, dw*sh)
	for y := range sh {
		for x := range dw {
			a, b := cover(x, sw, dw)
			var sum float64
			for i := int(a); float64(i) < b && i < sw; i++ {
				sum += (math.Min(b, float64(i+1)) - math.Max(a, float64(i))) * float64(src.Y[y*src.StrideY+i])
			}
			tmp[y*dw+x] = sum / (b - a)
		}
	}
	out := make([]float64, dw*dh)
	for y := range dh {
		a, b := cover(y, sh, dh)
		for x := range dw {
			var sum float64
			for i := int(a); float64(i) < b && i < sh; i++ {
				sum += (math.Min(b, float64(i+1)) - math.Max(a, float64(i))) * tmp[i*dw+x]
			}
			out[y*dw+x] = sum / (b - a)
		}
	}
	return out
}

// lumaPSNR compares the luma of f with a reference plane, in dB.
func lumaPSNR(f *codec.VideoFrame, ref []float64) float64 {
	var se float64
	for y := range f.Height {
		for x := range f.Width {
			e := float64(f.Y[y*f.StrideY+x]) - ref[y*f.Width+x]
			se += e * e
		}
	}
	return 10 * math.Log10(255*255/(se/float64(f.Width*f.Height)))
}

// strokes returns a white w x h picture with thin dark strokes, like small text: one-pixel vertical and
// horizontal lines every 3 and 5 pixels.
func strokes(w, h int) *codec.VideoFrame {
	f := codec.NewVideoFrame(w, h)
	f.Fill(codec.RGBToYUV(255, 255, 255))
	for y := range h {
		for x := range w {
			if x%3 == 0 || y%5 == 0 {
				f.Y[y*f.StrideY+x] = 16
			}
		}
	}
	return f
}

func TestAreaScalerAveragesTheCoveredArea(t *testing.T) {
	tests := []struct {
		sw, sh, dw, dh int
		minPSNR        float64 // against the exact area average
	}{
		{1920, 1080, 1024, 576, 40}, // 1.875:1, the presentation layout's screen on a 1280x720 canvas
		{1920, 1080, 1280, 720, 30}, // 1.5:1
		{1440, 900, 1024, 640, 30},  // a 16:10 screen
		{1920, 1080, 960, 540, 50},  // 2:1: Box is exact already
		{1920, 1080, 640, 360, 30},  // 3:1: Box
	}
	for _, tt := range tests {
		src := strokes(tt.sw, tt.sh)
		ref := areaReference(src, tt.dw, tt.dh)
		var a AreaScaler
		dst := codec.NewVideoFrame(tt.dw, tt.dh)
		if err := a.Scale(dst, src); err != nil {
			t.Fatal(err)
		}
		box := codec.NewVideoFrame(tt.dw, tt.dh)
		if err := Scale(box, src, Box); err != nil {
			t.Fatal(err)
		}
		got, boxPSNR := lumaPSNR(dst, ref), lumaPSNR(box, ref)
		t.Logf("%dx%d -> %dx%d: AreaScaler %.1f dB, Box %.1f dB from the exact area average", tt.sw, tt.sh, tt.dw, tt.dh, got, boxPSNR)
		if got < tt.minPSNR || got < boxPSNR-0.5 {
			t.Errorf("%dx%d -> %dx%d: AreaScaler is %.1f dB from the exact area average (Box %.1f dB), want at least %.0f dB and no worse than Box",
				tt.sw, tt.sh, tt.dw, tt.dh, got, boxPSNR, tt.minPSNR)
		}
	}
}

func TestAreaScalerFitLetterboxesWithoutAllocating(t *testing.T) {
	src, cols := quadrants(1440, 1080) // 4:3
	canvas := codec.NewVideoFrame(1280, 720)
	view := canvas.Sub(image.Rect(0, 0, 1024, 720))
	var a AreaScaler
	fit := func() {
		if err := a.Fit(&view, src, Letterbox, codec.Black); err != nil {
			t.Fatal(err)
		}
	}
	fit()
	in := LetterboxRect(1440, 1080, 1024, 720) // 960x720 at x=32
	for i, c := range cols {
		qx := in.Min.X + (i%2)*in.Dx()/2 + in.Dx()/4
		qy := in.Min.Y + (i/2)*in.Dy()/2 + in.Dy()/4
		if got := view.At(qx, qy); !near(got, c, 4) {
			t.Errorf("quadrant %d at (%d,%d) = %v, want %v", i, qx, qy, got, c)
		}
	}
	if got := view.At(in.Min.X/2, 360); !near(got, codec.Black, 0) {
		t.Errorf("letterbox bar = %v, want the border colour", got)
	}
	if n := testing.AllocsPerRun(5, fit); n != 0 {
		t.Errorf("Fit allocates %v times per call at a steady size, want 0", n)
	}
}

func BenchmarkAreaScaler(b *testing.B) {
	src := strokes(1920, 1080)
	dst := codec.NewVideoFrame(1024, 576)
	var a AreaScaler
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Scale(dst, src); err != nil {
			b.Fatal(err)
		}
	}
}
