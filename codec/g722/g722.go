// Package g722 encodes and decodes ITU-T G.722 wideband audio (64 kbit/s, 16 kHz sampling) through
// libavcodec's native codec (AV_CODEC_ID_ADPCM_G722).
//
// Encoder and Decoder bridge the internal 48 kHz frames and G.722's 16 kHz through codec/resample: one
// 20 ms frame is 320 samples at 16 kHz, coded in 160 bytes. They implement codec.AudioEncoder and
// codec.AudioDecoder. The RTP clock rate is 8000 Hz although the codec samples at 16 kHz (RFC 3551,
// section 4.5.2).
//
// Each Encoder and Decoder owns one libavcodec context, allocated with its AVFrame and AVPacket once in
// the constructor and freed by Close (idempotent) or, as a backstop, when the garbage collector finds it
// unreachable. Without cgo the constructors return an error wrapping errors.ErrUnsupported.
package g722

import (
	"fmt"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/resample"
)

const (
	// ClockRate is G.722's RTP clock rate in Hz (RFC 3551), half its sample rate.
	ClockRate = 8000
	// SampleRate is the rate at which G.722 samples audio, in Hz.
	SampleRate = 16000
	// FrameBytes is the payload size of 20 ms at 64 kbit/s.
	FrameBytes = 160
	// frameSamples is the number of 16 kHz samples in 20 ms.
	frameSamples = SampleRate / 50
	// factor is the resampling factor between codec.SampleRate and SampleRate.
	factor = codec.SampleRate / SampleRate
)

// Encoder encodes 20 ms frames of 48 kHz PCM into 160-byte G.722 payloads. It implements
// codec.AudioEncoder.
//
// Create it with NewEncoder and Close it when done; after Close, Encode returns an error wrapping
// codec.ErrClosed. An Encoder belongs to one goroutine and is not safe for concurrent use.
type Encoder struct {
	lib  *libEncoder
	down *resample.Down
	wide []int16 // one frame at 16 kHz
}

var _ codec.AudioEncoder = (*Encoder)(nil)

// NewEncoder returns a G.722 encoder at 64 kbit/s.
func NewEncoder() (*Encoder, error) {
	down, err := resample.NewDown(factor)
	if err != nil {
		return nil, fmt.Errorf("g722: %w", err)
	}
	lib, err := newLibEncoder()
	if err != nil {
		return nil, fmt.Errorf("g722: new encoder: %w", err)
	}
	return &Encoder{lib: lib, down: down, wide: make([]int16, frameSamples)}, nil
}

// Encode resamples pcm (exactly codec.FrameSamples samples) to 16 kHz and encodes it into dst, which must
// hold FrameBytes bytes. It returns FrameBytes.
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if e.lib.closed() {
		return 0, fmt.Errorf("g722: encode: %w", codec.ErrClosed)
	}
	if len(pcm) != codec.FrameSamples {
		return 0, fmt.Errorf("g722: encode %d samples, want %d: %w", len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	if len(dst) < FrameBytes {
		return 0, fmt.Errorf("g722: encode into %d bytes, want %d: %w", len(dst), FrameBytes, codec.ErrFrameSize)
	}
	e.down.Process(e.wide, pcm)
	n, err := e.lib.encode(e.wide, dst)
	if err != nil {
		return 0, fmt.Errorf("g722: encode: %w", err)
	}
	return n, nil
}

// ClockRate returns 8000, G.722's RTP clock rate.
func (e *Encoder) ClockRate() int { return ClockRate }

// Close frees the libavcodec encoder. It is idempotent and always returns nil.
func (e *Encoder) Close() error {
	e.lib.close()
	return nil
}

// Decoder decodes 160-byte G.722 payloads into 20 ms frames of 48 kHz PCM, and conceals lost frames by
// repeating the last one at decreasing volume (four frames, 80 ms) before falling silent. It implements
// codec.AudioDecoder.
//
// Create it with NewDecoder and Close it when done; after Close, Decode and Conceal return errors
// wrapping codec.ErrClosed. A Decoder belongs to one goroutine and is not safe for concurrent use.
type Decoder struct {
	lib  *libDecoder
	up   *resample.Up
	last []int16 // the last decoded frame at 16 kHz
	wide []int16
	lost int // consecutive concealed frames
}

var _ codec.AudioDecoder = (*Decoder)(nil)

// NewDecoder returns a G.722 decoder for 64 kbit/s payloads.
func NewDecoder() (*Decoder, error) {
	up, err := resample.NewUp(factor)
	if err != nil {
		return nil, fmt.Errorf("g722: %w", err)
	}
	lib, err := newLibDecoder()
	if err != nil {
		return nil, fmt.Errorf("g722: new decoder: %w", err)
	}
	return &Decoder{lib: lib, up: up, last: make([]int16, frameSamples), wide: make([]int16, frameSamples)}, nil
}

// Decode decodes payload, exactly FrameBytes bytes, into pcm (codec.FrameSamples samples). Every byte
// sequence is a valid G.722 bitstream; a payload of another length gives an error wrapping
// codec.ErrFrameSize and leaves pcm untouched.
func (d *Decoder) Decode(payload []byte, pcm []int16) error {
	if d.lib.closed() {
		return fmt.Errorf("g722: decode: %w", codec.ErrClosed)
	}
	if len(payload) != FrameBytes {
		return fmt.Errorf("g722: payload of %d bytes, want %d: %w", len(payload), FrameBytes, codec.ErrFrameSize)
	}
	if len(pcm) < codec.FrameSamples {
		return fmt.Errorf("g722: decode into %d samples, want %d: %w", len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	n, err := d.lib.decode(payload, d.last)
	if err != nil {
		return fmt.Errorf("g722: decode %d bytes: %w: %w", len(payload), codec.ErrCorrupt, err)
	}
	if n != frameSamples {
		return fmt.Errorf("g722: decoded %d samples, want %d: %w", n, frameSamples, codec.ErrCorrupt)
	}
	d.up.Process(pcm, d.last)
	d.lost = 0
	return nil
}

// Conceal fills pcm (codec.FrameSamples samples) for one lost frame: the last decoded frame again, faded
// from the previous gain to the next so that volume changes are smooth, or silence once the fade is over.
// G.722 carries no redundancy, so next is ignored.
func (d *Decoder) Conceal(next []byte, pcm []int16) error {
	if d.lib.closed() {
		return fmt.Errorf("g722: conceal: %w", codec.ErrClosed)
	}
	if len(pcm) < codec.FrameSamples {
		return fmt.Errorf("g722: conceal into %d samples, want %d: %w", len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	codec.FadeConceal(d.wide, d.last, d.lost)
	d.lost++
	d.up.Process(pcm, d.wide)
	return nil
}

// Close frees the libavcodec decoder. It is idempotent and always returns nil.
func (d *Decoder) Close() error {
	d.lib.close()
	return nil
}
