package peer

import (
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/openmcu/mcu/codec"
)

// Source is one kind of a Client's outgoing media, already encoded and paced in real time: a replayed
// clip (package clip), a live test pattern or tone, or a camera or microphone (packages live and device).
//
// A Client owns the sources it is given: one goroutine of the Client calls ReadSample in a loop and, after
// the last call, Close. ForceKeyframe may be called from any goroutine. Close is never called while
// ReadSample runs, so an implementation needs no lock around its encoder.
type Source interface {
	// ReadSample blocks until the next sample is due (a video frame, or 20 ms of audio) and returns it.
	// Its Data is valid until the next call. An error ends the stream: the Client logs it unless it is
	// closing, and sends nothing more of that kind. A call must return within about one sample interval
	// so that the Client can stop promptly.
	ReadSample() (media.Sample, error)
	// ForceKeyframe asks for a keyframe as soon as possible (a receiver lost a picture). Audio sources
	// ignore it. It is safe to call from any goroutine and never blocks.
	ForceKeyframe()
	// Close frees the source. It is idempotent.
	Close() error
}

// VideoSource is a Source of video in one codec.
type VideoSource interface {
	Source
	// Codec is the codec of the samples: codec.H264 (Annex-B access units) or codec.VP8 (frames).
	Codec() codec.VideoCodec
}
