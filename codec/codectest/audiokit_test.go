package codectest

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// l16 is a lossless fake codec for the kit's own test: 20 ms frames as 16-bit little-endian PCM at 48
// kHz, concealed with codec.FadeConceal. It must pass every audio check.
type l16 struct {
	last   []int16
	lost   int
	closed bool
}

const l16Bytes = 2 * codec.FrameSamples

func (c *l16) check(what string, samples, want int) error {
	if c.closed {
		return fmt.Errorf("l16: %s: %w", what, codec.ErrClosed)
	}
	if samples < want {
		return fmt.Errorf("l16: %s %d, want %d: %w", what, samples, want, codec.ErrFrameSize)
	}
	return nil
}

func (c *l16) Encode(pcm []int16, dst []byte) (int, error) {
	if len(pcm) != codec.FrameSamples {
		return 0, fmt.Errorf("l16: encode %d samples: %w", len(pcm), codec.ErrFrameSize)
	}
	if err := c.check("encode into", len(dst), l16Bytes); err != nil {
		return 0, err
	}
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(s))
	}
	return l16Bytes, nil
}

func (c *l16) Decode(payload []byte, pcm []int16) error {
	if err := c.check("decode into", len(pcm), codec.FrameSamples); err != nil {
		return err
	}
	if len(payload) != l16Bytes {
		return fmt.Errorf("l16: payload of %d bytes: %w", len(payload), codec.ErrFrameSize)
	}
	for i := range c.last {
		c.last[i] = int16(binary.LittleEndian.Uint16(payload[2*i:]))
	}
	copy(pcm, c.last)
	c.lost = 0
	return nil
}

func (c *l16) Conceal(_ []byte, pcm []int16) error {
	if err := c.check("conceal into", len(pcm), codec.FrameSamples); err != nil {
		return err
	}
	codec.FadeConceal(pcm[:codec.FrameSamples], c.last, c.lost)
	c.lost++
	return nil
}

func (c *l16) ClockRate() int { return codec.SampleRate }

func (c *l16) Close() error {
	c.closed = true
	return nil
}

func newL16() *l16 { return &l16{last: make([]int16, codec.FrameSamples)} }

var l16Case = AudioCodecCase{
	Name:           "L16",
	NewEncoder:     func() (codec.AudioEncoder, error) { return newL16(), nil },
	NewDecoder:     func() (codec.AudioDecoder, error) { return newL16(), nil },
	ClockRate:      codec.SampleRate,
	FrameBytes:     l16Bytes,
	Amplitude:      10000,
	LevelTolerance: 0.1,
}

// TestAudioKit runs every audio check on a lossless codec: none may fail it.
func TestAudioKit(t *testing.T) {
	t.Run("ToneRoundTrip", func(t *testing.T) { CheckToneRoundTrip(t, l16Case, 440, 1000, 15000) })
	t.Run("PLC", func(t *testing.T) { CheckPLC(t, l16Case, 440, 1000) })
	t.Run("FadeConceal", func(t *testing.T) { CheckFadeConceal(t, l16Case) })
	t.Run("FrameSizes", func(t *testing.T) { CheckFrameSizes(t, l16Case) })
	t.Run("Close", func(t *testing.T) { CheckClose(t, l16Case) })
	t.Run("CorruptPayloads", func(t *testing.T) { CheckCorruptPayloads(t, l16Case) })
}
