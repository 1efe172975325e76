package aac

import (
	"fmt"
	"time"

	"github.com/openmcu/mcu/codec"
)

const (
	// SampleRate is the sample rate of the encoded audio in Hz: the server's own, so nothing is resampled.
	SampleRate = codec.SampleRate
	// Channels is the number of encoded channels (mono).
	Channels = 1
	// FrameSamples is the number of samples one AAC-LC access unit codes.
	FrameSamples = 1024
	// DefaultBitrate is the bitrate of an Encoder made without WithBitrate, in bit/s.
	DefaultBitrate = 64_000
	// MinBitrate and MaxBitrate bound WithBitrate, in bit/s.
	MinBitrate = 16_000
	MaxBitrate = 256_000
)

// maxAUs is the most access units one Encode or Flush returns.
const maxAUs = 8

// AccessUnit is one AAC-LC access unit (a raw_data_block, without ADTS header), as MP4 and RTMP carry it.
type AccessUnit struct {
	// PTS is the presentation time of the unit's first sample, in samples at SampleRate, on the time line
	// of the encoder's input: input sample i is presented at i. The first units, which hold the encoder's
	// priming, have negative times (the first one -Delay()).
	PTS int64
	// Samples is how many samples the unit presents: FrameSamples, or fewer for the last unit of Flush.
	Samples int
	// Data is the payload. It views the encoder's own buffer and is valid until the next Encode, Flush or
	// Close.
	Data []byte
}

// Time returns PTS as a duration (rounded to the nanosecond): input sample 0 is at time 0.
func (au AccessUnit) Time() time.Duration { return SamplesToDuration(au.PTS) }

// SamplesToDuration converts a number of samples at SampleRate to a duration, rounded to the nanosecond.
// It is exact to within half a nanosecond and safe for concurrent use.
func SamplesToDuration(n int64) time.Duration {
	sec, rem := n/SampleRate, n%SampleRate
	ns := (rem*int64(time.Second) + SampleRate/2) / SampleRate
	if rem < 0 {
		ns = (rem*int64(time.Second) - SampleRate/2) / SampleRate
	}
	return time.Duration(sec)*time.Second + time.Duration(ns)
}

// Option changes how NewEncoder sets up an Encoder.
type Option func(*options)

type options struct{ bitrate int }

// WithBitrate sets the target bitrate in bit/s (MinBitrate..MaxBitrate; DefaultBitrate without it).
func WithBitrate(bitrate int) Option { return func(o *options) { o.bitrate = bitrate } }

// Encoder encodes the server's 48 kHz mono PCM to AAC-LC access units with libavcodec's native encoder:
// one thread, constant bitrate target, 1024 samples per unit, Delay() samples of priming.
//
// Create it with NewEncoder and free it with Close (a cleanup frees it if it becomes unreachable, but do
// not rely on that). After Close, or after Flush, Encode returns an error wrapping codec.ErrClosed.
// Encoding allocates nothing; the returned access units are valid until the next call. An Encoder
// belongs to one goroutine; it is not safe for concurrent use.
type Encoder struct {
	lib     *libEncoder
	bitrate int
	aus     [maxAUs]AccessUnit
	flushed bool
}

// NewEncoder opens an AAC-LC encoder for mono audio at SampleRate.
func NewEncoder(opts ...Option) (*Encoder, error) {
	o := options{bitrate: DefaultBitrate}
	for _, opt := range opts {
		opt(&o)
	}
	if o.bitrate < MinBitrate || o.bitrate > MaxBitrate {
		return nil, fmt.Errorf("aac: bitrate %d out of range %d..%d", o.bitrate, MinBitrate, MaxBitrate)
	}
	lib, err := newLibEncoder(SampleRate, o.bitrate)
	if err != nil {
		return nil, fmt.Errorf("aac: open encoder at %d bit/s: %w", o.bitrate, err)
	}
	if len(lib.asc) < 2 || lib.asc[0]>>3 != 2 {
		lib.close()
		return nil, fmt.Errorf("aac: encoder's AudioSpecificConfig % x is not AAC-LC", lib.asc)
	}
	return &Encoder{lib: lib, bitrate: o.bitrate}, nil
}

// Encode queues pcm (any number of samples up to 3072; normally one codec.FrameSamples frame) and
// returns the access units that became complete: zero or one for a 20 ms frame. The units and their Data
// are valid until the next Encode, Flush or Close.
func (e *Encoder) Encode(pcm []int16) ([]AccessUnit, error) {
	if e.lib.closed() || e.flushed {
		return nil, fmt.Errorf("aac: encode: %w", codec.ErrClosed)
	}
	if len(pcm) > maxInput {
		return nil, fmt.Errorf("aac: encode %d samples, at most %d at once: %w", len(pcm), maxInput, codec.ErrFrameSize)
	}
	n, err := e.lib.encode(pcm, &e.aus)
	if err != nil {
		return nil, fmt.Errorf("aac: encode %d samples: %w", len(pcm), err)
	}
	return e.aus[:n], nil
}

// Flush encodes the samples still queued (padded to a whole unit whose Samples says how many count) and
// returns the encoder's last access units. It ends the stream: Encode fails afterwards and a second Flush
// returns nothing. The units are valid until the next call or Close.
func (e *Encoder) Flush() ([]AccessUnit, error) {
	if e.lib.closed() {
		return nil, fmt.Errorf("aac: flush: %w", codec.ErrClosed)
	}
	if e.flushed {
		return nil, nil
	}
	e.flushed = true
	n, err := e.lib.flush(&e.aus)
	if err != nil {
		return nil, fmt.Errorf("aac: flush: %w", err)
	}
	return e.aus[:n], nil
}

// Delay returns the encoder's priming in samples (1024 for libavcodec's AAC-LC): the first access unit
// is presented at -Delay(), and the decoded output of the stream from its first unit lags the input by
// this much.
func (e *Encoder) Delay() int { return e.lib.delay }

// AudioSpecificConfig returns the two-byte AudioSpecificConfig (ISO 14496-3 1.6.2.1: AAC-LC, 48 kHz,
// one channel) that MP4's esds box and RTMP's AAC sequence header carry. It returns a new slice.
func (e *Encoder) AudioSpecificConfig() []byte { return []byte{e.lib.asc[0], e.lib.asc[1]} }

// Bitrate returns the target bitrate in bit/s.
func (e *Encoder) Bitrate() int { return e.bitrate }

// Close frees the encoder. It is idempotent and always returns nil. Access units returned earlier become
// invalid.
func (e *Encoder) Close() error {
	e.lib.close()
	e.aus = [maxAUs]AccessUnit{}
	return nil
}
