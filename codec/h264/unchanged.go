package h264

import (
	"bytes"

	"github.com/openmcu/mcu/codec"
)

// mbConstant is x264's X264_MBINFO_CONSTANT: the macroblock is the same as in the previous picture.
const mbConstant = 1

// copyMarkUnchanged copies src into dst (the same size) and sets flags, one byte per 16x16 macroblock in
// raster order (mbw a row), to mbConstant for every macroblock whose luma and chroma samples were already
// the same in dst, and to 0 for the others. It reads each line once and writes only the lines that differ,
// so a picture that mostly did not change costs less than a copy.
func copyMarkUnchanged(dst, src *codec.VideoFrame, flags []byte, mbw int) {
	for i := range flags {
		flags[i] = mbConstant
	}
	w, h := dst.Width, dst.Height
	markPlane(dst.Y, dst.StrideY, src.Y, src.StrideY, w, h, 16, flags, mbw)
	cw, ch := (w+1)/2, (h+1)/2
	markPlane(dst.U, dst.StrideU, src.U, src.StrideU, cw, ch, 8, flags, mbw)
	markPlane(dst.V, dst.StrideV, src.V, src.StrideV, cw, ch, 8, flags, mbw)
}

// markPlane copies one plane of w x h samples, clearing the flag of every macroblock (mb x mb samples of
// this plane) in which a sample differed.
func markPlane(dst []byte, dstStride int, src []byte, srcStride, w, h, mb int, flags []byte, mbw int) {
	for y := range h {
		s, d := src[y*srcStride:][:w], dst[y*dstStride:][:w]
		if bytes.Equal(s, d) {
			continue
		}
		row := flags[(y/mb)*mbw:][:mbw]
		for mx, f := range row {
			if f == 0 {
				continue
			}
			x0 := mx * mb
			x1 := min(x0+mb, w)
			if !bytes.Equal(s[x0:x1], d[x0:x1]) {
				row[mx] = 0
			}
		}
		copy(d, s)
	}
}
