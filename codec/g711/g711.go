// Package g711 encodes and decodes ITU-T G.711 audio, PCMU (mu-law) and PCMA (A-law), in pure Go.
//
// The companding follows the standard (as in the reference implementation of ITU-T G.191): mu-law with a
// bias of 0x84, A-law with even-bit inversion (0x55). Encoding and decoding are table lookups; the tables
// are computed once at package initialisation and never written afterwards.
//
// Encoder and Decoder bridge the internal 48 kHz frames and G.711's 8 kHz through codec/resample: one
// 20 ms frame is 160 bytes. They implement codec.AudioEncoder and codec.AudioDecoder.
package g711

import (
	"fmt"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/resample"
)

// Law selects the companding law.
type Law int

// The two G.711 laws, with their RTP static payload types (RFC 3551) as values.
const (
	// MuLaw is PCMU, used in North America and Japan; RTP payload type 0.
	MuLaw Law = 0
	// ALaw is PCMA, used in the rest of the world; RTP payload type 8.
	ALaw Law = 8
)

// String returns the RTP encoding name, "PCMU" or "PCMA".
func (l Law) String() string {
	switch l {
	case MuLaw:
		return "PCMU"
	case ALaw:
		return "PCMA"
	}
	return fmt.Sprintf("Law(%d)", int(l))
}

const (
	// ClockRate is G.711's sample rate and RTP clock rate in Hz.
	ClockRate = 8000
	// FrameBytes is the payload size of 20 ms.
	FrameBytes = ClockRate / 50
	// factor is the resampling factor between codec.SampleRate and ClockRate.
	factor = codec.SampleRate / ClockRate
)

// Read-only lookup tables, filled by init.
var (
	ulawEncode [65536]uint8 // indexed by uint16(sample)
	alawEncode [65536]uint8
	ulawDecode [256]int16
	alawDecode [256]int16
)

func init() {
	for i := range 65536 {
		s := int16(uint16(i))
		ulawEncode[i] = linearToUlaw(s)
		alawEncode[i] = linearToAlaw(s)
	}
	for i := range 256 {
		ulawDecode[i] = ulawToLinear(uint8(i))
		alawDecode[i] = alawToLinear(uint8(i))
	}
}

// linearToUlaw is the reference mu-law encoder for a 16-bit sample.
func linearToUlaw(s int16) uint8 {
	const bias, clip = 0x84, 32635
	v := int(s)
	var sign uint8
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^(sign | uint8(exp<<4) | uint8(mant))
}

// ulawToLinear is the reference mu-law decoder.
func ulawToLinear(u uint8) int16 {
	u = ^u
	t := (int(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// linearToAlaw is the reference A-law encoder for a 16-bit sample (13-bit magnitude).
func linearToAlaw(s int16) uint8 {
	v := int(s) >> 3
	mask := uint8(0xd5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := 0
	for end := 0x1f; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7f ^ mask
	}
	a := uint8(seg << 4)
	if seg < 2 {
		a |= uint8(v>>1) & 0x0f
	} else {
		a |= uint8(v>>seg) & 0x0f
	}
	return a ^ mask
}

// alawToLinear is the reference A-law decoder.
func alawToLinear(a uint8) int16 {
	a ^= 0x55
	t := int(a&0x0f) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// Encode companding-encodes 8 kHz samples src into dst (one byte per sample) and returns the number of
// bytes written, min(len(dst), len(src)). It is safe for concurrent use.
func (l Law) Encode(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	table := &ulawEncode
	if l == ALaw {
		table = &alawEncode
	}
	for i, s := range src[:n] {
		dst[i] = table[uint16(s)]
	}
	return n
}

// Decode expands G.711 bytes src into 8 kHz samples dst and returns the number of samples written,
// min(len(dst), len(src)). It is safe for concurrent use.
func (l Law) Decode(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	table := &ulawDecode
	if l == ALaw {
		table = &alawDecode
	}
	for i, b := range src[:n] {
		dst[i] = table[b]
	}
	return n
}

func (l Law) valid() error {
	if l != MuLaw && l != ALaw {
		return fmt.Errorf("g711: unknown law %d", int(l))
	}
	return nil
}

// Encoder encodes 20 ms frames of 48 kHz PCM into 160-byte G.711 payloads. It implements
// codec.AudioEncoder.
//
// Create it with NewEncoder; after Close, Encode returns an error wrapping codec.ErrClosed. An Encoder
// belongs to one goroutine and is not safe for concurrent use. It holds no external resources.
type Encoder struct {
	law    Law
	down   *resample.Down
	low    []int16
	closed bool
}

var _ codec.AudioEncoder = (*Encoder)(nil)

// NewEncoder returns an encoder for law.
func NewEncoder(law Law) (*Encoder, error) {
	if err := law.valid(); err != nil {
		return nil, err
	}
	down, err := resample.NewDown(factor)
	if err != nil {
		return nil, fmt.Errorf("g711: %w", err)
	}
	return &Encoder{law: law, down: down, low: make([]int16, FrameBytes)}, nil
}

// Law returns the encoder's companding law.
func (e *Encoder) Law() Law { return e.law }

// Encode resamples pcm (exactly codec.FrameSamples samples) to 8 kHz and encodes it into dst, which must
// hold FrameBytes bytes. It returns FrameBytes.
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if e.closed {
		return 0, fmt.Errorf("g711 %s: encode: %w", e.law, codec.ErrClosed)
	}
	if len(pcm) != codec.FrameSamples {
		return 0, fmt.Errorf("g711 %s: encode %d samples, want %d: %w", e.law, len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	if len(dst) < FrameBytes {
		return 0, fmt.Errorf("g711 %s: encode into %d bytes, want %d: %w", e.law, len(dst), FrameBytes, codec.ErrFrameSize)
	}
	n := e.down.Process(e.low, pcm)
	return e.law.Encode(dst, e.low[:n]), nil
}

// ClockRate returns 8000, G.711's RTP clock rate.
func (e *Encoder) ClockRate() int { return ClockRate }

// Close marks the encoder closed. It is idempotent and always returns nil.
func (e *Encoder) Close() error {
	e.closed = true
	return nil
}

// Decoder decodes 160-byte G.711 payloads into 20 ms frames of 48 kHz PCM, and conceals lost frames by
// repeating the last one at decreasing volume (four frames, 80 ms) before falling silent. It implements
// codec.AudioDecoder.
//
// Create it with NewDecoder; after Close, Decode and Conceal return errors wrapping codec.ErrClosed. A
// Decoder belongs to one goroutine and is not safe for concurrent use. It holds no external resources.
type Decoder struct {
	law    Law
	up     *resample.Up
	last   []int16 // the last decoded 8 kHz frame
	low    []int16
	lost   int // consecutive concealed frames
	closed bool
}

var _ codec.AudioDecoder = (*Decoder)(nil)

// NewDecoder returns a decoder for law.
func NewDecoder(law Law) (*Decoder, error) {
	if err := law.valid(); err != nil {
		return nil, err
	}
	up, err := resample.NewUp(factor)
	if err != nil {
		return nil, fmt.Errorf("g711: %w", err)
	}
	return &Decoder{law: law, up: up, last: make([]int16, FrameBytes), low: make([]int16, FrameBytes)}, nil
}

// Law returns the decoder's companding law.
func (d *Decoder) Law() Law { return d.law }

// Decode decodes payload, exactly FrameBytes bytes, into pcm (codec.FrameSamples samples). Any byte
// sequence is valid G.711; a payload of another length gives an error wrapping codec.ErrFrameSize and
// leaves pcm untouched.
func (d *Decoder) Decode(payload []byte, pcm []int16) error {
	if d.closed {
		return fmt.Errorf("g711 %s: decode: %w", d.law, codec.ErrClosed)
	}
	if len(payload) != FrameBytes {
		return fmt.Errorf("g711 %s: payload of %d bytes, want %d: %w", d.law, len(payload), FrameBytes, codec.ErrFrameSize)
	}
	if len(pcm) < codec.FrameSamples {
		return fmt.Errorf("g711 %s: decode into %d samples, want %d: %w", d.law, len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	d.law.Decode(d.last, payload)
	d.up.Process(pcm, d.last)
	d.lost = 0
	return nil
}

// Conceal fills pcm (codec.FrameSamples samples) for one lost frame: the last decoded frame again, faded
// from the previous gain to the next so that volume changes are smooth, or silence once the fade is over.
// G.711 carries no redundancy, so next is ignored.
func (d *Decoder) Conceal(next []byte, pcm []int16) error {
	if d.closed {
		return fmt.Errorf("g711 %s: conceal: %w", d.law, codec.ErrClosed)
	}
	if len(pcm) < codec.FrameSamples {
		return fmt.Errorf("g711 %s: conceal into %d samples, want %d: %w", d.law, len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	codec.FadeConceal(d.low, d.last, d.lost)
	d.lost++
	d.up.Process(pcm, d.low)
	return nil
}

// Close marks the decoder closed. It is idempotent and always returns nil.
func (d *Decoder) Close() error {
	d.closed = true
	return nil
}
