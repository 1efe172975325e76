package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// AudioCodecCase describes one audio codec to the conformance checks: how to build its encoder and
// decoder, its payloads, and how faithful its round trip must be. The test of each codec package fills
// one in. An AudioCodecCase holds only functions and numbers: copy it freely (for example once per
// bitrate); it is safe for concurrent use if its functions are.
type AudioCodecCase struct {
	// Name names the codec in failure messages ("PCMU", "G722", "opus 32 kbit/s").
	Name string
	// NewEncoder returns a new encoder. When it returns an error its encoder result is ignored, so a
	// constructor that returns a concrete type can be returned as is: return g711.NewEncoder(law).
	NewEncoder func() (codec.AudioEncoder, error)
	// NewDecoder returns a new decoder; its result is ignored with an error, as with NewEncoder.
	NewDecoder func() (codec.AudioDecoder, error)
	// ClockRate is the RTP clock rate the encoder must report, in Hz.
	ClockRate int
	// FrameBytes is the size of every payload of a codec with fixed-size payloads (160 for G.711 and
	// G.722): Encode must return it, Decode must accept every payload of this size and refuse every
	// other with codec.ErrFrameSize. Zero for a codec with payloads of varying size.
	FrameBytes int
	// MaxPayload is the size of the buffer Encode gets; FrameBytes when zero.
	MaxPayload int
	// Amplitude is the peak amplitude of the test tones.
	Amplitude int16
	// Settle is how many frames of a round trip are left out of its measurement while the codec
	// settles.
	Settle int
	// LevelTolerance is how far, in dB, a decoded tone's level may be from the input's.
	LevelTolerance float64
	// Cutoff, if not zero, is the frequency in Hz above which every spectral line of a decoded tone must
	// be at least 50 dB below the tone (the band limit of a narrow-band codec).
	Cutoff float64
}

// Encoder returns an encoder from ac.NewEncoder, closed when tb's test ends, and fails tb if there is
// none; see Open for builds without cgo.
func (ac AudioCodecCase) Encoder(tb testing.TB) codec.AudioEncoder {
	tb.Helper()
	enc, err := ac.NewEncoder()
	return closing(tb, ac.Name+" encoder", enc, err)
}

// Decoder returns a decoder from ac.NewDecoder, closed when tb's test ends, and fails tb if there is
// none; see Open for builds without cgo.
func (ac AudioCodecCase) Decoder(tb testing.TB) codec.AudioDecoder {
	tb.Helper()
	dec, err := ac.NewDecoder()
	return closing(tb, ac.Name+" decoder", dec, err)
}

// payloadBuffer returns a buffer for one payload from Encode.
func (ac AudioCodecCase) payloadBuffer() []byte {
	return make([]byte, max(ac.MaxPayload, ac.FrameBytes))
}

// EncodeTone encodes frames 20 ms frames of one continuous tone of freq Hz at ac.Amplitude with a new
// encoder, failing tb on any error and, for fixed-size payloads, on any other size. It returns copies of
// the payloads and the input PCM.
func EncodeTone(tb testing.TB, ac AudioCodecCase, freq float64, frames int) (payloads [][]byte, input []int16) {
	tb.Helper()
	enc := ac.Encoder(tb)
	buf := ac.payloadBuffer()
	var ph float64
	for i := range frames {
		pcm := Tone(freq, ac.Amplitude, codec.FrameSamples, codec.SampleRate, &ph)
		n, err := enc.Encode(pcm, buf)
		if err != nil || (ac.FrameBytes != 0 && n != ac.FrameBytes) {
			tb.Fatalf("%s Encode frame %d of %g Hz = %d, %v; want %d bytes", ac.Name, i, freq, n, err, ac.FrameBytes)
		}
		payloads = append(payloads, bytes.Clone(buf[:n]))
		input = append(input, pcm...)
	}
	return payloads, input
}

// decodeAll decodes payloads in order with dec and returns the PCM, failing tb on any error.
func decodeAll(tb testing.TB, name string, dec codec.AudioDecoder, payloads [][]byte) []int16 {
	tb.Helper()
	var out []int16
	pcm := make([]int16, codec.FrameSamples)
	for i, p := range payloads {
		if err := dec.Decode(p, pcm); err != nil {
			tb.Fatalf("%s Decode frame %d (%d bytes): %v", name, i, len(p), err)
		}
		out = append(out, pcm...)
	}
	return out
}

// RMS returns the root mean square of pcm: 0 for silence, about 0.707 times the amplitude of a sine.
func RMS(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(len(pcm), 1)))
}

// CheckToneRoundTrip encodes and decodes ac.Settle+50 frames of a tone at each of freqs (one subtest per
// frequency) and measures the last second: its spectrum must peak at the tone (within a bin, 1 Hz), at a
// level within ac.LevelTolerance of the input's, at least 30 dB above any line farther than 20 Hz from
// it, and, if ac.Cutoff is set, at least 50 dB above anything beyond the cutoff.
func CheckToneRoundTrip(t *testing.T, ac AudioCodecCase, freqs ...float64) {
	t.Helper()
	for _, freq := range freqs {
		t.Run(fmt.Sprintf("%gHz", freq), func(t *testing.T) {
			payloads, _ := EncodeTone(t, ac, freq, ac.Settle+50)
			out := decodeAll(t, ac.Name, ac.Decoder(t), payloads)[ac.Settle*codec.FrameSamples:]
			in := LevelDB(Tone(freq, ac.Amplitude, len(out), codec.SampleRate, nil), codec.SampleRate, freq)
			sp := NewSpectrum(out, codec.SampleRate)
			level, rest := sp.Level(freq), sp.MaxOutside(20, freq)
			t.Logf("%s %g Hz: in %.1f dB, out %.1f dB, rest %.1f dB, median %.1f dB", ac.Name, freq, in, level, rest, sp.Median())
			if p := sp.Peak(); p < freq-sp.BinHz() || p > freq+sp.BinHz() {
				t.Errorf("%s %g Hz: peak at %g Hz", ac.Name, freq, p)
			}
			if math.Abs(level-in) > ac.LevelTolerance {
				t.Errorf("%s %g Hz: level %.1f dB, input %.1f dB, want within %g dB", ac.Name, freq, level, in, ac.LevelTolerance)
			}
			if level-rest < 30 {
				t.Errorf("%s %g Hz: tone %.1f dB only %.1f dB above the rest of the spectrum", ac.Name, freq, level, level-rest)
			}
			if ac.Cutoff == 0 {
				return
			}
			if hf := sp.MaxOutside(ac.Cutoff, 0); level-hf < 50 {
				t.Errorf("%s %g Hz: %.1f dB above %g Hz, only %.1f dB below the tone", ac.Name, freq, hf, ac.Cutoff, level-hf)
			}
		})
	}
}

// CheckPLC decodes 30 frames of a tone at each of freqs (one subtest per frequency) and then conceals one
// lost frame with nothing to recover it from, Conceal(nil, pcm): the decoder must extrapolate the tone,
// not fall silent. The concealed frame must peak at the tone, within a bin (50 Hz), at a level at most 10
// dB below the last decoded frame's.
func CheckPLC(t *testing.T, ac AudioCodecCase, freqs ...float64) {
	t.Helper()
	for _, freq := range freqs {
		t.Run(fmt.Sprintf("%gHz", freq), func(t *testing.T) {
			payloads, _ := EncodeTone(t, ac, freq, 30)
			dec := ac.Decoder(t)
			out := decodeAll(t, ac.Name, dec, payloads)
			tone := LevelDB(out[len(out)-codec.FrameSamples:], codec.SampleRate, freq)
			pcm := make([]int16, codec.FrameSamples)
			if err := dec.Conceal(nil, pcm); err != nil {
				t.Fatalf("%s Conceal(nil): %v", ac.Name, err)
			}
			sp := NewSpectrum(pcm, codec.SampleRate)
			t.Logf("%s: last frame %.1f dB, PLC %.1f dB, peak %g Hz", ac.Name, tone, sp.Level(freq), sp.Peak())
			if p := sp.Peak(); p < freq-sp.BinHz() || p > freq+sp.BinHz() {
				t.Errorf("%s PLC after %g Hz peaks at %g Hz", ac.Name, freq, p)
			}
			if l := sp.Level(freq); l < tone-10 {
				t.Errorf("%s PLC after %g Hz at %.1f dB: level %.1f dB, want within 10 dB", ac.Name, freq, tone, l)
			}
		})
	}
}

// CheckFadeConceal checks the concealment of codecs without their own (codec.FadeConceal): before any
// Decode, Conceal gives silence; after a 440 Hz tone, each of codec.FadeConcealFrames concealed frames is
// quieter than the one before but not silent, the next quieter still, and from the one after it on they
// are silent. Decoding then resumes (the tone is back at -16 dB or louder after 5 frames) and a new loss
// restarts the fade (RMS at least a quarter of the tone's amplitude).
func CheckFadeConceal(t *testing.T, ac AudioCodecCase) {
	t.Helper()
	enc, dec := ac.Encoder(t), ac.Decoder(t)
	var ph float64
	payload := ac.payloadBuffer()
	pcm := make([]int16, codec.FrameSamples)
	decodeTone := func(frames int) {
		t.Helper()
		for i := range frames {
			n, err := enc.Encode(Tone(440, ac.Amplitude, codec.FrameSamples, codec.SampleRate, &ph), payload)
			if err != nil {
				t.Fatalf("%s Encode frame %d: %v", ac.Name, i, err)
			}
			if err := dec.Decode(payload[:n], pcm); err != nil {
				t.Fatalf("%s Decode frame %d: %v", ac.Name, i, err)
			}
		}
	}
	if err := dec.Conceal(nil, pcm); err != nil {
		t.Fatal(err)
	}
	if r := RMS(pcm); r != 0 {
		t.Errorf("%s Conceal before any Decode: RMS %g, want silence", ac.Name, r)
	}
	decodeTone(10)
	prev := RMS(pcm)
	for k := range codec.FadeConcealFrames + 3 {
		if err := dec.Conceal(payload, pcm); err != nil {
			t.Fatalf("%s Conceal %d: %v", ac.Name, k, err)
		}
		r := RMS(pcm)
		switch {
		case k < codec.FadeConcealFrames:
			if r <= 0 || r >= prev {
				t.Errorf("%s concealed frame %d: RMS %.0f after %.0f, want quieter but not silent", ac.Name, k, r, prev)
			}
		case k == codec.FadeConcealFrames: // fades to zero
			if r >= prev {
				t.Errorf("%s concealed frame %d: RMS %.0f after %.0f, want quieter", ac.Name, k, r, prev)
			}
		case k > codec.FadeConcealFrames+1: // after one frame for the resampling filter to drain
			if r != 0 {
				t.Errorf("%s concealed frame %d: RMS %.1f, want silence", ac.Name, k, r)
			}
		}
		prev = r
	}
	decodeTone(5)
	if l := LevelDB(pcm, codec.SampleRate, 440); l < -16 {
		t.Errorf("%s after the loss: 440 Hz at %.1f dB, want the tone back", ac.Name, l)
	}
	if err := dec.Conceal(nil, pcm); err != nil {
		t.Fatal(err)
	}
	if r := RMS(pcm); r < float64(ac.Amplitude)/4 {
		t.Errorf("%s concealment after recovery: RMS %.0f, want the fade to restart", ac.Name, r)
	}
}

// CheckFrameSizes checks the sizes an encoder and a decoder accept: ClockRate is ac.ClockRate; Encode of
// anything but codec.FrameSamples samples, and Decode or Conceal into fewer, fail with codec.ErrFrameSize.
// For fixed-size payloads, so do Encode into less than FrameBytes and Decode of a payload of another size.
func CheckFrameSizes(t *testing.T, ac AudioCodecCase) {
	t.Helper()
	enc, dec := ac.Encoder(t), ac.Decoder(t)
	if r := enc.ClockRate(); r != ac.ClockRate {
		t.Errorf("%s ClockRate() = %d, want %d", ac.Name, r, ac.ClockRate)
	}
	const n = codec.FrameSamples
	buf := ac.payloadBuffer()
	for _, samples := range []int{0, 320, 480, n - 1, n + 1, 2 * n} {
		if _, err := enc.Encode(make([]int16, samples), buf); !errors.Is(err, codec.ErrFrameSize) {
			t.Errorf("%s Encode(%d samples) = %v, want ErrFrameSize", ac.Name, samples, err)
		}
	}
	if ac.FrameBytes != 0 {
		for _, size := range []int{0, 100, ac.FrameBytes - 1} {
			if _, err := enc.Encode(make([]int16, n), make([]byte, size)); !errors.Is(err, codec.ErrFrameSize) {
				t.Errorf("%s Encode into %d bytes = %v, want ErrFrameSize", ac.Name, size, err)
			}
		}
	}
	payloads, _ := EncodeTone(t, ac, 440, 1)
	for _, samples := range []int{0, 10, 100, n - 1} {
		if err := dec.Decode(payloads[0], make([]int16, samples)); !errors.Is(err, codec.ErrFrameSize) {
			t.Errorf("%s Decode into %d samples = %v, want ErrFrameSize", ac.Name, samples, err)
		}
		if err := dec.Conceal(nil, make([]int16, samples)); !errors.Is(err, codec.ErrFrameSize) {
			t.Errorf("%s Conceal into %d samples = %v, want ErrFrameSize", ac.Name, samples, err)
		}
	}
	if ac.FrameBytes != 0 {
		pcm := make([]int16, n)
		for _, size := range []int{0, 80, ac.FrameBytes - 1, ac.FrameBytes + 1, 2 * ac.FrameBytes, 1500} {
			if err := dec.Decode(make([]byte, size), pcm); !errors.Is(err, codec.ErrFrameSize) {
				t.Errorf("%s Decode(%d bytes) = %v, want ErrFrameSize", ac.Name, size, err)
			}
		}
	}
}

// CheckClose checks that Close of an encoder and of a decoder succeeds twice, and that afterwards Encode,
// Decode and Conceal fail with codec.ErrClosed.
func CheckClose(t *testing.T, ac AudioCodecCase) {
	t.Helper()
	payloads, _ := EncodeTone(t, ac, 440, 1)
	enc, dec := ac.Encoder(t), ac.Decoder(t)
	for i := range 2 {
		if err := enc.Close(); err != nil {
			t.Errorf("%s Encoder.Close #%d: %v", ac.Name, i+1, err)
		}
		if err := dec.Close(); err != nil {
			t.Errorf("%s Decoder.Close #%d: %v", ac.Name, i+1, err)
		}
	}
	pcm := make([]int16, codec.FrameSamples)
	if _, err := enc.Encode(pcm, ac.payloadBuffer()); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("%s Encode after Close = %v, want ErrClosed", ac.Name, err)
	}
	if err := dec.Decode(payloads[0], pcm); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("%s Decode after Close = %v, want ErrClosed", ac.Name, err)
	}
	if err := dec.Conceal(nil, pcm); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("%s Conceal after Close = %v, want ErrClosed", ac.Name, err)
	}
}

// CheckDecodeAny decodes payload, which may be any bytes at all, and fails tb unless the decoder copes:
// for fixed-size payloads Decode succeeds exactly when the payload has ac.FrameBytes bytes and otherwise
// fails with codec.ErrFrameSize; for others it succeeds or fails with codec.ErrCorrupt or
// codec.ErrFrameSize. Either way, Conceal(payload) and Conceal(nil) must then succeed. It returns Decode's
// error, for the codec's own checks. Fuzz targets call it on every input.
func CheckDecodeAny(tb testing.TB, ac AudioCodecCase, dec codec.AudioDecoder, payload []byte) error {
	tb.Helper()
	pcm := make([]int16, codec.FrameSamples)
	head := payload[:min(len(payload), 8)]
	err := dec.Decode(payload, pcm)
	switch {
	case ac.FrameBytes != 0 && (err == nil) != (len(payload) == ac.FrameBytes):
		tb.Errorf("%s Decode(%d bytes: % x...) = %v, want success exactly for %d bytes", ac.Name, len(payload), head, err, ac.FrameBytes)
	case ac.FrameBytes != 0 && err != nil && !errors.Is(err, codec.ErrFrameSize):
		tb.Errorf("%s Decode(%d bytes) = %v, want ErrFrameSize", ac.Name, len(payload), err)
	case err != nil && !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrFrameSize):
		tb.Errorf("%s Decode(%d bytes: % x...) = %v, want nil, ErrCorrupt or ErrFrameSize", ac.Name, len(payload), head, err)
	}
	if err := dec.Conceal(payload, pcm); err != nil {
		tb.Errorf("%s Conceal(% x...) after Decode: %v", ac.Name, head, err)
	}
	if err := dec.Conceal(nil, pcm); err != nil {
		tb.Errorf("%s Conceal(nil) after % x...: %v", ac.Name, head, err)
	}
	return err
}

// CheckCorruptPayloads runs CheckDecodeAny, with a new decoder each, on payloads no encoder made: for
// fixed-size payloads, empty, too short and too long ones, and random bytes, zeros and ones of the right
// size; for others, empty and random ones of 10 to 5000 bytes. One subtest per payload.
func CheckCorruptPayloads(t *testing.T, ac AudioCodecCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	type row struct {
		name    string
		payload []byte
	}
	tests := []row{{"empty", nil}}
	if ac.FrameBytes != 0 {
		tests = append(tests,
			row{"short", random(80)},
			row{"long", random(1500)},
			row{"random", random(ac.FrameBytes)},
			row{"zeros", make([]byte, ac.FrameBytes)},
			row{"ones", bytes.Repeat([]byte{0xff}, ac.FrameBytes)})
	} else {
		for _, n := range []int{10, 100, 1275, 5000} {
			tests = append(tests, row{fmt.Sprintf("random%d", n), random(n)})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			CheckDecodeAny(t, ac, ac.Decoder(t), tc.payload)
		})
	}
}

// BenchAudioEncode measures Encode of one frame of a 440 Hz tone, reporting allocations.
func BenchAudioEncode(b *testing.B, ac AudioCodecCase) {
	enc := ac.Encoder(b)
	pcm := Tone(440, ac.Amplitude, codec.FrameSamples, codec.SampleRate, nil)
	buf := ac.payloadBuffer()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Encode(pcm, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchAudioDecode measures Decode of a second of a 440 Hz tone, frame after frame in a loop, reporting
// allocations.
func BenchAudioDecode(b *testing.B, ac AudioCodecCase) {
	payloads, _ := EncodeTone(b, ac, 440, 50)
	dec := ac.Decoder(b)
	pcm := make([]int16, codec.FrameSamples)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := dec.Decode(payloads[i%len(payloads)], pcm); err != nil {
			b.Fatal(err)
		}
	}
}
