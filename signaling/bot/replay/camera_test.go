package replay

import (
	"bytes"
	"image"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
)

func TestParseContent(t *testing.T) {
	for _, c := range []Content{Noise, Camera} {
		if got, err := ParseContent(c.String()); err != nil || got != c {
			t.Errorf("ParseContent(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	if _, err := ParseContent("face"); err == nil {
		t.Error(`ParseContent("face"): want an error`)
	}
	if (Config{}).Content != Noise {
		t.Error("the zero Config's content is not Noise")
	}
}

// cameraColours are colours of every kind: dark and light, saturated and grey.
func cameraColours() []codec.YUV {
	out := []codec.YUV{codec.Black, {Y: 235, U: 128, V: 128}, {Y: 126, U: 128, V: 128}}
	for _, c := range codectest.Colors() {
		out = append(out, c.YUV())
	}
	return out
}

// drawCamera draws frame i of n of the camera scene at the size of f, in a frame with padded strides.
func drawCamera(s *cameraScene, i, n int) *codec.VideoFrame {
	f := paddedFrame(s.w, s.h)
	s.draw(f, i, n)
	return f
}

// paddedFrame is a frame whose rows are longer than its width, as an encoder's input picture may be.
func paddedFrame(w, h int) *codec.VideoFrame {
	cw, ch := (w+1)/2, (h+1)/2
	sy, sc := w+32, cw+16
	return &codec.VideoFrame{Width: w, Height: h, Y: make([]byte, sy*h), U: make([]byte, sc*ch), V: make([]byte, sc*ch),
		StrideY: sy, StrideU: sc, StrideV: sc}
}

// TestCameraDeterministic: the same scene draws the same frame twice, and another scene of the same colour
// draws it too; frames differ from one another.
func TestCameraDeterministic(t *testing.T) {
	colour := codectest.NamedColor{Name: "orange", R: 230, G: 120, B: 20}.YUV()
	a, b := newCameraScene(320, 180, colour), newCameraScene(320, 180, colour)
	for _, i := range []int{0, 7, 59} {
		f1, f2, f3 := drawCamera(a, i, 60), drawCamera(a, i, 60), drawCamera(b, i, 60)
		if !bytes.Equal(f1.Y, f2.Y) || !bytes.Equal(f1.U, f2.U) || !bytes.Equal(f1.V, f2.V) ||
			!bytes.Equal(f1.Y, f3.Y) || !bytes.Equal(f1.U, f3.U) || !bytes.Equal(f1.V, f3.V) {
			t.Errorf("frame %d drawn twice differs", i)
		}
	}
	if bytes.Equal(drawCamera(a, 0, 60).Y, drawCamera(a, 1, 60).Y) {
		t.Error("frames 0 and 1 are equal")
	}
}

// TestCameraColourDominates: the mean of every frame is within a few levels of the participant's colour
// and most of the picture is near it, for dark, light and saturated colours alike.
func TestCameraColourDominates(t *testing.T) {
	const w, h, n = 640, 360, 60
	for _, colour := range cameraColours() {
		s := newCameraScene(w, h, colour)
		for _, i := range []int{0, 15, 30, 45} {
			f := drawCamera(s, i, n)
			if got := f.Mean(f.Bounds()); !codectest.Near(got, colour, 8) {
				t.Errorf("colour %v frame %d: mean %v, want within 8 of the colour", colour, i, got)
			}
			near := 0
			for y := range h {
				for x := range w {
					cy, cu, cv := f.Y[y*f.StrideY+x], f.U[y/2*f.StrideU+x/2], f.V[y/2*f.StrideV+x/2]
					if codectest.Near(codec.YUV{Y: cy, U: cu, V: cv}, colour, 20) {
						near++
					}
				}
			}
			if share := float64(near) / (w * h); share < 0.65 {
				t.Errorf("colour %v frame %d: %.0f%% of the pixels within 20 of the colour, want at least 65%%",
					colour, i, 100*share)
			}
		}
	}
}

// TestCameraBackgroundStill: from one frame to the next, only the subject's region changes beyond the
// sensor noise (±1 a frame, so 2 at most between two frames), and it does change.
func TestCameraBackgroundStill(t *testing.T) {
	const w, h, n = 640, 360, 60
	for _, colour := range []codec.YUV{codec.Black, {Y: 200, U: 60, V: 150}, {Y: 90, U: 170, V: 100}} {
		s := newCameraScene(w, h, colour)
		for i := range n {
			j := (i + 1) % n // through the loop's wrap
			a, b := drawCamera(s, i, n), drawCamera(s, j, n)
			moving := s.bounds(i, n).Union(s.bounds(j, n))
			if moving.Dx()*moving.Dy() > w*h/2 {
				t.Fatalf("frame %d: the subject's region %v is over half the picture", i, moving)
			}
			changed, outside := 0, 0
			for y := range h {
				for x := range w {
					d := int(a.Y[y*a.StrideY+x]) - int(b.Y[y*b.StrideY+x])
					if d > 2 || d < -2 {
						changed++
						if !image.Pt(x, y).In(moving) {
							outside++
						}
					}
				}
			}
			for y := range h / 2 {
				for x := range w / 2 {
					if image.Pt(2*x, 2*y).In(moving) {
						continue
					}
					if a.U[y*a.StrideU+x] != b.U[y*b.StrideU+x] || a.V[y*a.StrideV+x] != b.V[y*b.StrideV+x] {
						outside++
					}
				}
			}
			if outside > 0 {
				t.Errorf("colour %v frames %d to %d: %d samples changed outside the subject's region %v",
					colour, i, j, outside, moving)
			}
			if changed < 200 {
				t.Errorf("colour %v frames %d to %d: %d luma samples changed, want the subject to move", colour, i, j, changed)
			}
		}
	}
}
