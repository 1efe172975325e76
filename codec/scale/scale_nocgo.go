//go:build !cgo

package scale

import (
	"errors"
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// Scale needs libyuv through cgo; without cgo it returns an error wrapping errors.ErrUnsupported.
func Scale(dst, src *codec.VideoFrame, filter Filter) error {
	return fmt.Errorf("scale: libyuv needs cgo: %w", errors.ErrUnsupported)
}
