package g711

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
)

// TestKnownValues checks code words of ITU-T G.711 as the G.191 reference code (and CPython's audioop,
// except for mu-law -1, which G.191 encodes as negative zero 0x7f and audioop as 0x7e) computes them.
func TestKnownValues(t *testing.T) {
	enc := []struct {
		law  Law
		in   int16
		want uint8
	}{
		{MuLaw, 0, 0xff}, {MuLaw, -1, 0x7f}, {MuLaw, 32767, 0x80}, {MuLaw, -32768, 0x00},
		{MuLaw, 1000, 0xce}, {MuLaw, -1000, 0x4e}, {MuLaw, 8000, 0xa0},
		{ALaw, 0, 0xd5}, {ALaw, -1, 0x55}, {ALaw, 32767, 0xaa}, {ALaw, -32768, 0x2a},
		{ALaw, 1000, 0xfa}, {ALaw, -1000, 0x7a}, {ALaw, 8000, 0x8a},
	}
	for _, tc := range enc {
		var got [1]byte
		tc.law.Encode(got[:], []int16{tc.in})
		if got[0] != tc.want {
			t.Errorf("%s encode %d = %#02x, want %#02x", tc.law, tc.in, got[0], tc.want)
		}
	}
	dec := []struct {
		law  Law
		in   uint8
		want int16
	}{
		{MuLaw, 0xff, 0}, {MuLaw, 0x7f, 0}, {MuLaw, 0x80, 32124}, {MuLaw, 0x00, -32124},
		{MuLaw, 0xce, 988}, {MuLaw, 0xfe, 8}, {MuLaw, 0xf0, 120},
		{ALaw, 0xd5, 8}, {ALaw, 0x55, -8}, {ALaw, 0xaa, 32256}, {ALaw, 0x2a, -32256},
		{ALaw, 0xfa, 1008}, {ALaw, 0xd4, 24},
	}
	for _, tc := range dec {
		var got [1]int16
		tc.law.Decode(got[:], []byte{tc.in})
		if got[0] != tc.want {
			t.Errorf("%s decode %#02x = %d, want %d", tc.law, tc.in, got[0], tc.want)
		}
	}
}

// TestCompanding checks every code word and every 16-bit sample: decoding then encoding a code word is
// stable, encoding is monotonic, and the quantisation error stays within half a step of the segment.
func TestCompanding(t *testing.T) {
	for _, law := range []Law{MuLaw, ALaw} {
		t.Run(law.String(), func(t *testing.T) {
			for b := range 256 {
				var s [1]int16
				var e [1]byte
				var s2 [1]int16
				law.Decode(s[:], []byte{byte(b)})
				law.Encode(e[:], s[:])
				law.Decode(s2[:], e[:])
				if s2[0] != s[0] {
					t.Errorf("%s: %#02x decodes to %d, which re-encodes to %#02x = %d", law, b, s[0], e[0], s2[0])
				}
			}
			prev := math.MinInt
			for i := -32768; i <= 32767; i++ {
				var e [1]byte
				var s [1]int16
				law.Encode(e[:], []int16{int16(i)})
				law.Decode(s[:], e[:])
				if int(s[0]) < prev {
					t.Fatalf("%s: not monotonic at %d: decodes to %d after %d", law, i, s[0], prev)
				}
				prev = int(s[0])
				// The step doubles each segment; the error is at most a step: 1/16 of the magnitude plus
				// the smallest step.
				if err := math.Abs(float64(int(s[0]) - i)); err > math.Abs(float64(i))/16+16 && i > -32125 && i < 32125 {
					t.Fatalf("%s: %d round-trips to %d (error %g)", law, i, s[0], err)
				}
			}
		})
	}
}

const amp = 10000

func TestRoundTrip(t *testing.T) {
	for _, law := range []Law{MuLaw, ALaw} {
		for _, freq := range []float64{440, 1000, 3000} {
			t.Run(fmt.Sprintf("%s_%gHz", law, freq), func(t *testing.T) {
				enc, err := NewEncoder(law)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := NewDecoder(law)
				if err != nil {
					t.Fatal(err)
				}
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
				t.Logf("in %.1f dB, out %.1f dB, rest %.1f dB, median %.1f dB", in, level, rest, sp.Median())
				if p := sp.Peak(); p < freq-sp.BinHz() || p > freq+sp.BinHz() {
					t.Errorf("%s %g Hz: peak at %g Hz", law, freq, p)
				}
				if level-in > 1 || level-in < -1 {
					t.Errorf("%s %g Hz: level %.1f dB, input %.1f dB, want within 1 dB", law, freq, level, in)
				}
				if level-rest < 30 {
					t.Errorf("%s %g Hz: tone %.1f dB only %.1f dB above the rest of the spectrum", law, freq, level, level-rest)
				}
				// Nothing of the 8 kHz resampling shows above 4 kHz.
				if hf := sp.MaxOutside(4400, 0); level-hf < 50 {
					t.Errorf("%s %g Hz: %.1f dB above 4.4 kHz, only %.1f dB below the tone", law, freq, hf, level-hf)
				}
			})
		}
	}
}

func TestConceal(t *testing.T) {
	for _, law := range []Law{MuLaw, ALaw} {
		t.Run(law.String(), func(t *testing.T) {
			enc, _ := NewEncoder(law)
			dec, _ := NewDecoder(law)
			var ph float64
			payload := make([]byte, FrameBytes)
			pcm := make([]int16, codec.FrameSamples)
			// Concealing before anything was decoded gives silence.
			if err := dec.Conceal(nil, pcm); err != nil {
				t.Fatal(err)
			}
			if r := rms(pcm); r != 0 {
				t.Errorf("Conceal before any Decode: RMS %g, want silence", r)
			}
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
				case k == codec.FadeConcealFrames: // fades to zero
					if r >= prev {
						t.Errorf("concealed frame %d: RMS %.0f after %.0f, want quieter", k, r, prev)
					}
				case k > codec.FadeConcealFrames+1: // after one frame for the filter to drain
					if r != 0 {
						t.Errorf("concealed frame %d: RMS %.1f, want silence", k, r)
					}
				}
				prev = r
			}
			enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, &ph), payload)
			if err := dec.Decode(payload, pcm); err != nil {
				t.Fatal(err)
			}
			if err := dec.Conceal(nil, pcm); err != nil {
				t.Fatal(err)
			}
			if r := rms(pcm); r < amp/4 {
				t.Errorf("concealment after recovery: RMS %.0f, want the fade to restart", r)
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

func TestErrors(t *testing.T) {
	if _, err := NewEncoder(Law(3)); err == nil {
		t.Error("NewEncoder(Law(3)) = nil error")
	}
	if _, err := NewDecoder(Law(3)); err == nil {
		t.Error("NewDecoder(Law(3)) = nil error")
	}
	enc, _ := NewEncoder(ALaw)
	dec, _ := NewDecoder(ALaw)
	pcm := make([]int16, codec.FrameSamples)
	for _, n := range []int{0, 80, 159, 161, 320} {
		if err := dec.Decode(make([]byte, n), pcm); !errors.Is(err, codec.ErrFrameSize) {
			t.Errorf("Decode(%d bytes) = %v, want ErrFrameSize", n, err)
		}
	}
	if err := dec.Decode(make([]byte, FrameBytes), pcm[:100]); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Decode into 100 samples = %v, want ErrFrameSize", err)
	}
	if _, err := enc.Encode(pcm[:480], make([]byte, FrameBytes)); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode(480 samples) = %v, want ErrFrameSize", err)
	}
	if _, err := enc.Encode(pcm, make([]byte, 100)); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode into 100 bytes = %v, want ErrFrameSize", err)
	}
	for range 2 {
		if err := enc.Close(); err != nil {
			t.Errorf("Encoder.Close: %v", err)
		}
		if err := dec.Close(); err != nil {
			t.Errorf("Decoder.Close: %v", err)
		}
	}
	if _, err := enc.Encode(pcm, make([]byte, FrameBytes)); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Encode after Close = %v, want ErrClosed", err)
	}
	if err := dec.Decode(make([]byte, FrameBytes), pcm); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Decode after Close = %v, want ErrClosed", err)
	}
	if err := dec.Conceal(nil, pcm); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Conceal after Close = %v, want ErrClosed", err)
	}
}

func FuzzG711Decode(f *testing.F) {
	f.Add(false, make([]byte, FrameBytes))
	f.Add(true, make([]byte, FrameBytes))
	f.Add(true, []byte{0xd5, 0x55})
	decs := map[bool]*Decoder{}
	for _, a := range []bool{false, true} {
		law := MuLaw
		if a {
			law = ALaw
		}
		d, err := NewDecoder(law)
		if err != nil {
			f.Fatal(err)
		}
		decs[a] = d
	}
	pcm := make([]int16, codec.FrameSamples)
	f.Fuzz(func(t *testing.T, alaw bool, payload []byte) {
		d := decs[alaw]
		err := d.Decode(payload, pcm)
		if (err == nil) != (len(payload) == FrameBytes) {
			t.Fatalf("%s Decode(%d bytes) = %v", d.Law(), len(payload), err)
		}
		if err != nil && !errors.Is(err, codec.ErrFrameSize) {
			t.Fatalf("%s Decode(%d bytes) = %v, want ErrFrameSize", d.Law(), len(payload), err)
		}
		if err := d.Conceal(payload, pcm); err != nil {
			t.Fatalf("%s Conceal: %v", d.Law(), err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, law := range []Law{MuLaw, ALaw} {
		b.Run(law.String(), func(b *testing.B) {
			enc, _ := NewEncoder(law)
			pcm := codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, nil)
			payload := make([]byte, FrameBytes)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.Encode(pcm, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, law := range []Law{MuLaw, ALaw} {
		b.Run(law.String(), func(b *testing.B) {
			enc, _ := NewEncoder(law)
			dec, _ := NewDecoder(law)
			payload := make([]byte, FrameBytes)
			enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, nil), payload)
			pcm := make([]int16, codec.FrameSamples)
			b.ReportAllocs()
			for b.Loop() {
				if err := dec.Decode(payload, pcm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
