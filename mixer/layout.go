package mixer

import (
	"fmt"
	"image"

	"github.com/openmcu/mcu/codec/scale"
)

// Layout is how a view arranges its tiles on the canvas.
type Layout int

const (
	// Grid gives every tile the same size, in the grid that makes 16:9 tiles largest (1, 2 side by side,
	// 2x2, 3x2, 3x3, 4x3, 4x4, ...), centred, the last row centred too.
	Grid Layout = iota
	// Speaker gives the first tile (the active speaker) most of the canvas and puts the others in a strip
	// along the bottom.
	Speaker
	// Presentation gives the first tile, a shared screen, most of the canvas, whole at its own aspect
	// ratio, and puts camera tiles in a strip beside or below it (see PresentationRects). Every receiver
	// but the presenter gets it while someone presents, whatever layout it chose; chosen when nobody
	// presents, it is the Grid.
	Presentation
)

// String returns "grid", "speaker" or "presentation".
func (l Layout) String() string {
	switch l {
	case Grid:
		return "grid"
	case Speaker:
		return "speaker"
	case Presentation:
		return "presentation"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// ParseLayout is the inverse of Layout.String.
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "grid":
		return Grid, nil
	case "speaker":
		return Speaker, nil
	case "presentation":
		return Presentation, nil
	}
	return 0, fmt.Errorf("unknown layout %q (want grid, speaker or presentation)", s)
}

// tileGap is the space between tiles in the layout. It is zero so that common tile sizes are exact
// fractions of the canvas (a 640x360 picture fills a 2x2 tile of 1280x720 with a plain copy, while scaling
// to 636x358 costs 300 us in libyuv); the compositor draws a thin border inside each tile instead.
const tileGap = 0

// tileBorder is the width of the border drawn inside each tile when there is more than one.
const tileBorder = 2

// Rects returns where n tiles go on a w x h canvas in layout l: n rectangles with even coordinates, in
// tile order. For Presentation the first tile is a 16:9 screen (PresentationRects places others). It is
// a pure function of its arguments.
func (l Layout) Rects(n, w, h int) []image.Rectangle {
	if n <= 0 {
		return nil
	}
	if l == Presentation {
		return PresentationRects(n-1, w, h, 16, 9)
	}
	if l == Speaker && n > 1 {
		return speakerRects(n, w, h)
	}
	return gridRects(n, image.Rect(0, 0, w, h))
}

// gridDims picks the columns and rows that make n 16:9 tiles largest in a w x h area. Sizes within 1 % of
// each other count as equal, and then more columns win (2 side by side, 3x2, 4x3), which suits wide screens.
func gridDims(n, w, h int) (cols, rows int) {
	best := -1.0
	for c := 1; c <= n; c++ {
		r := (n + c - 1) / c
		// The scale of a 16:9 tile that fits the cell.
		s := min(float64(w-(c-1)*tileGap)/float64(c)/16, float64(h-(r-1)*tileGap)/float64(r)/9)
		if s >= best*0.99 {
			best, cols, rows = max(s, best), c, r
		}
	}
	return cols, rows
}

// fit169 returns the largest 16:9 size within w x h.
func fit169(w, h int) (int, int) {
	if w*9 > h*16 {
		return h * 16 / 9, h
	}
	return w, w * 9 / 16
}

func gridRects(n int, area image.Rectangle) []image.Rectangle {
	w, h := area.Dx(), area.Dy()
	cols, rows := gridDims(n, w, h)
	// Tiles fill their cell; cells are as large as the area allows, and the grid is centred.
	tw, th := ((w-(cols-1)*tileGap)/cols)&^1, ((h-(rows-1)*tileGap)/rows)&^1
	if n == 1 {
		tw, th = w&^1, h&^1
	} else if cw, ch := fit169(tw, th); rows > 1 || cols > 1 {
		// Keep tiles at 16:9 so camera pictures are not cropped much; the spare space becomes margin.
		tw, th = cw&^1, ch&^1
	}
	gridH := rows*th + (rows-1)*tileGap
	y0 := area.Min.Y + (h-gridH)/2
	rects := make([]image.Rectangle, 0, n)
	for r := 0; r < rows; r++ {
		inRow := min(cols, n-r*cols)
		rowW := inRow*tw + (inRow-1)*tileGap
		x0 := area.Min.X + (w-rowW)/2
		y := y0 + r*(th+tileGap)
		for c := 0; c < inRow; c++ {
			x := x0 + c*(tw+tileGap)
			rects = append(rects, even(image.Rect(x, y, x+tw, y+th)))
		}
	}
	return rects
}

func speakerRects(n, w, h int) []image.Rectangle {
	stripH := (h / 5) &^ 1
	main := image.Rect(0, 0, w, h-stripH-tileGap)
	return append([]image.Rectangle{even(main)}, stripRects(n-1, image.Rect(0, h-stripH, w, h), false)...)
}

// stripRects returns k 16:9 tiles side by side along strip (one above the other if column), as large as
// the strip holds them, centred.
func stripRects(k int, strip image.Rectangle, column bool) []image.Rectangle {
	w, h := strip.Dx(), strip.Dy()
	var tw, th int
	if column {
		tw, th = fit169(w, (h-(k-1)*tileGap)/k)
	} else {
		tw, th = fit169((w-(k-1)*tileGap)/k, h)
	}
	tw, th = tw&^1, th&^1
	dx, dy := tw+tileGap, 0
	x0, y0 := strip.Min.X+(w-(k*tw+(k-1)*tileGap))/2, strip.Min.Y+(h-th)/2
	if column {
		dx, dy = 0, th+tileGap
		x0, y0 = strip.Min.X+(w-tw)/2, strip.Min.Y+(h-(k*th+(k-1)*tileGap))/2
	}
	rects := make([]image.Rectangle, 0, k)
	for i := range k {
		x, y := x0+i*dx, y0+i*dy
		rects = append(rects, even(image.Rect(x, y, x+tw, y+th)))
	}
	return rects
}

// PresentationRects returns where the Presentation layout puts a sw x sh screen and n camera tiles on a
// w x h canvas: first the screen's rectangle, then the n tiles. The strip of camera tiles goes along the
// right side or the bottom, whichever leaves the larger screen (the right side when equal, as for a
// 16:9 screen on a 16:9 canvas, so that 16:10 and 4:3 screens, which gain from it, do not move the
// strip); the screen gets the largest rectangle of its own aspect ratio in the rest, centred. Strip tiles
// are 16:9, a fifth of the height of the largest 16:9 picture the canvas holds (256x144 on 1280x720, as
// in the Speaker layout), so that PresentationStripLen of them fit; more are made smaller. A screen of unknown size (0x0) counts as
// 16:9, and with no tiles the screen has the whole canvas. Rectangles have even coordinates. It is a
// pure function of its arguments.
func PresentationRects(n, w, h, sw, sh int) []image.Rectangle {
	if sw <= 0 || sh <= 0 {
		sw, sh = 16, 9
	}
	if n <= 0 {
		return []image.Rectangle{scale.LetterboxRect(sw, sh, w, h)}
	}
	screen, strip, column := presentationSplit(w, h, sw, sh)
	return append([]image.Rectangle{screen}, stripRects(n, strip, column)...)
}

// PresentationStripLen returns how many camera tiles the Presentation layout's strip holds at full size
// on a w x h canvas with a sw x sh screen (see PresentationRects): 5 on a 16:9 canvas.
func PresentationStripLen(w, h, sw, sh int) int {
	if sw <= 0 || sh <= 0 {
		sw, sh = 16, 9
	}
	tw, th := presentationTile(w, h)
	_, strip, column := presentationSplit(w, h, sw, sh)
	if column {
		return max(strip.Dy()/(th+tileGap), 1)
	}
	return max(strip.Dx()/(tw+tileGap), 1)
}

// presentationTile is the size of a full-size tile of the Presentation layout's strip: 16:9, a fifth of
// the height of the largest 16:9 picture the canvas holds.
func presentationTile(w, h int) (tw, th int) {
	_, fh := fit169(w, h)
	th = max((fh/5)&^1, 2)
	return max((th*16/9)&^1, 2), th
}

// presentationSplit returns the screen's rectangle, the strip's, and whether the strip is a column on
// the right rather than a row along the bottom.
func presentationSplit(w, h, sw, sh int) (screen, strip image.Rectangle, column bool) {
	tw, th := presentationTile(w, h)
	right := scale.LetterboxRect(sw, sh, w-tw, h)
	below := scale.LetterboxRect(sw, sh, w, h-th)
	if below.Dx()*below.Dy() > right.Dx()*right.Dy() {
		return below, image.Rect(0, h-th, w, h), false
	}
	return right, image.Rect(w-tw, 0, w, h), true
}

func even(r image.Rectangle) image.Rectangle {
	r.Min.X &^= 1
	r.Min.Y &^= 1
	r.Max.X &^= 1
	r.Max.Y &^= 1
	return r
}
