package mixer

import (
	"fmt"
	"image"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/openmcu/mcu/codec"
)

// textRenderer turns strings into anti-aliased alpha masks with the Go Medium font, caching one face per
// pixel size. It belongs to one goroutine.
type textRenderer struct {
	font  *opentype.Font
	faces map[int]font.Face
}

func newTextRenderer() (*textRenderer, error) {
	f, err := opentype.Parse(gomedium.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse label font: %w", err)
	}
	return &textRenderer{font: f, faces: make(map[int]font.Face)}, nil
}

func (t *textRenderer) face(px int) font.Face {
	if f, ok := t.faces[px]; ok {
		return f
	}
	f, err := opentype.NewFace(t.font, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil { // cannot happen for a valid font and positive size; fall back to no text
		return nil
	}
	t.faces[px] = f
	return f
}

// render draws text at a pixel size into an alpha mask no wider than maxW, shortening it with an
// ellipsis when it does not fit. It returns nil for empty text.
func (t *textRenderer) render(text string, px, maxW int) *image.Alpha {
	face := t.face(px)
	if face == nil || text == "" || maxW <= 0 {
		return nil
	}
	text = strings.TrimSpace(text)
	runes := []rune(text)
	for len(runes) > 0 && font.MeasureString(face, string(runes)).Ceil() > maxW {
		runes = runes[:len(runes)-1]
		text = strings.TrimSpace(string(runes)) + "…"
		if font.MeasureString(face, text).Ceil() <= maxW {
			break
		}
	}
	if len(runes) == 0 {
		return nil
	}
	m := face.Metrics()
	w := font.MeasureString(face, text).Ceil()
	h := (m.Ascent + m.Descent).Ceil()
	img := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: img, Src: image.Opaque, Face: face, Dot: fixed.Point26_6{Y: m.Ascent}}
	d.DrawString(text)
	return img
}

// drawLabel draws a name label (light text on a darkened box) into the bottom-left corner of tile.
func drawLabel(tile *codec.VideoFrame, mask *image.Alpha) {
	if mask == nil {
		return
	}
	pad := max(mask.Rect.Dy()/4, 2)
	bw, bh := mask.Rect.Dx()+2*pad, mask.Rect.Dy()+pad
	box := image.Rect(0, tile.Height-bh, bw, tile.Height).Intersect(tile.Bounds())
	darken(tile, box)
	blendText(tile, mask, box.Min.X+pad, box.Min.Y+pad/2)
}

// darken dims a rectangle of f towards black and grey, for text to stand out on any picture.
func darken(f *codec.VideoFrame, r image.Rectangle) {
	r = even(r.Intersect(f.Bounds()))
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
	w, h := mask.Rect.Dx(), mask.Rect.Dy()
	for y := 0; y < h; y++ {
		fy := y0 + y
		if fy < 0 || fy >= f.Height {
			continue
		}
		for x := 0; x < w; x++ {
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

// placeholderColour is the background of a tile whose participant has no picture yet.
var placeholderColour = codec.RGBToYUV(44, 48, 58)

// drawPlaceholder paints a tile for a participant without video: a dark tile with the name in its middle.
func drawPlaceholder(tile *codec.VideoFrame, mask *image.Alpha) {
	tile.Fill(placeholderColour)
	if mask == nil {
		return
	}
	blendText(tile, mask, (tile.Width-mask.Rect.Dx())/2, (tile.Height-mask.Rect.Dy())/2)
}
