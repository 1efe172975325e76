package live

import (
	"fmt"
	"image"
	"io"
	"time"

	"golang.org/x/image/font"

	"github.com/openmcu/mcu/codec"
)

// PatternConfig describes a test pattern. Zero fields take the defaults noted. It is plain data.
type PatternConfig struct {
	// Name is drawn large in the upper part of the picture (shortened to fit); empty draws none.
	Name string
	// Colour is the background. The middle of the picture always shows it, unmarked, so that a receiver
	// can find the colour at the centre of the participant's tile.
	Colour codec.YUV
	// Width and Height of the picture (default 640x360; even, at least 64x64); FrameRate its frames per
	// second (default 30, at most 120).
	Width, Height, FrameRate int
	// Plain draws the colour alone: no name, no clock, no moving bar (for tests that measure the colour
	// over the whole picture).
	Plain bool
}

func (c *PatternConfig) defaults() {
	if c.Width == 0 || c.Height == 0 {
		c.Width, c.Height = 640, 360
	}
	if c.FrameRate == 0 {
		c.FrameRate = 30
	}
}

// Validate reports the first invalid field, after defaults.
func (c PatternConfig) Validate() error {
	c.defaults()
	switch {
	case c.Width < 64 || c.Height < 64 || c.Width%2 != 0 || c.Height%2 != 0 || c.Width > codec.MaxWidth || c.Height > codec.MaxHeight:
		return fmt.Errorf("pattern size %dx%d: want even, from 64x64 to %dx%d", c.Width, c.Height, codec.MaxWidth, codec.MaxHeight)
	case c.FrameRate < 1 || c.FrameRate > 120:
		return fmt.Errorf("pattern frame rate %d: want 1 to 120", c.FrameRate)
	}
	return nil
}

// Pattern is a live synthetic camera for mediadevices: each Read waits for the next frame time and
// returns an I420 picture (*image.YCbCr, 4:2:0) of the participant's colour, with its name on a dark band
// in the upper part and, in the lower part, a wall clock (hh:mm:ss) above a bar that sweeps across the
// picture once a second, so a viewer can tell the picture is live. It implements mediadevices.VideoSource
// (video.Reader and mediadevices.Source); give it to mediadevices.NewVideoTrack, or use NewPatternSource.
//
// Drawing a frame restores the lower band from a prepared background and redraws the clock and the bar:
// about 50 µs at 640x360 (BenchmarkPatternFrame), against 0.5-0.7 ms to encode it (H.264 or VP8).
//
// A Pattern belongs to the goroutine that reads it (mediadevices' reader, which here is the
// peer.Client's sender); Close may be called from another goroutine only when no Read is running.
type Pattern struct {
	cfg      PatternConfig
	base     *codec.VideoFrame // background and name, drawn once
	frame    *codec.VideoFrame // what Read returns, redrawn in place
	img      image.YCbCr       // a view of frame
	face     font.Face         // for the clock; nil when Plain
	clockTxt *image.Alpha      // the rendered clock text
	second   int64             // the Unix second clockTxt shows
	band     image.Rectangle   // the lower band: clock and bar
	n        int               // frames read
	clock    clock
	closed   bool
}

// NewPattern prepares a test pattern. It starts nothing: the first Read starts the frame clock.
func NewPattern(cfg PatternConfig) (*Pattern, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	w, h := cfg.Width, cfg.Height
	interval := time.Second / time.Duration(cfg.FrameRate)
	p := &Pattern{cfg: cfg, clock: clock{interval: interval, maxLag: interval},
		base: codec.NewVideoFrame(w, h), frame: codec.NewVideoFrame(w, h)}
	p.base.Fill(cfg.Colour)
	if !cfg.Plain {
		if err := p.drawName(); err != nil {
			return nil, err
		}
		face, err := newFace(max(h/10, 8))
		if err != nil {
			return nil, err
		}
		p.face = face
		m := face.Metrics()
		textH := (m.Ascent + m.Descent).Ceil()
		// The band takes the lower part below 5/8 of the height: the centre stays the plain colour.
		p.band = image.Rect(0, max(h-h/12-textH-h/16, h*5/8), w, h)
	}
	p.frame.CopyFrom(p.base)
	p.img = image.YCbCr{Y: p.frame.Y, Cb: p.frame.U, Cr: p.frame.V, YStride: p.frame.StrideY,
		CStride: p.frame.StrideU, SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: p.frame.Bounds()}
	return p, nil
}

// drawName draws the name, white on a darkened box, centred in the upper part of base.
func (p *Pattern) drawName() error {
	if p.cfg.Name == "" {
		return nil
	}
	w, h := p.cfg.Width, p.cfg.Height
	face, err := newFace(max(h/6, 8))
	if err != nil {
		return err
	}
	defer face.Close()
	mask := renderText(face, p.cfg.Name, w*9/10)
	if mask == nil {
		return nil
	}
	pad := max(mask.Rect.Dy()/6, 2)
	x, y := (w-mask.Rect.Dx())/2, h/12
	darken(p.base, image.Rect(x-2*pad, y-pad, x+mask.Rect.Dx()+2*pad, y+mask.Rect.Dy()+pad))
	blendText(p.base, mask, x, y)
	return nil
}

// ID returns "pattern:" and the name: the mediadevices source ID.
func (p *Pattern) ID() string { return "pattern:" + p.cfg.Name }

// Read waits for the next frame time and returns the next picture, valid until the next Read. The first
// call returns at once. A Read more than a frame late skips the frames missed. After Close it returns
// io.EOF.
func (p *Pattern) Read() (image.Image, func(), error) {
	if p.closed {
		return nil, func() {}, io.EOF
	}
	p.clock.wait()
	if !p.cfg.Plain {
		p.drawBand(time.Now())
	}
	p.n++
	return &p.img, func() {}, nil
}

// drawBand redraws the lower band: background, clock, and the bar at this frame's position.
func (p *Pattern) drawBand(now time.Time) {
	f, b := p.frame, p.base
	w, h := p.cfg.Width, p.cfg.Height
	top := p.band.Min.Y
	copyRows(f.Y, f.StrideY, b.Y, b.StrideY, w, top, h)
	copyRows(f.U, f.StrideU, b.U, b.StrideU, w/2, top/2, h/2)
	copyRows(f.V, f.StrideV, b.V, b.StrideV, w/2, top/2, h/2)

	if s := now.Unix(); s != p.second || p.clockTxt == nil {
		p.second = s
		p.clockTxt = renderText(p.face, now.Format("15:04:05"), w)
	}
	barH := max(h/12, 4) &^ 1
	barTop := h - barH
	if p.clockTxt != nil {
		cw, ch := p.clockTxt.Rect.Dx(), p.clockTxt.Rect.Dy()
		x, y := (w-cw)/2, barTop-h/32-ch
		pad := max(ch/6, 2)
		darken(f, image.Rect(x-2*pad, y-pad, x+cw+2*pad, y+ch+pad))
		blendText(f, p.clockTxt, x, y)
	}
	// The bar: a dark track with a white block that crosses it once a second.
	darken(f, image.Rect(0, barTop, w, h))
	blockW := max(w/10, 2) &^ 1
	fps := p.cfg.FrameRate
	x := (p.n % fps) * (w - blockW) / max(fps-1, 1)
	fillRect(f, image.Rect(x, barTop+2, x+blockW, h-2), codec.YUV{Y: 235, U: 128, V: 128})
}

// copyRows copies rows [from, to) of a plane of width w.
func copyRows(dst []byte, dstStride int, src []byte, srcStride, w, from, to int) {
	for y := from; y < to; y++ {
		copy(dst[y*dstStride:y*dstStride+w], src[y*srcStride:y*srcStride+w])
	}
}

// Close stops the frame clock; later Reads return io.EOF. It is idempotent.
func (p *Pattern) Close() error {
	p.clock.stop()
	if p.face != nil {
		p.face.Close()
		p.face = nil
	}
	p.closed = true
	return nil
}
