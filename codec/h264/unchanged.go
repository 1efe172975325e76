package h264

import (
	"bytes"
	"encoding/binary"

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
	markPlane(dst.Y, dst.StrideY, src.Y, src.StrideY, w, h, 4, flags, mbw)
	cw, ch := (w+1)/2, (h+1)/2
	markPlane(dst.U, dst.StrideU, src.U, src.StrideU, cw, ch, 3, flags, mbw)
	markPlane(dst.V, dst.StrideV, src.V, src.StrideV, cw, ch, 3, flags, mbw)
}

// markPlane copies one plane of w x h samples, clearing the flag of every macroblock (1<<shift samples
// square in this plane) in which a sample differed. A line that differs is compared 8 bytes (a word) at
// a time, each differing word clearing its macroblock's flag: one tight loop over the line (comparing
// each macroblock apart, with a call or a loop per macroblock, cost twice as much).
func markPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int, shift uint, flags []byte, mbw int) {
	for y := range h {
		s, d := src[y*srcStride:][:w], dst[y*dstStride:][:w]
		if bytes.Equal(s, d) {
			continue
		}
		row := flags[(y>>shift)*mbw:][:mbw]
		x := 0
		if shift == 4 { // luma: two words a macroblock
			for ; x+16 <= len(s); x += 16 {
				a, b := s[x:x+16:x+16], d[x:x+16:x+16]
				if (binary.LittleEndian.Uint64(a)^binary.LittleEndian.Uint64(b))|
					(binary.LittleEndian.Uint64(a[8:])^binary.LittleEndian.Uint64(b[8:])) != 0 {
					row[x>>4] = 0
				}
			}
		}
		for ; x+8 <= len(s); x += 8 {
			if binary.LittleEndian.Uint64(s[x:]) != binary.LittleEndian.Uint64(d[x:]) {
				row[x>>shift] = 0
			}
		}
		for ; x < len(s); x++ {
			if s[x] != d[x] {
				row[x>>shift] = 0
			}
		}
		copy(d, s)
	}
}
