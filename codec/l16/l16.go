// Package l16 is linear 16-bit PCM in network byte order (RFC 3551 section 4.5.11) at the internal
// 48 kHz mono: the raw mix for a consumer inside the server (a recording or live stream encodes it
// to AAC on its own goroutine), with nothing to lose on the way.
package l16

import (
	"encoding/binary"
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// ClockRate is the RTP clock rate of this L16: the internal 48 kHz.
const ClockRate = codec.SampleRate

// FrameBytes is the payload size of one 20 ms frame.
const FrameBytes = 2 * codec.FrameSamples

// Encoder writes 20 ms frames as L16 payloads. It implements codec.AudioEncoder. An Encoder belongs to
// one goroutine; it holds no external resources.
type Encoder struct{ closed bool }

var _ codec.AudioEncoder = (*Encoder)(nil)

// NewEncoder returns an encoder.
func NewEncoder() *Encoder { return &Encoder{} }

// Encode writes pcm (exactly codec.FrameSamples samples) big-endian into dst, which must hold FrameBytes
// bytes, and returns FrameBytes.
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if e.closed {
		return 0, fmt.Errorf("l16: encode: %w", codec.ErrClosed)
	}
	if len(pcm) != codec.FrameSamples || len(dst) < FrameBytes {
		return 0, fmt.Errorf("l16: encode %d samples into %d bytes, want %d into %d: %w",
			len(pcm), len(dst), codec.FrameSamples, FrameBytes, codec.ErrFrameSize)
	}
	for i, s := range pcm {
		binary.BigEndian.PutUint16(dst[2*i:], uint16(s))
	}
	return FrameBytes, nil
}

// ClockRate returns ClockRate.
func (e *Encoder) ClockRate() int { return ClockRate }

// Close marks the encoder closed. It is idempotent and always returns nil.
func (e *Encoder) Close() error {
	e.closed = true
	return nil
}

// Decode reads the samples of payload (big-endian, an odd trailing byte ignored) into dst and returns
// how many it wrote: at most len(dst).
func Decode(dst []int16, payload []byte) int {
	n := min(len(dst), len(payload)/2)
	for i := range n {
		dst[i] = int16(binary.BigEndian.Uint16(payload[2*i:]))
	}
	return n
}
