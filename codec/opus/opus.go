// Package opus encodes and decodes Opus (RFC 6716) through libopus, by way of gopkg.in/hraban/opus.v2:
// 48 kHz mono, 20 ms frames, VoIP application, with in-band forward error correction (FEC) and packet loss
// concealment (PLC) for lost packets.
//
// Encoder implements codec.AudioEncoder and Decoder implements codec.AudioDecoder. Each belongs to one
// goroutine. libopus keeps its state in Go memory, so there is no C allocation to free: Close only marks
// the object unusable. Build with -tags nolibopusfile so that libopus-dev alone suffices.
package opus

import (
	"errors"
	"fmt"

	"github.com/openmcu/mcu/codec"
	hopus "gopkg.in/hraban/opus.v2"
)

// ClockRate is the RTP clock rate of Opus (RFC 7587), whatever the coded bandwidth.
const ClockRate = 48000

// MaxPacketSize is the largest payload one Encode can produce; a dst of this length always suffices.
const MaxPacketSize = 1275

// maxPacketSamples is the longest audio one Opus packet can carry: 120 ms at 48 kHz.
const maxPacketSamples = 120 * codec.SampleRate / 1000

// EncoderConfig holds the encoder settings. The zero value is not valid; start from DefaultEncoderConfig.
// It is a plain value, safe to copy and share.
type EncoderConfig struct {
	// Bitrate is the target bitrate in bits per second (500 to 512000).
	Bitrate int `json:"bitrate"`
	// Complexity trades CPU for quality, 0 (cheapest) to 10 (best).
	Complexity int `json:"complexity"`
	// PacketLoss is the expected packet loss in percent (0 to 100). With FEC it sets how much redundancy
	// the encoder spends.
	PacketLoss int `json:"packet_loss"`
	// FEC turns in-band forward error correction on: each packet also carries a coarse copy of the
	// previous one, which Decoder.Conceal recovers when that previous packet was lost.
	FEC bool `json:"fec"`
}

// DefaultEncoderConfig returns the settings for voice in a conference: 32 kbit/s, complexity 5, FEC on
// for an expected 10 % loss.
func DefaultEncoderConfig() EncoderConfig {
	return EncoderConfig{Bitrate: 32000, Complexity: 5, PacketLoss: 10, FEC: true}
}

// Validate reports whether every field is in range.
func (c EncoderConfig) Validate() error {
	var errs []error
	if c.Bitrate < 500 || c.Bitrate > 512000 {
		errs = append(errs, fmt.Errorf("opus: bitrate %d bit/s not in [500, 512000]", c.Bitrate))
	}
	if c.Complexity < 0 || c.Complexity > 10 {
		errs = append(errs, fmt.Errorf("opus: complexity %d not in [0, 10]", c.Complexity))
	}
	if c.PacketLoss < 0 || c.PacketLoss > 100 {
		errs = append(errs, fmt.Errorf("opus: packet loss %d %% not in [0, 100]", c.PacketLoss))
	}
	return errors.Join(errs...)
}

// Encoder encodes 20 ms frames of 48 kHz mono PCM into Opus packets. It implements codec.AudioEncoder.
//
// Create it with NewEncoder; after Close every method returns an error wrapping codec.ErrClosed. An
// Encoder belongs to one goroutine and is not safe for concurrent use.
type Encoder struct {
	enc *hopus.Encoder
	cfg EncoderConfig
}

var _ codec.AudioEncoder = (*Encoder)(nil)

// NewEncoder returns an encoder with the given settings (see DefaultEncoderConfig).
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, err := hopus.NewEncoder(codec.SampleRate, 1, hopus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opus: new encoder: %w", err)
	}
	e := &Encoder{enc: enc, cfg: cfg}
	if err := e.apply(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Encoder) apply() error {
	if err := e.enc.SetBitrate(e.cfg.Bitrate); err != nil {
		return fmt.Errorf("opus: set bitrate %d: %w", e.cfg.Bitrate, err)
	}
	if err := e.enc.SetComplexity(e.cfg.Complexity); err != nil {
		return fmt.Errorf("opus: set complexity %d: %w", e.cfg.Complexity, err)
	}
	if err := e.enc.SetInBandFEC(e.cfg.FEC); err != nil {
		return fmt.Errorf("opus: set in-band fec %t: %w", e.cfg.FEC, err)
	}
	if err := e.enc.SetPacketLossPerc(e.cfg.PacketLoss); err != nil {
		return fmt.Errorf("opus: set packet loss %d %%: %w", e.cfg.PacketLoss, err)
	}
	return nil
}

// Config returns the encoder's current settings, including changes made with SetBitrate and
// SetPacketLoss.
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// Encode encodes pcm, exactly codec.FrameSamples samples, into dst and returns the payload length. dst
// should be MaxPacketSize bytes long; a shorter one may make Encode fail. Encode never writes beyond
// len(dst).
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if e.enc == nil {
		return 0, fmt.Errorf("opus: encode: %w", codec.ErrClosed)
	}
	if len(pcm) != codec.FrameSamples {
		return 0, fmt.Errorf("opus: encode %d samples, want %d: %w", len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	if len(dst) == 0 {
		return 0, fmt.Errorf("opus: encode into an empty buffer: %w", hopus.ErrBufferTooSmall)
	}
	// hraban/opus writes up to cap(dst): cap it at len(dst).
	n, err := e.enc.Encode(pcm, dst[:len(dst):len(dst)])
	if err != nil {
		return 0, fmt.Errorf("opus: encode: %w", err)
	}
	return n, nil
}

// SetBitrate changes the target bitrate, in bits per second (500 to 512000), from the next frame on.
func (e *Encoder) SetBitrate(bitrate int) error {
	if e.enc == nil {
		return fmt.Errorf("opus: set bitrate: %w", codec.ErrClosed)
	}
	cfg := e.cfg
	cfg.Bitrate = bitrate
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := e.enc.SetBitrate(bitrate); err != nil {
		return fmt.Errorf("opus: set bitrate %d: %w", bitrate, err)
	}
	e.cfg = cfg
	return nil
}

// SetPacketLoss tells the encoder the packet loss to expect, in percent (0 to 100), for example from
// RTCP receiver reports. With FEC on, more expected loss buys more redundancy at the expense of quality.
func (e *Encoder) SetPacketLoss(percent int) error {
	if e.enc == nil {
		return fmt.Errorf("opus: set packet loss: %w", codec.ErrClosed)
	}
	cfg := e.cfg
	cfg.PacketLoss = percent
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := e.enc.SetPacketLossPerc(percent); err != nil {
		return fmt.Errorf("opus: set packet loss %d %%: %w", percent, err)
	}
	e.cfg = cfg
	return nil
}

// ClockRate returns 48000, the RTP clock rate of Opus.
func (e *Encoder) ClockRate() int { return ClockRate }

// Close releases the encoder. It is idempotent and always returns nil.
func (e *Encoder) Close() error {
	e.enc = nil
	return nil
}

// Decoder decodes Opus packets into 20 ms frames of 48 kHz mono PCM and conceals lost packets. It
// implements codec.AudioDecoder.
//
// Create it with NewDecoder; after Close every method returns an error wrapping codec.ErrClosed. A
// Decoder belongs to one goroutine and is not safe for concurrent use.
type Decoder struct {
	dec *hopus.Decoder
	buf []int16 // maxPacketSamples, so that no packet can overflow it
}

var _ codec.AudioDecoder = (*Decoder)(nil)

// NewDecoder returns a decoder for 48 kHz mono.
func NewDecoder() (*Decoder, error) {
	dec, err := hopus.NewDecoder(codec.SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("opus: new decoder: %w", err)
	}
	return &Decoder{dec: dec, buf: make([]int16, maxPacketSamples)}, nil
}

// PacketSamples returns the number of 48 kHz samples an Opus packet carries, read from its TOC byte
// (RFC 6716 section 3.1) without decoding it, or an error wrapping codec.ErrCorrupt if the header is
// malformed. It is safe for concurrent use.
func PacketSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("opus: empty packet: %w", codec.ErrCorrupt)
	}
	toc := packet[0]
	cfg := int(toc >> 3)
	var per int // samples per frame at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		per = [4]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		per = [2]int{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = [4]int{120, 240, 480, 960}[cfg&3]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, fmt.Errorf("opus: code 3 packet without frame count: %w", codec.ErrCorrupt)
		}
		frames = int(packet[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("opus: code 3 packet with 0 frames: %w", codec.ErrCorrupt)
		}
	}
	if n := frames * per; n <= maxPacketSamples {
		return n, nil
	}
	return 0, fmt.Errorf("opus: packet of %d frames of %d samples exceeds 120 ms: %w", frames, per, codec.ErrCorrupt)
}

// Decode decodes one packet into pcm, which must hold codec.FrameSamples samples.
//
// A packet that libopus rejects gives an error wrapping codec.ErrCorrupt and leaves pcm untouched; call
// Conceal for that frame instead. A valid packet of another duration than 20 ms (Opus allows 2.5 to 120
// ms) is decoded in full, to keep the decoder's state in step, but only its first 20 ms reach pcm (padded
// with silence if shorter) and Decode returns an error wrapping codec.ErrFrameSize.
func (d *Decoder) Decode(payload []byte, pcm []int16) error {
	if d.dec == nil {
		return fmt.Errorf("opus: decode: %w", codec.ErrClosed)
	}
	if len(pcm) < codec.FrameSamples {
		return fmt.Errorf("opus: decode into %d samples, want %d: %w", len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	if len(payload) == 0 {
		return fmt.Errorf("opus: decode empty payload: %w", codec.ErrCorrupt)
	}
	// hraban/opus decodes up to cap(pcm) samples: give it a buffer no packet can overflow.
	n, err := d.dec.Decode(payload, d.buf[:maxPacketSamples:maxPacketSamples])
	if err != nil {
		return fmt.Errorf("opus: decode %d bytes: %w: %w", len(payload), codec.ErrCorrupt, err)
	}
	copy(pcm[:codec.FrameSamples], d.buf[:min(n, codec.FrameSamples)])
	if n != codec.FrameSamples {
		clear(pcm[min(n, codec.FrameSamples):codec.FrameSamples])
		return fmt.Errorf("opus: packet of %d samples, want %d: %w", n, codec.FrameSamples, codec.ErrFrameSize)
	}
	return nil
}

// Conceal fills pcm (codec.FrameSamples samples) for one lost 20 ms packet. If next, the packet after the
// lost one, is not nil, its in-band FEC data rebuilds the lost frame (libopus falls back to PLC when next
// carries none); the caller then still decodes next itself with Decode. Without next, or if next is
// undecodable, it extrapolates from the audio decoded so far (PLC).
func (d *Decoder) Conceal(next []byte, pcm []int16) error {
	if d.dec == nil {
		return fmt.Errorf("opus: conceal: %w", codec.ErrClosed)
	}
	if len(pcm) < codec.FrameSamples {
		return fmt.Errorf("opus: conceal into %d samples, want %d: %w", len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	// libopus takes the length of the gap from the buffer size: exactly one frame.
	out := d.buf[:codec.FrameSamples:codec.FrameSamples]
	if len(next) > 0 {
		if err := d.dec.DecodeFEC(next, out); err == nil {
			copy(pcm, out)
			return nil
		}
	}
	if err := d.dec.DecodePLC(out); err != nil {
		return fmt.Errorf("opus: conceal: %w", err)
	}
	copy(pcm, out)
	return nil
}

// Close releases the decoder. It is idempotent and always returns nil.
func (d *Decoder) Close() error {
	d.dec = nil
	return nil
}
