//go:build cgo

package scale

/*
#cgo LDFLAGS: -lyuv
#include <stdint.h>
#include <libyuv/scale.h>
*/
import "C"

import (
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// Scale resizes the whole of src into the whole of dst, ignoring aspect ratio. Sizes must be non-zero and
// even. It is one cgo call and allocates nothing.
func Scale(dst, src *codec.VideoFrame, filter Filter) error {
	if src.Width < 2 || src.Height < 2 || dst.Width < 2 || dst.Height < 2 {
		return fmt.Errorf("scale %dx%d to %dx%d: %w", src.Width, src.Height, dst.Width, dst.Height, codec.ErrFrameSize)
	}
	mode := C.enum_FilterMode(C.kFilterBox)
	switch filter {
	case Bilinear:
		mode = C.kFilterBilinear
	case Nearest:
		mode = C.kFilterNone
	}
	r := C.I420Scale(
		(*C.uint8_t)(&src.Y[0]), C.int(src.StrideY),
		(*C.uint8_t)(&src.U[0]), C.int(src.StrideU),
		(*C.uint8_t)(&src.V[0]), C.int(src.StrideV),
		C.int(src.Width), C.int(src.Height),
		(*C.uint8_t)(&dst.Y[0]), C.int(dst.StrideY),
		(*C.uint8_t)(&dst.U[0]), C.int(dst.StrideU),
		(*C.uint8_t)(&dst.V[0]), C.int(dst.StrideV),
		C.int(dst.Width), C.int(dst.Height), mode)
	if r != 0 {
		return fmt.Errorf("scale %dx%d to %dx%d: libyuv error %d", src.Width, src.Height, dst.Width, dst.Height, int(r))
	}
	return nil
}
