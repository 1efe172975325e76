//go:build !cgo

package g722

import (
	"errors"
	"fmt"
)

var errNoCgo = fmt.Errorf("g722 needs cgo and libavcodec: %w", errors.ErrUnsupported)

// libEncoder stands in for the libavcodec encoder in builds without cgo; it cannot be created.
type libEncoder struct{}

func newLibEncoder() (*libEncoder, error)                       { return nil, errNoCgo }
func (*libEncoder) closed() bool                                { return true }
func (*libEncoder) close()                                      {}
func (*libEncoder) encode(pcm []int16, dst []byte) (int, error) { return 0, errNoCgo }

// libDecoder stands in for the libavcodec decoder in builds without cgo; it cannot be created.
type libDecoder struct{}

func newLibDecoder() (*libDecoder, error)                           { return nil, errNoCgo }
func (*libDecoder) closed() bool                                    { return true }
func (*libDecoder) close()                                          {}
func (*libDecoder) decode(payload []byte, pcm []int16) (int, error) { return 0, errNoCgo }
