package live

import (
	"fmt"
	"image"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/openmcu/mcu/codec"
)

// goMedium parses the Go Medium font once. The parsed font is immutable and safe to share; faces made
// from it are not.
var goMedium = sync.OnceValues(func() (*opentype.Font, error) { return opentype.Parse(gomedium.TTF) })

// newFace returns a face of Go Medium at a pixel size. A face belongs to one goroutine.
func newFace(px int) (font.Face, error) {
	f, err := goMedium()
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("font face %d px: %w", px, err)
	}
	return face, nil
}

// renderText draws text into an alpha mask, shortened with an ellipsis to at most maxW pixels. It returns
// nil for empty text.
func renderText(face font.Face, text string, maxW int) *image.Alpha {
	runes := []rune(text)
	for len(runes) > 0 && font.MeasureString(face, text).Ceil() > maxW {
		runes = runes[:len(runes)-1]
		text = string(runes) + "…"
	}
	if len(runes) == 0 {
		return nil
	}
	m := face.Metrics()
	img := image.NewAlpha(image.Rect(0, 0, font.MeasureString(face, text).Ceil(), (m.Ascent + m.Descent).Ceil()))
	d := font.Drawer{Dst: img, Src: image.Opaque, Face: face, Dot: fixed.Point26_6{Y: m.Ascent}}
	d.DrawString(text)
	return img
}

// darken dims the rectangle r of f towards black and grey, so that white text stands out on any colour.
// r is clipped to f and rounded to even coordinates.
func darken(f *codec.VideoFrame, r image.Rectangle) {
	r = r.Intersect(f.Bounds())
	r.Min.X, r.Min.Y, r.Max.X, r.Max.Y = r.Min.X&^1, r.Min.Y&^1, r.Max.X&^1, r.Max.Y&^1
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := f.Y[y*f.StrideY+r.Min.X : y*f.StrideY+r.Max.X]
		for i, v := range row {
			row[i] = byte(16 + (int(v)-16)*2/5)
		}
	}
	for y := r.Min.Y / 2; y < r.Max.Y/2; y++ {
		u := f.U[y*f.StrideU+r.Min.X/2 : y*f.StrideU+r.Max.X/2]
		v := f.V[y*f.StrideV+r.Min.X/2 : y*f.StrideV+r.Max.X/2]
		for i := range u {
			u[i] = byte(128 + (int(u[i])-128)*2/5)
			v[i] = byte(128 + (int(v[i])-128)*2/5)
		}
	}
}

// blendText blends white text (the mask's alpha) into f with its top-left corner at (x0, y0), clipped.
func blendText(f *codec.VideoFrame, mask *image.Alpha, x0, y0 int) {
	if mask == nil {
		return
	}
	w, h := mask.Rect.Dx(), mask.Rect.Dy()
	for y := range h {
		fy := y0 + y
		if fy < 0 || fy >= f.Height {
			continue
		}
		for x := range w {
			fx := x0 + x
			a := int(mask.Pix[y*mask.Stride+x])
			if a == 0 || fx < 0 || fx >= f.Width {
				continue
			}
			p := &f.Y[fy*f.StrideY+fx]
			*p = byte(int(*p) + (235-int(*p))*a/255)
			if fx%2 == 0 && fy%2 == 0 {
				u, v := &f.U[(fy/2)*f.StrideU+fx/2], &f.V[(fy/2)*f.StrideV+fx/2]
				*u = byte(int(*u) + (128-int(*u))*a/255)
				*v = byte(int(*v) + (128-int(*v))*a/255)
			}
		}
	}
}

// fillRect paints the rectangle r of f (clipped, rounded to even coordinates) with one colour.
func fillRect(f *codec.VideoFrame, r image.Rectangle, c codec.YUV) {
	r = r.Intersect(f.Bounds())
	r.Min.X, r.Min.Y, r.Max.X, r.Max.Y = r.Min.X&^1, r.Min.Y&^1, r.Max.X&^1, r.Max.Y&^1
	if r.Empty() {
		return
	}
	sub := f.Sub(r)
	sub.Fill(c)
}
