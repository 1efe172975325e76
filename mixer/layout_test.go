package mixer

import (
	"fmt"
	"image"
	"testing"

	"github.com/openmcu/mcu/codec/scale"
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
	for _, l := range []Layout{Grid, Speaker, Presentation} {
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

func TestParseLayout(t *testing.T) {
	for _, l := range []Layout{Grid, Speaker, Presentation} {
		if got, err := ParseLayout(l.String()); err != nil || got != l {
			t.Errorf("ParseLayout(%q) = %v, %v; want %v", l.String(), got, err, l)
		}
	}
	if _, err := ParseLayout("mosaic"); err == nil {
		t.Error(`ParseLayout("mosaic") succeeded`)
	}
}

// TestPresentationRects checks the presentation geometry for several screens, canvases and numbers of
// camera tiles: the screen keeps its aspect ratio and is as large as either place for the strip allows,
// strip tiles are 16:9 and full size while they fit, everything is even, inside the canvas and disjoint.
func TestPresentationRects(t *testing.T) {
	screens := []struct {
		name   string
		sw, sh int
	}{{"16:9", 1920, 1080}, {"4:3", 1440, 1080}, {"16:10", 1440, 900}, {"21:9", 2560, 1080}, {"portrait", 1080, 1920}, {"unknown", 0, 0}}
	for _, size := range [][2]int{{1280, 720}, {640, 360}} {
		w, h := size[0], size[1]
		canvas := image.Rect(0, 0, w, h)
		tw, th := w/5, h/5 // 256x144 and 128x72: a fifth of a 16:9 canvas
		if got := PresentationStripLen(w, h, 1920, 1080); got != 5 {
			t.Errorf("PresentationStripLen(%dx%d, 16:9 screen) = %d, want 5", w, h, got)
		}
		for _, sc := range screens {
			sw, sh := sc.sw, sc.sh
			if sw == 0 {
				sw, sh = 16, 9
			}
			fit := PresentationStripLen(w, h, sc.sw, sc.sh)
			// The screen is at least as large as with the strip in either place, and as large as the
			// canvas without a strip.
			var bestArea int
			for _, area := range [][2]int{{w - tw, h}, {w, h - th}} {
				r := scale.LetterboxRect(sw, sh, area[0], area[1])
				bestArea = max(bestArea, r.Dx()*r.Dy())
			}
			for n := 0; n <= 7; n++ {
				rects := PresentationRects(n, w, h, sc.sw, sc.sh)
				where := fmt.Sprintf("PresentationRects(%d, %dx%d, %s screen)", n, w, h, sc.name)
				if len(rects) != n+1 {
					t.Fatalf("%s gave %d rects, want %d", where, len(rects), n+1)
				}
				for i, r := range rects {
					if !r.In(canvas) || r.Empty() {
						t.Errorf("%s[%d] = %v: outside the canvas or empty", where, i, r)
					}
					if r.Min.X%2 != 0 || r.Min.Y%2 != 0 || r.Max.X%2 != 0 || r.Max.Y%2 != 0 {
						t.Errorf("%s[%d] = %v: odd coordinates", where, i, r)
					}
					for j := range i {
						if r.Overlaps(rects[j]) {
							t.Errorf("%s: %d %v and %d %v overlap", where, i, r, j, rects[j])
						}
					}
				}
				scr := rects[0]
				// The screen's aspect ratio, within the rounding to even sizes.
				if d := scr.Dx()*sh - scr.Dy()*sw; d < -2*max(sw, sh) || d > 2*max(sw, sh) {
					t.Errorf("%s: screen %v is %dx%d, not the screen's %d:%d", where, scr, scr.Dx(), scr.Dy(), sw, sh)
				}
				want := bestArea
				if n == 0 {
					full := scale.LetterboxRect(sw, sh, w, h)
					want = full.Dx() * full.Dy()
				}
				if a := scr.Dx() * scr.Dy(); a != want {
					t.Errorf("%s: screen %v has %d pixels, want %d (the largest the layout allows)", where, scr, a, want)
				}
				for i, r := range rects[1:] {
					if d := r.Dx()*9 - r.Dy()*16; d < -32 || d > 32 {
						t.Errorf("%s: strip tile %d %v is not 16:9", where, i, r)
					}
					if n <= fit && (r.Dx() < tw-2 || r.Dy() < th-2) {
						t.Errorf("%s: strip tile %d %v is smaller than %dx%d though %d fit", where, i, r, tw, th, fit)
					}
				}
			}
		}
	}
	// Where the strip goes: beside screens as wide as the canvas or narrower, below wider ones.
	for _, tt := range []struct {
		sw, sh int
		screen image.Rectangle
	}{
		{1920, 1080, image.Rect(0, 72, 1024, 648)}, // 16:9: a tie, the strip goes right
		{1440, 1080, image.Rect(32, 0, 992, 720)},  // 4:3: full height, strip right
		{1440, 900, image.Rect(0, 40, 1024, 680)},  // 16:10
		{2560, 1080, image.Rect(0, 18, 1280, 558)}, // 21:9: full width, strip below
	} {
		if got := PresentationRects(3, 1280, 720, tt.sw, tt.sh)[0]; got != tt.screen {
			t.Errorf("PresentationRects(3, 1280x720, %dx%d screen) puts the screen at %v, want %v", tt.sw, tt.sh, got, tt.screen)
		}
	}
}

// TestPinRects checks the geometry a pinned camera gets (the Speaker layout's): the pinned one large
// across the top, the others in 16:9 tiles below, for several numbers of others.
func TestPinRects(t *testing.T) {
	for _, size := range [][2]int{{1280, 720}, {640, 360}} {
		w, h := size[0], size[1]
		for n := 2; n <= 9; n++ {
			rects := Speaker.Rects(n, w, h)
			if main := rects[0]; main != image.Rect(0, 0, w, h-h/5) {
				t.Errorf("pin with %d others on %dx%d: main tile %v, want the canvas above a strip of a fifth", n-1, w, h, main)
			}
			for i, r := range rects[1:] {
				if d := r.Dx()*9 - r.Dy()*16; d < -32 || d > 32 || r.Min.Y < h-h/5 {
					t.Errorf("pin with %d others on %dx%d: strip tile %d %v is not a 16:9 tile below the main one", n-1, w, h, i, r)
				}
			}
		}
	}
}
