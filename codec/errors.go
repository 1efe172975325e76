package codec

import "errors"

var (
	// ErrNeedKeyframe is returned by a video decoder that cannot produce a correct picture until it
	// receives a keyframe: at the start of a stream, and after a loss broke its references.
	ErrNeedKeyframe = errors.New("codec: need keyframe")
	// ErrClosed is returned by any encoder or decoder used after Close.
	ErrClosed = errors.New("codec: closed")
	// ErrCorrupt wraps errors caused by an undecodable bitstream.
	ErrCorrupt = errors.New("codec: corrupt bitstream")
	// ErrFrameSize is returned when a frame has the wrong number of samples or a picture size that is
	// not supported (odd, zero or larger than MaxWidth x MaxHeight).
	ErrFrameSize = errors.New("codec: bad frame size")
)
