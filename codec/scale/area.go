package scale

import (
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// AreaScaler resizes for fine detail such as the text of a shared screen. Shrinking, each destination
// pixel is the average of exactly the source area it covers, partly covered pixels weighted by their
// share. libyuv's Box filter does that only for reductions of 2:1 or more (and with whole pixels); for
// smaller ones (1920x1080 to 1024x576, a screen in a 1280x720 presentation) it falls back to bilinear
// interpolation, which samples only the two source pixels nearest each destination pixel, so one-pixel
// strokes (small text) fade in and out with their position. Enlargements use libyuv's Bilinear.
//
// Shrinking by other than whole ratios is plain Go (two separable passes with 8-bit weights), about 4 ms
// for 1920x1080 to 1024x576 against 1 ms for libyuv's Box: use it for screens, not for cameras. The zero value is ready to use; it
// keeps its weight tables and a row buffer between calls, so it allocates only when sizes change. An
// AreaScaler belongs to one goroutine.
type AreaScaler struct {
	// Tables of the last sizes, for luma and chroma.
	planes [2]struct {
		sw, sh, dw, dh int
		x, y           areaTaps
	}
	row []uint16
}

// areaTaps are the source pixels and weights behind each destination pixel along one axis: destination
// i averages source pixels start[i] .. start[i]+n-1 (always inside the source, unused ones weighing 0)
// with weights w[i*n:(i+1)*n], which sum to 256.
type areaTaps struct {
	start []int
	w     []uint16
	n     int
}

// Fit scales src into the whole of dst according to mode, like the package's Fit.
func (a *AreaScaler) Fit(dst, src *codec.VideoFrame, mode Mode, border codec.YUV) error {
	return fit(dst, src, mode, border, func(d, s codec.VideoFrame) error { return a.Scale(&d, &s) })
}

// Scale resizes the whole of src into the whole of dst, ignoring aspect ratio, like the package's Scale.
// A picture enlarged along either axis, or not resized, goes to libyuv's Bilinear, one shrunk by whole
// ratios (2:1, 3:1) to its Box, which is then exact.
func (a *AreaScaler) Scale(dst, src *codec.VideoFrame) error {
	if src.Width < 2 || src.Height < 2 || dst.Width < 2 || dst.Height < 2 {
		return fmt.Errorf("scale %dx%d to %dx%d: %w", src.Width, src.Height, dst.Width, dst.Height, codec.ErrFrameSize)
	}
	if dst.Width > src.Width || dst.Height > src.Height || (dst.Width == src.Width && dst.Height == src.Height) {
		return Scale(dst, src, Bilinear)
	}
	if src.Width%dst.Width == 0 && src.Height%dst.Height == 0 {
		return Scale(dst, src, Box)
	}
	a.plane(0, dst.Y, dst.StrideY, dst.Width, dst.Height, src.Y, src.StrideY, src.Width, src.Height)
	cw, ch, sw, sh := (dst.Width+1)/2, (dst.Height+1)/2, (src.Width+1)/2, (src.Height+1)/2
	a.plane(1, dst.U, dst.StrideU, cw, ch, src.U, src.StrideU, sw, sh)
	a.plane(1, dst.V, dst.StrideV, cw, ch, src.V, src.StrideV, sw, sh)
	return nil
}

// plane shrinks one plane: for each destination row, the weighted sum of the source rows it covers
// (8.8 fixed point, in a.row), then the weighted sum of each destination pixel's source columns.
func (a *AreaScaler) plane(i int, dst []byte, dstStride, dw, dh int, src []byte, srcStride, sw, sh int) {
	p := &a.planes[i]
	if p.sw != sw || p.sh != sh || p.dw != dw || p.dh != dh {
		p.sw, p.sh, p.dw, p.dh = sw, sh, dw, dh
		p.x, p.y = newAreaTaps(sw, dw), newAreaTaps(sh, dh)
	}
	if cap(a.row) < sw {
		a.row = make([]uint16, sw)
	}
	row := a.row[:sw]
	for y := range dh {
		s0, ws := p.y.start[y], p.y.w[y*p.y.n:(y+1)*p.y.n]
		src0 := src[s0*srcStride:][:sw]
		w0 := ws[0]
		for x, v := range src0 {
			row[x] = w0 * uint16(v)
		}
		for k := 1; k < len(ws); k++ {
			wk := ws[k]
			if wk == 0 {
				continue
			}
			srck := src[(s0+k)*srcStride:][:sw]
			for x, v := range srck {
				row[x] += wk * uint16(v)
			}
		}
		out := dst[y*dstStride:][:dw]
		n := p.x.n
		if n == 3 { // every reduction of 2:1 or less
			for x := range out {
				r, wx := row[p.x.start[x]:][:3], p.x.w[x*3:][:3]
				sum := uint32(wx[0])*uint32(r[0]) + uint32(wx[1])*uint32(r[1]) + uint32(wx[2])*uint32(r[2])
				out[x] = byte((sum + 1<<15) >> 16)
			}
			continue
		}
		for x := range out {
			r, wx := row[p.x.start[x]:][:n], p.x.w[x*n:][:n]
			var sum uint32
			for k, w := range wx {
				sum += uint32(w) * uint32(r[k])
			}
			out[x] = byte((sum + 1<<15) >> 16)
		}
	}
}

// newAreaTaps returns the taps shrinking s pixels to d (d < s) by area. In units of 1/d source pixel,
// destination pixel i covers [i*s, (i+1)*s) and source pixel j covers [j*d, (j+1)*d); each weight is
// the overlap times 256/s, rounded so that the weights of a pixel sum to 256 exactly.
func newAreaTaps(s, d int) areaTaps {
	n := (s+d-1)/d + 1
	t := areaTaps{start: make([]int, d), w: make([]uint16, d*n), n: n}
	for i := range d {
		lo, hi := i*s, (i+1)*s
		j0 := lo / d
		t.start[i] = j0
		ws := t.w[i*n : (i+1)*n]
		total, big := 0, 0
		for k := range ws {
			j := j0 + k
			o := min(hi, (j+1)*d) - max(lo, j*d)
			if j >= s || o <= 0 {
				break
			}
			ws[k] = uint16((o*256 + s/2) / s)
			total += int(ws[k])
			if ws[k] > ws[big] {
				big = k
			}
		}
		ws[big] = uint16(int(ws[big]) + 256 - total)
		if over := j0 + n - s; over > 0 { // keep the taps inside the source: shift the weights right
			t.start[i] = j0 - over
			copy(ws[over:], ws[:n-over])
			clear(ws[:over])
		}
	}
	return t
}
