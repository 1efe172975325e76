package replay

import (
	"fmt"
	"image"
	"math"

	"github.com/openmcu/mcu/codec"
)

// Content is what a Clip's video shows.
type Content uint8

const (
	// Noise (the default) is the colour under luma noise in 4x4 blocks that changes every frame, with a
	// small grey block travelling round the border: the hardest content there is for an encoder.
	Noise Content = iota
	// Camera looks like a webcam on a person at a desk: a still wall in the colour (a soft gradient with a
	// fixed texture, a window frame, a shelf with books, the desk's edge), a head-and-shoulders subject in
	// a contrasting tone that sways left and right and nods, smoothly, once per loop, with fine texture on
	// it, and a little sensor noise (luma ±1, per pixel, new every frame). The colour dominates the
	// picture (its mean is within a few levels of it) but the centre shows the subject.
	Camera
)

// String returns the name ParseContent reads: "noise" or "camera".
func (c Content) String() string {
	switch c {
	case Noise:
		return "noise"
	case Camera:
		return "camera"
	}
	return fmt.Sprintf("Content(%d)", uint8(c))
}

// ParseContent reads a Content's name: "noise" or "camera".
func ParseContent(s string) (Content, error) {
	switch s {
	case "noise":
		return Noise, nil
	case "camera":
		return Camera, nil
	}
	return 0, fmt.Errorf("content %q: want noise or camera", s)
}

// cameraScene draws the Camera content of one colour and size. The still background is drawn once, in
// newCameraScene; draw copies it and adds the subject and the sensor noise.
type cameraScene struct {
	w, h   int
	colour codec.YUV
	bg     *codec.VideoFrame
	// deskTop is the first row of the desk, which hides the subject's lower body: the subject is drawn
	// above it only.
	deskTop int
	// The subject's tones: face, hair (and eyes), mouth, neck and shirt luma; face and shirt chroma.
	face, hair, mouth, neck, shirt uint8
	faceU, faceV                   uint8
	shirtU, shirtV                 uint8
}

func clampY(v float64) uint8 { return uint8(min(max(math.Round(v), 16), 235)) }
func clampC(v float64) uint8 { return uint8(min(max(math.Round(v), 16), 240)) }

// towards moves chroma c the fraction k of the way to neutral (128), or away from it for a negative k.
func towards(c uint8, k float64) uint8 { return clampC(128 + (float64(c)-128)*(1-k)) }

// hash2 is a fixed pseudo-random value in [0, 1) for the point (x, y) and seed.
func hash2(x, y int, seed uint64) float64 {
	v := uint64(uint32(x))*0x9e3779b97f4a7c15 ^ uint64(uint32(y))*0xc2b2ae3d27d4eb4f ^ seed
	v ^= v >> 31
	v *= 0xbf58476d1ce4e5b9
	v ^= v >> 29
	return float64(v>>11) / (1 << 53)
}

func newCameraScene(w, h int, colour codec.YUV) *cameraScene {
	s := &cameraScene{w: w, h: h, colour: colour, bg: codec.NewVideoFrame(w, h)}
	y0 := float64(colour.Y)
	// The subject contrasts with the wall: a lighter face on a dark wall, a darker one on a light wall;
	// the shirt goes the other way, so that the picture's mean stays near the colour.
	sign := 1.0
	if colour.Y >= 126 {
		sign = -1
	}
	s.face = clampY(y0 + sign*50)
	s.hair = clampY(float64(s.face) - 60)
	s.mouth = clampY(float64(s.face) - 28)
	s.neck = clampY(float64(s.face) - 10)
	s.shirt = clampY(y0 - sign*30)
	s.faceU, s.faceV = towards(colour.U, 0.4), towards(colour.V, 0.4)
	s.shirtU, s.shirtV = towards(colour.U, -0.1), towards(colour.V, -0.1)
	s.deskTop = int(math.Round(float64(h)*0.86)) &^ 1

	bg := s.bg
	// The wall: the colour, lit from the top left, with a fixed fine texture (plaster) of ±2.
	bg.Fill(colour)
	for y := range h {
		for x := range w {
			g := 14*(0.5-float64(y)/float64(h))*2 + 5*(0.5-float64(x)/float64(w))*2
			g += math.Floor(hash2(x, y, 1)*5) - 2
			bg.Y[y*bg.StrideY+x] = clampY(y0 + g)
		}
	}
	px := func(f float64) int { return int(math.Round(f*float64(w))) &^ 1 }
	py := func(f float64) int { return int(math.Round(f*float64(h))) &^ 1 }
	// A window on the left: a bright, paler pane behind a frame and a cross bar.
	win := image.Rect(px(0.05), py(0.08), px(0.29), py(0.54))
	frame := max(4, w/120&^1)
	dark := clampY(y0 - 34)
	s.rect(win, dark, colour.U, colour.V)
	pane := win.Inset(frame)
	s.rect(pane, clampY(y0+26), towards(colour.U, 0.35), towards(colour.V, 0.35))
	midX, midY := (win.Min.X+win.Max.X)/2&^1, (win.Min.Y+win.Max.Y)/2&^1
	s.rect(image.Rect(midX-frame/2, win.Min.Y, midX+frame/2, win.Max.Y), dark, colour.U, colour.V)
	s.rect(image.Rect(win.Min.X, midY-frame/2, win.Max.X, midY+frame/2), dark, colour.U, colour.V)
	// A shelf on the right with a row of books on it and two brackets under it.
	shelfY := py(0.40)
	board := image.Rect(px(0.72), shelfY, px(0.97), shelfY+max(6, h/60&^1))
	s.rect(board, clampY(y0-40), colour.U, colour.V)
	for _, bx := range []float64{0.75, 0.92} {
		s.rect(image.Rect(px(bx), board.Max.Y, px(bx)+max(4, w/160&^1), board.Max.Y+py(0.06)), clampY(y0-40), colour.U, colour.V)
	}
	x := px(0.735)
	for k := 0; x < board.Max.X-px(0.02); k++ {
		bw := (px(0.018) + 2*int(hash2(k, 0, 2)*4)) &^ 1
		bh := (py(0.09) + int(hash2(k, 1, 2)*float64(py(0.06)))) &^ 1
		dy := []float64{-26, 18, -12, 30, -20, 8}[k%6]
		du, dv := hash2(k, 2, 2)*24-12, hash2(k, 3, 2)*24-12
		s.rect(image.Rect(x, shelfY-bh, min(x+bw, board.Max.X), shelfY), clampY(y0+dy),
			clampC(float64(colour.U)+du), clampC(float64(colour.V)+dv))
		x += bw + 2
	}
	// The desk, at the bottom, with a lit edge.
	s.rect(image.Rect(0, s.deskTop, w, h), clampY(y0-20), colour.U, colour.V)
	s.rect(image.Rect(0, s.deskTop, w, s.deskTop+2), clampY(y0+16), colour.U, colour.V)
	return s
}

// rect paints r (even corners) of the background in one colour, keeping the wall's texture.
func (s *cameraScene) rect(r image.Rectangle, y, u, v uint8) {
	bg := s.bg
	r = r.Intersect(bg.Bounds())
	for yy := r.Min.Y; yy < r.Max.Y; yy++ {
		for xx := r.Min.X; xx < r.Max.X; xx++ {
			bg.Y[yy*bg.StrideY+xx] = clampY(float64(y) + math.Floor(hash2(xx, yy, 1)*3) - 1)
		}
	}
	for yy := r.Min.Y / 2; yy < (r.Max.Y+1)/2; yy++ {
		for xx := r.Min.X / 2; xx < (r.Max.X+1)/2; xx++ {
			bg.U[yy*bg.StrideU+xx], bg.V[yy*bg.StrideV+xx] = u, v
		}
	}
}

// subject is where the subject is in one frame: the head's centre and radii, the torso's centre line.
type subject struct {
	hx, hy, rx, ry float64 // head
	tx, ty         float64 // torso: centre x, top y
	top, bottom    float64 // torso half-width at its top and at the frame's bottom
	neck           float64 // neck half-width
}

// pose returns the subject of frame i of n: the body sways left and right once per loop and the head a
// little more, and nods twice per loop; both are smooth and the loop's wrap is seamless.
func (s *cameraScene) pose(i, n int) subject {
	w, h := float64(s.w), float64(s.h)
	ph := 2 * math.Pi * float64(i) / float64(n)
	sway := math.Sin(ph)
	rx, ry := h*0.115, h*0.15
	return subject{
		hx: w/2 + w*0.06*sway, hy: h*0.36 + h*0.018*math.Sin(2*ph), rx: rx, ry: ry,
		tx: w/2 + w*0.042*sway, ty: h*0.36 + ry*1.02,
		top: rx * 1.75, bottom: rx * 2.9, neck: rx * 0.42,
	}
}

// bounds returns the rectangle, in luma pixels, that the subject of frame i of n may touch.
func (s *cameraScene) bounds(i, n int) image.Rectangle {
	p := s.pose(i, n)
	hw := max(p.rx, p.bottom)
	x0 := math.Floor(min(p.hx-p.rx, p.tx-hw)) - 2
	x1 := math.Ceil(max(p.hx+p.rx, p.tx+hw)) + 2
	y0 := math.Floor(p.hy-p.ry) - 2
	r := image.Rect(int(x0)&^1, int(y0)&^1, (int(x1)+1)&^1, s.deskTop)
	return r.Intersect(image.Rect(0, 0, s.w, s.h))
}

// sample returns the subject's coverage (0..1) at the point (x, y) (a sample's centre in luma pixel
// units) and its luma, chroma there, each layer blended over the ones behind it; a zero alpha leaves the
// background.
func (s *cameraScene) sample(p *subject, x, y float64, ix, iy int) (alpha, luma float64, u, v float64) {
	// Torso (shirt): a trapezoid from its top down to the frame's bottom, with a knit texture that moves
	// with it.
	if y >= p.ty-1 {
		hw := p.top + (p.bottom-p.top)*(y-p.ty)/(float64(s.h)-p.ty)
		a := clamp01(min(x-(p.tx-hw), (p.tx+hw)-x, y-p.ty) + 0.5)
		if a > 0 {
			tex := 4 * (hash2((ix-int(math.Round(p.tx)))/2, iy/2, 3)*2 - 1)
			alpha, luma, u, v = a, float64(s.shirt)+tex, float64(s.shirtU), float64(s.shirtV)
		}
	}
	// Neck: a rectangle from inside the head to the torso.
	if y >= p.hy && y <= p.ty+2 {
		a := clamp01(min(x-(p.hx-p.neck), (p.hx+p.neck)-x) + 0.5)
		if a > 0 {
			alpha, luma = blend(alpha, luma, a, float64(s.neck))
			u, v = float64(s.faceU), float64(s.faceV)
		}
	}
	// Head: an ellipse with soft edges, hair on top, two eyes and a mouth, and skin texture.
	dx, dy := (x-p.hx)/p.rx, (y-p.hy)/p.ry
	f := dx*dx + dy*dy
	if f < 1.3 {
		gx, gy := 2*(x-p.hx)/(p.rx*p.rx), 2*(y-p.hy)/(p.ry*p.ry)
		d := (f - 1) / max(math.Hypot(gx, gy), 1e-6) // approximate distance to the edge, in pixels
		a := clamp01(0.5 - d)
		if a > 0 {
			tone := float64(s.face)
			switch {
			case dy < -0.42+0.12*dx*dx:
				tone = float64(s.hair)
			case math.Abs(math.Abs(dx)-0.38) < 0.1 && math.Abs(dy+0.08) < 0.06:
				tone = float64(s.hair)
			case math.Abs(dx) < 0.3 && math.Abs(dy-0.5) < 0.035:
				tone = float64(s.mouth)
			}
			tone += 2 * (hash2(ix-int(math.Round(p.hx)), iy-int(math.Round(p.hy)), 4)*2 - 1)
			alpha, luma = blend(alpha, luma, a, tone)
			u, v = float64(s.faceU), float64(s.faceV)
		}
	}
	return alpha, luma, u, v
}

// blend puts a layer of alpha a and value y over one of alpha a0 and value y0.
func blend(a0, y0, a, y float64) (float64, float64) {
	out := a + a0*(1-a)
	if out == 0 {
		return 0, 0
	}
	return out, (y*a + y0*a0*(1-a)) / out
}

func clamp01(v float64) float64 { return min(max(v, 0), 1) }

// draw paints frame i of n into f (of the scene's size).
func (s *cameraScene) draw(f *codec.VideoFrame, i, n int) {
	bg := s.bg
	for y := range s.h {
		copy(f.Y[y*f.StrideY:y*f.StrideY+s.w], bg.Y[y*bg.StrideY:])
	}
	cw, ch := (s.w+1)/2, (s.h+1)/2
	for y := range ch {
		copy(f.U[y*f.StrideU:y*f.StrideU+cw], bg.U[y*bg.StrideU:])
		copy(f.V[y*f.StrideV:y*f.StrideV+cw], bg.V[y*bg.StrideV:])
	}
	p := s.pose(i, n)
	r := s.bounds(i, n)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			a, l, _, _ := s.sample(&p, float64(x)+0.5, float64(y)+0.5, x, y)
			if a > 0 {
				o := &f.Y[y*f.StrideY+x]
				*o = clampY(float64(*o)*(1-a) + l*a)
			}
		}
	}
	for y := r.Min.Y / 2; y < r.Max.Y/2; y++ {
		for x := r.Min.X / 2; x < r.Max.X/2; x++ {
			a, _, u, v := s.sample(&p, float64(2*x+1), float64(2*y+1), 2*x, 2*y)
			if a > 0 {
				ou, ov := &f.U[y*f.StrideU+x], &f.V[y*f.StrideV+x]
				*ou = clampC(float64(*ou)*(1-a) + u*a)
				*ov = clampC(float64(*ov)*(1-a) + v*a)
			}
		}
	}
	// Sensor noise: -1, 0, 0 or +1 on every luma sample, new every frame.
	st := uint64(i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	var bits uint64
	left := 0
	for y := range s.h {
		row := f.Y[y*f.StrideY : y*f.StrideY+s.w]
		for x := range row {
			if left == 0 {
				st ^= st >> 12
				st ^= st << 25
				st ^= st >> 27
				bits, left = st*0x2545f4914f6cdd1d, 32
			}
			d := int(bits&1) + int(bits>>1&1) - 1
			bits >>= 2
			left--
			row[x] = uint8(min(max(int(row[x])+d, 16), 235))
		}
	}
}
