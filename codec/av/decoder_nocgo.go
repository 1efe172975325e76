//go:build !cgo

package av

import (
	"errors"
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// VideoDecoder is the libavcodec video decoder. Without cgo it cannot be created.
type VideoDecoder struct{}

// NewVideoDecoder needs libavcodec through cgo; without cgo it returns an error wrapping
// errors.ErrUnsupported.
func NewVideoDecoder(c codec.VideoCodec, _ ...Option) (*VideoDecoder, error) {
	return nil, fmt.Errorf("av: open %v decoder: libavcodec needs cgo: %w", c, errors.ErrUnsupported)
}

// Decode returns an error wrapping errors.ErrUnsupported.
func (v *VideoDecoder) Decode([]byte) (*codec.VideoFrame, error) {
	return nil, fmt.Errorf("av: decode: %w", errors.ErrUnsupported)
}

// Lost does nothing.
func (v *VideoDecoder) Lost() {}

// Close does nothing.
func (v *VideoDecoder) Close() error { return nil }

var _ codec.VideoDecoder = (*VideoDecoder)(nil)
