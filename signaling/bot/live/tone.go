package live

import (
	"fmt"
	"io"
	"math"

	"github.com/pion/mediadevices/pkg/wave"

	"github.com/openmcu/mcu/codec"
)

// maxAudioLag is how much audio a late Tone catches up: five frames, the depth of the server's input
// ring.
const maxAudioLag = 5 * codec.FrameDuration

// ToneConfig describes a tone. It is plain data.
type ToneConfig struct {
	// Hz is the frequency of the sine; 0 makes silence.
	Hz float64
	// Amplitude is the sine's peak (default 8000, about -12 dBFS).
	Amplitude int16
}

// Validate reports whether the frequency is below the Nyquist frequency of 48 kHz audio.
func (c ToneConfig) Validate() error {
	if c.Hz < 0 || c.Hz >= codec.SampleRate/2 || math.IsNaN(c.Hz) {
		return fmt.Errorf("tone %v Hz: want 0 to %d", c.Hz, codec.SampleRate/2)
	}
	if c.Amplitude < 0 {
		return fmt.Errorf("tone amplitude %d: want positive", c.Amplitude)
	}
	return nil
}

// Tone is a live synthetic microphone for mediadevices: each Read waits for the next 20 ms and returns
// them as 48 kHz mono 16-bit samples of one continuous sine. It implements mediadevices.AudioSource
// (audio.Reader and mediadevices.Source); give it to mediadevices.NewAudioTrack, or use NewToneSource.
//
// A Tone belongs to the goroutine that reads it; Close may be called from another goroutine only when no
// Read is running.
type Tone struct {
	cfg    ToneConfig
	phase  float64
	chunk  *wave.Int16Interleaved // what Read returns, refilled in place
	clock  clock
	closed bool
}

// NewTone prepares a tone. It starts nothing: the first Read starts the clock.
func NewTone(cfg ToneConfig) (*Tone, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Amplitude == 0 {
		cfg.Amplitude = 8000
	}
	return &Tone{cfg: cfg, clock: clock{interval: codec.FrameDuration, maxLag: maxAudioLag}, chunk: wave.NewInt16Interleaved(wave.ChunkInfo{Len: codec.FrameSamples, Channels: 1,
		SamplingRate: codec.SampleRate})}, nil
}

// ID returns "tone:" and the frequency: the mediadevices source ID.
func (t *Tone) ID() string { return fmt.Sprintf("tone:%g", t.cfg.Hz) }

// Read waits for the next 20 ms and returns them, valid until the next Read. The first call returns at
// once. A late Read catches up (returns at once) by up to 100 ms of audio, as a capture device's buffer
// would, so that the stream keeps its rate; beyond that the audio missed is dropped. After Close it
// returns io.EOF.
func (t *Tone) Read() (wave.Audio, func(), error) {
	if t.closed {
		return nil, func() {}, io.EOF
	}
	t.clock.wait()
	t.fill(t.chunk.Data)
	return t.chunk, func() {}, nil
}

// fill writes the next len(pcm) samples of the sine, continuing its phase.
func (t *Tone) fill(pcm []int16) {
	step := 2 * math.Pi * t.cfg.Hz / codec.SampleRate
	amp := float64(t.cfg.Amplitude)
	for i := range pcm {
		pcm[i] = int16(math.Round(amp * math.Sin(t.phase+step*float64(i))))
	}
	t.phase = math.Mod(t.phase+step*float64(len(pcm)), 2*math.Pi)
}

// Close stops the clock; later Reads return io.EOF. It is idempotent.
func (t *Tone) Close() error {
	t.clock.stop()
	t.closed = true
	return nil
}
