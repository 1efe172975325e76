//go:build !cgo

package aacdec

import (
	"errors"
	"fmt"
)

// MaxPayload is the largest access unit Decode accepts, in bytes.
const MaxPayload = 8192

// Decoder is the libavcodec AAC decoder. Without cgo it cannot be created.
type Decoder struct{}

// NewDecoder needs libavcodec through cgo; without cgo it returns an error wrapping
// errors.ErrUnsupported.
func NewDecoder([]byte) (*Decoder, error) {
	return nil, fmt.Errorf("aacdec: libavcodec needs cgo: %w", errors.ErrUnsupported)
}

// Decode returns an error wrapping errors.ErrUnsupported.
func (*Decoder) Decode([]byte, []int16) (int, error) {
	return 0, fmt.Errorf("aacdec: decode: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (*Decoder) Close() error { return nil }
