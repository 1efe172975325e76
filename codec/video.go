package codec

import (
	"fmt"
	"image"
	"sync"
	"time"
)

// Limits on picture sizes accepted anywhere in the pipeline. A decoder that meets a larger picture returns
// an error wrapping ErrFrameSize instead of allocating for it.
const (
	MaxWidth  = 4096
	MaxHeight = 2304
)

// VideoCodec names a video coding format.
type VideoCodec int

// Video codecs the server decodes or encodes.
const (
	H264 VideoCodec = iota + 1
	VP8
)

// String returns the codec's usual name ("H264", "VP8").
func (c VideoCodec) String() string {
	switch c {
	case H264:
		return "H264"
	case VP8:
		return "VP8"
	}
	return fmt.Sprintf("VideoCodec(%d)", int(c))
}

// VideoFrame is an I420 (YUV 4:2:0 planar) picture. Width and Height are even. The planes may live in Go
// or C memory and may be views into a larger picture (see Sub), so always index rows through the strides.
//
// A VideoFrame is not safe for concurrent writes; readers may share it while nobody writes.
type VideoFrame struct {
	Width, Height             int
	Y, U, V                   []byte
	StrideY, StrideU, StrideV int
	// Time is when the picture entered the server: the arrival of its last packet for a decoded frame;
	// for a composed one, the arrival of the oldest source picture it shows for the first time (zero if
	// it only repeats). Mixer-added latency is measured from it. Zero if unknown.
	Time time.Time

	pool *FramePool
}

// NewVideoFrame allocates a black frame of the given size in Go memory, with tight strides.
func NewVideoFrame(width, height int) *VideoFrame {
	cw, ch := (width+1)/2, (height+1)/2
	buf := make([]byte, width*height+2*cw*ch)
	f := &VideoFrame{
		Width: width, Height: height,
		Y: buf[:width*height], U: buf[width*height : width*height+cw*ch], V: buf[width*height+cw*ch:],
		StrideY: width, StrideU: cw, StrideV: cw,
	}
	f.Fill(Black)
	return f
}

// Bounds returns the frame's rectangle, (0,0)-(Width,Height).
func (f *VideoFrame) Bounds() image.Rectangle { return image.Rect(0, 0, f.Width, f.Height) }

// Sub returns a view of the rectangle r of f, sharing its memory. r is clipped to f and its corners are
// rounded down to even coordinates so the chroma planes stay aligned. The view has no pool: releasing
// it does nothing. It is returned by value so taking a view allocates nothing.
func (f *VideoFrame) Sub(r image.Rectangle) VideoFrame {
	r = r.Intersect(f.Bounds())
	r.Min.X &^= 1
	r.Min.Y &^= 1
	r.Max.X &^= 1
	r.Max.Y &^= 1
	if r.Empty() {
		return VideoFrame{}
	}
	cx, cy := r.Min.X/2, r.Min.Y/2
	w, h := r.Dx(), r.Dy()
	return VideoFrame{
		Width: w, Height: h,
		Y:       f.Y[r.Min.Y*f.StrideY+r.Min.X : (r.Max.Y-1)*f.StrideY+r.Max.X],
		U:       f.U[cy*f.StrideU+cx : (cy+h/2-1)*f.StrideU+cx+w/2],
		V:       f.V[cy*f.StrideV+cx : (cy+h/2-1)*f.StrideV+cx+w/2],
		StrideY: f.StrideY, StrideU: f.StrideU, StrideV: f.StrideV,
	}
}

// YUV is one colour in the frame's colour space (BT.601 limited range, as x264 and libavcodec use).
type YUV struct{ Y, U, V uint8 }

// Black is limited-range black.
var Black = YUV{16, 128, 128}

// RGBToYUV converts a full-range sRGB colour to limited-range BT.601 YUV.
func RGBToYUV(r, g, b uint8) YUV {
	rf, gf, bf := float64(r), float64(g), float64(b)
	y := 16 + 0.257*rf + 0.504*gf + 0.098*bf
	u := 128 - 0.148*rf - 0.291*gf + 0.439*bf
	v := 128 + 0.439*rf - 0.368*gf - 0.071*bf
	return YUV{clamp8(y), clamp8(u), clamp8(v)}
}

// RGB converts the colour back to full-range sRGB.
func (c YUV) RGB() (r, g, b uint8) {
	y := 1.164 * (float64(c.Y) - 16)
	u, v := float64(c.U)-128, float64(c.V)-128
	return clamp8(y + 1.596*v), clamp8(y - 0.392*u - 0.813*v), clamp8(y + 2.017*u)
}

func clamp8(x float64) uint8 {
	switch {
	case x < 0:
		return 0
	case x > 255:
		return 255
	}
	return uint8(x + 0.5)
}

// Fill paints the whole frame with one colour.
func (f *VideoFrame) Fill(c YUV) {
	fillPlane(f.Y, f.StrideY, f.Width, f.Height, c.Y)
	fillPlane(f.U, f.StrideU, (f.Width+1)/2, (f.Height+1)/2, c.U)
	fillPlane(f.V, f.StrideV, (f.Width+1)/2, (f.Height+1)/2, c.V)
}

func fillPlane(p []byte, stride, w, h int, v byte) {
	if w <= 0 || h <= 0 {
		return
	}
	row := p[:w]
	for i := range row {
		row[i] = v
	}
	for y := 1; y < h; y++ {
		copy(p[y*stride:y*stride+w], row)
	}
}

// CopyFrom copies src into f. Both must have the same size; otherwise it returns ErrFrameSize.
func (f *VideoFrame) CopyFrom(src *VideoFrame) error {
	if f.Width != src.Width || f.Height != src.Height {
		return fmt.Errorf("copy %dx%d into %dx%d: %w", src.Width, src.Height, f.Width, f.Height, ErrFrameSize)
	}
	copyPlane(f.Y, f.StrideY, src.Y, src.StrideY, f.Width, f.Height)
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	copyPlane(f.U, f.StrideU, src.U, src.StrideU, cw, ch)
	copyPlane(f.V, f.StrideV, src.V, src.StrideV, cw, ch)
	return nil
}

func copyPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for y := 0; y < h; y++ {
		copy(dst[y*dstStride:y*dstStride+w], src[y*srcStride:y*srcStride+w])
	}
}

// At returns the colour of the pixel at (x, y).
func (f *VideoFrame) At(x, y int) YUV {
	return YUV{f.Y[y*f.StrideY+x], f.U[(y/2)*f.StrideU+x/2], f.V[(y/2)*f.StrideV+x/2]}
}

// Mean returns the average colour of the rectangle r of f (clipped to the frame).
func (f *VideoFrame) Mean(r image.Rectangle) YUV {
	r = r.Intersect(f.Bounds())
	if r.Empty() {
		return YUV{}
	}
	var sy, su, sv, n, nc int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			sy += int(f.Y[y*f.StrideY+x])
			n++
		}
	}
	for y := r.Min.Y / 2; y < (r.Max.Y+1)/2; y++ {
		for x := r.Min.X / 2; x < (r.Max.X+1)/2; x++ {
			su += int(f.U[y*f.StrideU+x])
			sv += int(f.V[y*f.StrideV+x])
			nc++
		}
	}
	return YUV{uint8(sy / n), uint8(su / nc), uint8(sv / nc)}
}

// Release returns a pooled frame to its pool. The caller must not touch the frame afterwards. Frames that
// did not come from a pool are left to the garbage collector.
func (f *VideoFrame) Release() {
	if f == nil || f.pool == nil {
		return
	}
	f.pool.put(f)
}

// FramePool recycles VideoFrames of any size, one free list per size, so a steady stream of frames of
// one size allocates nothing. It is safe for concurrent use.
type FramePool struct {
	mu    sync.Mutex
	sizes map[[2]int]*sync.Pool
}

// NewFramePool returns an empty pool.
func NewFramePool() *FramePool { return &FramePool{sizes: make(map[[2]int]*sync.Pool)} }

// Get returns a frame of the given size with undefined contents. Release it when done.
func (p *FramePool) Get(width, height int) *VideoFrame {
	sp := p.sizePool(width, height)
	if f, ok := sp.Get().(*VideoFrame); ok {
		return f
	}
	f := NewVideoFrame(width, height)
	f.pool = p
	return f
}

func (p *FramePool) put(f *VideoFrame) {
	p.sizePool(f.Width, f.Height).Put(f)
}

func (p *FramePool) sizePool(w, h int) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.sizes[[2]int{w, h}]
	if sp == nil {
		sp = &sync.Pool{}
		p.sizes[[2]int{w, h}] = sp
	}
	return sp
}

// VideoDecoder turns compressed frames into pictures.
// A VideoDecoder belongs to one goroutine; it is not safe for concurrent use.
type VideoDecoder interface {
	// Decode decodes one whole compressed frame (an H.264 access unit in Annex-B form, or one VP8 frame)
	// and returns the picture, valid until the next call to Decode or Close. It returns (nil, nil) when
	// the frame produced no picture yet, an error wrapping ErrNeedKeyframe while it waits for a keyframe,
	// and an error wrapping ErrCorrupt for an undecodable frame (after which it waits for a keyframe).
	Decode(frame []byte) (*VideoFrame, error)
	// Lost tells the decoder that one or more frames before the next call to Decode never arrived. Until
	// a keyframe decodes, Decode then returns ErrNeedKeyframe instead of pictures built on missing
	// references.
	Lost()
	// Close frees the decoder. It is idempotent.
	Close() error
}

// VideoEncoder turns pictures into compressed frames.
// A VideoEncoder belongs to one goroutine; it is not safe for concurrent use.
type VideoEncoder interface {
	// Frame returns the encoder's own input picture. Drawing into it and then calling Encode(nil)
	// avoids a copy. It stays valid until Close.
	Frame() *VideoFrame
	// Encode encodes one picture: src, copied first into the encoder's own picture, or the encoder's own
	// picture if src is nil. The returned bytes (H.264: Annex-B NAL units with start codes; VP8: one
	// frame) are valid until the next call to Encode or Close. keyframe reports an IDR / key frame.
	Encode(src *VideoFrame) (data []byte, keyframe bool, err error)
	// ForceKeyframe makes the next encoded picture a keyframe (IDR for H.264).
	ForceKeyframe()
	// SetBitrate changes the target bitrate, in bits per second, from the next picture on.
	SetBitrate(bitrate int) error
	// Close frees the encoder. It is idempotent.
	Close() error
}
