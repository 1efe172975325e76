//go:build !cgo

package h264

import (
	"errors"
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// Encoder is the H.264 encoder. Without cgo it cannot be created: NewEncoder returns an error.
type Encoder struct{}

// NewEncoder needs libx264 through cgo; without cgo it returns an error wrapping errors.ErrUnsupported.
func NewEncoder(cfg Config) (*Encoder, error) {
	return nil, fmt.Errorf("h264: open %dx%d: x264 needs cgo: %w", cfg.Width, cfg.Height, errors.ErrUnsupported)
}

// Config returns the zero Config.
func (e *Encoder) Config() Config { return Config{} }

// Frame returns nil.
func (e *Encoder) Frame() *codec.VideoFrame { return nil }

// Encode returns an error wrapping errors.ErrUnsupported.
func (e *Encoder) Encode(*codec.VideoFrame) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("h264: encode: %w", errors.ErrUnsupported)
}

// LastPSNR returns 0, false.
func (e *Encoder) LastPSNR() (lumaDB float64, ok bool) { return 0, false }

// ForceKeyframe does nothing.
func (e *Encoder) ForceKeyframe() {}

// SetBitrate returns an error wrapping errors.ErrUnsupported.
func (e *Encoder) SetBitrate(int) error {
	return fmt.Errorf("h264: set bitrate: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (e *Encoder) Close() error { return nil }

var _ codec.VideoEncoder = (*Encoder)(nil)
