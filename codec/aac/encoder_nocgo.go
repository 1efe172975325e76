//go:build !cgo

package aac

import (
	"errors"
	"fmt"
)

var errNoCgo = fmt.Errorf("aac needs cgo and libavcodec: %w", errors.ErrUnsupported)

// maxInput is the largest number of samples one Encode call may queue.
const maxInput = 3072

// libEncoder stands in for the libavcodec encoder in builds without cgo; it cannot be created.
type libEncoder struct {
	asc   []byte
	delay int
}

func newLibEncoder(sampleRate, bitrate int) (*libEncoder, error) { return nil, errNoCgo }
func (*libEncoder) closed() bool                                 { return true }
func (*libEncoder) close()                                       {}
func (*libEncoder) encode([]int16, *[maxAUs]AccessUnit) (int, error) {
	return 0, errNoCgo
}
func (*libEncoder) flush(*[maxAUs]AccessUnit) (int, error) { return 0, errNoCgo }
