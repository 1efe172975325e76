package mixer

import (
	"fmt"
	"image"
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
)

// String returns "grid" or "speaker".
func (l Layout) String() string {
	switch l {
	case Grid:
		return "grid"
	case Speaker:
		return "speaker"
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
	}
	return 0, fmt.Errorf("unknown layout %q (want grid or speaker)", s)
}

// tileGap is the space between tiles in the layout. It is zero so that common tile sizes are exact
// fractions of the canvas (a 640x360 picture fills a 2x2 tile of 1280x720 with a plain copy, while scaling
// to 636x358 costs 300 us in libyuv); the compositor draws a thin border inside each tile instead.
const tileGap = 0

// tileBorder is the width of the border drawn inside each tile when there is more than one.
const tileBorder = 2

// Rects returns where n tiles go on a w x h canvas in layout l: n rectangles with even coordinates, in
// tile order. It is a pure function of its arguments.
func (l Layout) Rects(n, w, h int) []image.Rectangle {
	if n <= 0 {
		return nil
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
	rects := []image.Rectangle{even(main)}
	k := n - 1
	// Strip tiles are 16:9, as many as fit side by side; the strip is centred.
	tw, th := fit169((w-(k-1)*tileGap)/k, stripH)
	tw, th = tw&^1, th&^1
	rowW := k*tw + (k-1)*tileGap
	x0 := (w - rowW) / 2
	y := h - stripH + (stripH-th)/2
	for i := 0; i < k; i++ {
		x := x0 + i*(tw+tileGap)
		rects = append(rects, even(image.Rect(x, y, x+tw, y+th)))
	}
	return rects
}

func even(r image.Rectangle) image.Rectangle {
	r.Min.X &^= 1
	r.Min.Y &^= 1
	r.Max.X &^= 1
	r.Max.Y &^= 1
	return r
}
