package codec

import "time"

// Internal audio format: every audio frame that moves between packages is FrameSamples signed 16-bit mono
// samples at SampleRate, covering FrameDuration.
const (
	// SampleRate is the internal audio sample rate in Hz.
	SampleRate = 48000
	// FrameDuration is the length of one internal audio frame.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples in one internal audio frame (960).
	FrameSamples = SampleRate / int(time.Second/FrameDuration)
)

// AudioEncoder turns one internal audio frame into one codec payload.
// An AudioEncoder belongs to one goroutine; it is not safe for concurrent use.
type AudioEncoder interface {
	// Encode encodes pcm (exactly FrameSamples samples) into dst and returns the payload length.
	Encode(pcm []int16, dst []byte) (int, error)
	// ClockRate is the RTP clock rate of the payload in Hz (8000 for G.711 and G.722, 48000 for Opus).
	ClockRate() int
	// Close frees the encoder. It is idempotent.
	Close() error
}

// AudioDecoder turns codec payloads back into internal audio frames.
// An AudioDecoder belongs to one goroutine; it is not safe for concurrent use.
type AudioDecoder interface {
	// Decode decodes one payload of 20 ms into pcm (FrameSamples long).
	Decode(payload []byte, pcm []int16) error
	// Conceal fills pcm with a replacement for one lost 20 ms frame. If next is the payload that follows
	// the lost one and carries forward error correction data (Opus in-band FEC), it is used; otherwise the
	// decoder extrapolates (packet-loss concealment). next may be nil.
	Conceal(next []byte, pcm []int16) error
	// Close frees the decoder. It is idempotent.
	Close() error
}
