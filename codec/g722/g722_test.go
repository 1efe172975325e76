package g722

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
)

const amp = 10000

// newPair returns an encoder and a decoder closed at the end of the test, or skips the test in builds
// without cgo.
func newPair(t testing.TB) (*Encoder, *Decoder) {
	t.Helper()
	enc, err := NewEncoder()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("NewEncoder: %v", err)
	}
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	t.Cleanup(func() {
		enc.Close()
		dec.Close()
	})
	return enc, dec
}

func TestRoundTrip(t *testing.T) {
	for _, freq := range []float64{440, 1000, 3000, 6000} {
		t.Run(fmt.Sprintf("%gHz", freq), func(t *testing.T) {
			enc, dec := newPair(t)
			if enc.ClockRate() != 8000 {
				t.Errorf("ClockRate() = %d, want 8000", enc.ClockRate())
			}
			var ph float64
			payload := make([]byte, FrameBytes)
			pcm := make([]int16, codec.FrameSamples)
			var out []int16
			for i := range 51 {
				n, err := enc.Encode(codectest.Tone(freq, amp, codec.FrameSamples, codec.SampleRate, &ph), payload)
				if err != nil || n != FrameBytes {
					t.Fatalf("Encode frame %d = %d, %v; want %d bytes", i, n, err, FrameBytes)
				}
				if err := dec.Decode(payload[:n], pcm); err != nil {
					t.Fatalf("Decode frame %d: %v", i, err)
				}
				out = append(out, pcm...)
			}
			out = out[codec.FrameSamples:]
			in := codectest.LevelDB(codectest.Tone(freq, amp, len(out), codec.SampleRate, nil), codec.SampleRate, freq)
			sp := codectest.NewSpectrum(out, codec.SampleRate)
			level, rest := sp.Level(freq), sp.MaxOutside(20, freq)
			t.Logf("in %.1f dB, out %.1f dB, rest %.1f dB", in, level, rest)
			if p := sp.Peak(); p < freq-sp.BinHz() || p > freq+sp.BinHz() {
				t.Errorf("%g Hz: peak at %g Hz", freq, p)
			}
			if level-in > 1 || level-in < -1 {
				t.Errorf("%g Hz: level %.1f dB, input %.1f dB, want within 1 dB", freq, level, in)
			}
			if level-rest < 30 {
				t.Errorf("%g Hz: tone %.1f dB only %.1f dB above the rest of the spectrum", freq, level, level-rest)
			}
			if hf := sp.MaxOutside(8800, 0); level-hf < 50 {
				t.Errorf("%g Hz: %.1f dB above 8.8 kHz, only %.1f dB below the tone", freq, hf, level-hf)
			}
		})
	}
}

func rms(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(pcm)))
}

func TestConceal(t *testing.T) {
	enc, dec := newPair(t)
	var ph float64
	payload := make([]byte, FrameBytes)
	pcm := make([]int16, codec.FrameSamples)
	for range 10 {
		enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, &ph), payload)
		if err := dec.Decode(payload, pcm); err != nil {
			t.Fatal(err)
		}
	}
	prev := rms(pcm)
	for k := range codec.FadeConcealFrames + 3 {
		if err := dec.Conceal(payload, pcm); err != nil {
			t.Fatalf("Conceal %d: %v", k, err)
		}
		r := rms(pcm)
		switch {
		case k == 0:
			if p := codectest.PeakFrequency(pcm, codec.SampleRate); p < 400 || p > 500 {
				t.Errorf("first concealed frame peaks at %g Hz, want 440", p)
			}
			fallthrough
		case k < codec.FadeConcealFrames:
			if r <= 0 || r >= prev {
				t.Errorf("concealed frame %d: RMS %.0f after %.0f, want quieter but not silent", k, r, prev)
			}
		case k == codec.FadeConcealFrames:
			if r >= prev {
				t.Errorf("concealed frame %d: RMS %.0f after %.0f, want quieter", k, r, prev)
			}
		case k > codec.FadeConcealFrames+1:
			if r != 0 {
				t.Errorf("concealed frame %d: RMS %.1f, want silence", k, r)
			}
		}
		prev = r
	}
	// Decoding resumes.
	for range 5 {
		enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, &ph), payload)
		if err := dec.Decode(payload, pcm); err != nil {
			t.Fatal(err)
		}
	}
	if l := codectest.LevelDB(pcm, codec.SampleRate, 440); l < -16 {
		t.Errorf("after the loss: 440 Hz at %.1f dB, want the tone back", l)
	}
}

func TestCorruptPayloads(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	tests := []struct {
		name    string
		payload []byte
		wantErr error
	}{
		{"empty", nil, codec.ErrFrameSize},
		{"short", random(80), codec.ErrFrameSize},
		{"long", random(1500), codec.ErrFrameSize},
		{"random", random(FrameBytes), nil},
		{"zeros", make([]byte, FrameBytes), nil},
		{"ones", bytes.Repeat([]byte{0xff}, FrameBytes), nil},
	}
	_, dec := newPair(t)
	pcm := make([]int16, codec.FrameSamples)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := dec.Decode(tc.payload, pcm)
			if (tc.wantErr == nil && err != nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Decode(%d bytes) = %v, want %v", len(tc.payload), err, tc.wantErr)
			}
			if err := dec.Conceal(tc.payload, pcm); err != nil {
				t.Errorf("Conceal after %d bytes: %v", len(tc.payload), err)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	enc, dec := newPair(t)
	pcm := make([]int16, codec.FrameSamples)
	payload := make([]byte, FrameBytes)
	if _, err := enc.Encode(pcm[:320], payload); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode(320 samples) = %v, want ErrFrameSize", err)
	}
	if _, err := enc.Encode(pcm, payload[:100]); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode into 100 bytes = %v, want ErrFrameSize", err)
	}
	if err := dec.Decode(payload, pcm[:100]); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Decode into 100 samples = %v, want ErrFrameSize", err)
	}
	for range 2 {
		if err := enc.Close(); err != nil {
			t.Errorf("Encoder.Close: %v", err)
		}
		if err := dec.Close(); err != nil {
			t.Errorf("Decoder.Close: %v", err)
		}
	}
	if _, err := enc.Encode(pcm, payload); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Encode after Close = %v, want ErrClosed", err)
	}
	if err := dec.Decode(payload, pcm); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Decode after Close = %v, want ErrClosed", err)
	}
	if err := dec.Conceal(nil, pcm); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Conceal after Close = %v, want ErrClosed", err)
	}
}

// TestCleanup drops encoders and decoders without closing them, for the GC cleanup to free, next to
// closed ones whose cleanup must not free them again.
func TestCleanup(t *testing.T) {
	for range 50 {
		enc, dec := newPair(t)
		enc.Close()
		dec.Close()
		// Dropped without Close.
		if _, err := NewEncoder(); err != nil {
			t.Fatal(err)
		}
		if _, err := NewDecoder(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
}

func FuzzG722Decode(f *testing.F) {
	enc, dec := newPair(f)
	payload := make([]byte, FrameBytes)
	enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, nil), payload)
	f.Add(payload)
	f.Add([]byte{})
	f.Add(make([]byte, FrameBytes))
	pcm := make([]int16, codec.FrameSamples)
	f.Fuzz(func(t *testing.T, payload []byte) {
		err := dec.Decode(payload, pcm)
		if (err == nil) != (len(payload) == FrameBytes) {
			t.Fatalf("Decode(%d bytes) = %v", len(payload), err)
		}
		if err != nil && !errors.Is(err, codec.ErrFrameSize) {
			t.Fatalf("Decode(%d bytes) = %v, want ErrFrameSize", len(payload), err)
		}
		if err := dec.Conceal(payload, pcm); err != nil {
			t.Fatalf("Conceal: %v", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	enc, _ := newPair(b)
	pcm := codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, nil)
	payload := make([]byte, FrameBytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Encode(pcm, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	enc, dec := newPair(b)
	payload := make([]byte, FrameBytes)
	enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, nil), payload)
	pcm := make([]int16, codec.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		if err := dec.Decode(payload, pcm); err != nil {
			b.Fatal(err)
		}
	}
}
