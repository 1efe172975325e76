package mixer

import (
	"image"
	"testing"
)

func TestGridDims(t *testing.T) {
	tests := []struct{ n, cols, rows int }{
		{1, 1, 1}, {2, 2, 1}, {3, 2, 2}, {4, 2, 2}, {5, 3, 2}, {6, 3, 2}, {7, 3, 3}, {9, 3, 3}, {10, 4, 3}, {12, 4, 3}, {13, 4, 4}, {16, 4, 4}, {25, 5, 5},
	}
	for _, tt := range tests {
		if c, r := gridDims(tt.n, 1280, 720); c != tt.cols || r != tt.rows {
			t.Errorf("gridDims(%d, 1280x720) = %dx%d, want %dx%d", tt.n, c, r, tt.cols, tt.rows)
		}
	}
}

func TestRectsAreInsideDisjointAndEven(t *testing.T) {
	for _, l := range []Layout{Grid, Speaker} {
		for _, size := range [][2]int{{1280, 720}, {640, 360}, {320, 180}, {720, 1280}} {
			for n := 1; n <= 16; n++ {
				rects := l.Rects(n, size[0], size[1])
				if len(rects) != n {
					t.Fatalf("%v.Rects(%d, %v) gave %d rects", l, n, size, len(rects))
				}
				canvas := image.Rect(0, 0, size[0], size[1])
				for i, r := range rects {
					if !r.In(canvas) || r.Dx() < 16 || r.Dy() < 8 {
						t.Errorf("%v.Rects(%d, %v)[%d] = %v: outside the canvas or too small", l, n, size, i, r)
					}
					if r.Min.X%2 != 0 || r.Min.Y%2 != 0 || r.Max.X%2 != 0 || r.Max.Y%2 != 0 {
						t.Errorf("%v.Rects(%d, %v)[%d] = %v: odd coordinates", l, n, size, i, r)
					}
					for j := range i {
						if r.Overlaps(rects[j]) {
							t.Errorf("%v.Rects(%d, %v): tiles %d %v and %d %v overlap", l, n, size, i, r, j, rects[j])
						}
					}
				}
			}
		}
	}
}

func TestSpeakerLayoutMainTileDominates(t *testing.T) {
	rects := Speaker.Rects(5, 1280, 720)
	main := rects[0].Dx() * rects[0].Dy()
	for i, r := range rects[1:] {
		if a := r.Dx() * r.Dy(); a*4 > main {
			t.Errorf("strip tile %d %v is more than a quarter of the main tile %v", i+1, r, rects[0])
		}
		if r.Min.Y < rects[0].Max.Y {
			t.Errorf("strip tile %d %v is not below the main tile %v", i+1, r, rects[0])
		}
	}
}
