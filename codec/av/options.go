package av

import "github.com/openmcu/mcu/codec"

// Option changes how NewVideoDecoder sets up a decoder.
type Option func(*options)

type options struct{ maxW, maxH int }

// WithMaxSize makes the decoder refuse pictures wider than w or taller than h (codec.ErrFrameSize), and
// libavcodec refuse, before decoding them, pictures of more than w*h pixels: a sender cannot make the
// server decode pictures larger than it accepts. Sizes beyond codec.MaxWidth x codec.MaxHeight, or below
// 2, are clamped.
func WithMaxSize(w, h int) Option {
	return func(o *options) {
		o.maxW = min(max(w, 2), codec.MaxWidth)
		o.maxH = min(max(h, 2), codec.MaxHeight)
	}
}
