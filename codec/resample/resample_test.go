package resample

import (
	"fmt"
	"slices"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
)

const amp = 10000

// downStream resamples frames (each frame of 20 ms at 48 kHz) and returns the output after dropping
// the filter's start-up transient (the first frame).
func downStream(t testing.TB, d *Down, frames [][]int16) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, codec.FrameSamples)
	for _, f := range frames {
		n := d.Process(buf, f)
		if want := len(f) / d.Factor(); n != want {
			t.Fatalf("Down(%d).Process(%d samples) = %d, want %d", d.Factor(), len(f), n, want)
		}
		out = append(out, buf[:n]...)
	}
	return out
}

func toneFrames(freq float64, rate, frameLen, frames int) [][]int16 {
	var ph float64
	fs := make([][]int16, frames)
	for i := range fs {
		fs[i] = codectest.Tone(freq, amp, frameLen, rate, &ph)
	}
	return fs
}

func TestDown(t *testing.T) {
	tests := []struct {
		factor  int
		freq    float64
		pass    bool    // true: level within 1 dB of the input; false: attenuated by minAtt
		minAtt  float64 // dB, for stopband tones
		aliasTo float64 // where a stopband tone would alias to
	}{
		{factor: 6, freq: 1000, pass: true},
		{factor: 6, freq: 3500, pass: true},
		{factor: 6, freq: 5000, minAtt: 50, aliasTo: 3000},
		{factor: 6, freq: 7000, minAtt: 50, aliasTo: 1000},
		{factor: 6, freq: 12000, minAtt: 50, aliasTo: 4000},
		{factor: 3, freq: 1000, pass: true},
		{factor: 3, freq: 7000, pass: true},
		{factor: 3, freq: 10000, minAtt: 50, aliasTo: 6000},
		{factor: 3, freq: 15000, minAtt: 50, aliasTo: 1000},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("x%d_%gHz", tc.factor, tc.freq), func(t *testing.T) {
			d, err := NewDown(tc.factor)
			if err != nil {
				t.Fatal(err)
			}
			out := downStream(t, d, toneFrames(tc.freq, codec.SampleRate, codec.FrameSamples, 51))
			out = out[len(out)/51:] // drop the first frame (filter start-up)
			low := codec.SampleRate / tc.factor
			in := codectest.LevelDB(codectest.Tone(tc.freq, amp, len(out), low, nil), low, tc.freq)
			sp := codectest.NewSpectrum(out, low)
			if tc.pass {
				got := sp.Level(tc.freq)
				t.Logf("input %.2f dB, output %.2f dB", in, got)
				if d := got - in; d > 1 || d < -1 {
					t.Errorf("%g Hz down by %d: level %.2f dB, input %.2f dB, want within 1 dB", tc.freq, tc.factor, got, in)
				}
				if p := sp.Peak(); p < tc.freq-sp.BinHz() || p > tc.freq+sp.BinHz() {
					t.Errorf("%g Hz down by %d: peak at %g Hz", tc.freq, tc.factor, p)
				}
				return
			}
			in = codectest.LevelDB(codectest.Tone(tc.freq, amp, codec.SampleRate, codec.SampleRate, nil), codec.SampleRate, tc.freq)
			alias := sp.Level(tc.aliasTo)
			loudest := slices.Max(sp.DB)
			t.Logf("input %.1f dB, alias %.1f dB, loudest bin %.1f dB", in, alias, loudest)
			if in-alias < tc.minAtt || in-loudest < tc.minAtt {
				t.Errorf("%g Hz down by %d: alias at %g Hz %.1f dB, loudest bin %.1f dB, input %.1f dB; want >= %g dB attenuation",
					tc.freq, tc.factor, tc.aliasTo, alias, loudest, in, tc.minAtt)
			}
		})
	}
}

func TestUp(t *testing.T) {
	tests := []struct {
		factor int
		freq   float64
	}{
		{6, 440}, {6, 1000}, {6, 3500}, {3, 1000}, {3, 7000},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("x%d_%gHz", tc.factor, tc.freq), func(t *testing.T) {
			u, err := NewUp(tc.factor)
			if err != nil {
				t.Fatal(err)
			}
			low := codec.SampleRate / tc.factor
			frameLen := codec.FrameSamples / tc.factor
			var out []int16
			buf := make([]int16, codec.FrameSamples)
			for _, f := range toneFrames(tc.freq, low, frameLen, 51) {
				n := u.Process(buf, f)
				if n != codec.FrameSamples {
					t.Fatalf("Up(%d).Process(%d samples) = %d, want %d", tc.factor, frameLen, n, codec.FrameSamples)
				}
				out = append(out, buf[:n]...)
			}
			out = out[codec.FrameSamples:]
			in := codectest.LevelDB(codectest.Tone(tc.freq, amp, len(out), codec.SampleRate, nil), codec.SampleRate, tc.freq)
			sp := codectest.NewSpectrum(out, codec.SampleRate)
			if got := sp.Level(tc.freq); got-in > 1 || got-in < -1 {
				t.Errorf("%g Hz up by %d: level %.2f dB, input %.2f dB, want within 1 dB", tc.freq, tc.factor, got, in)
			}
			// Images of the tone sit at k*low +- freq; they must be >= 50 dB down.
			for k := 1; k < tc.factor; k++ {
				for _, img := range []float64{float64(k*low) - tc.freq, float64(k*low) + tc.freq} {
					if img >= codec.SampleRate/2 {
						continue
					}
					if l := sp.Level(img); in-l < 50 {
						t.Errorf("%g Hz up by %d: image at %g Hz is %.1f dB, only %.1f dB below the tone", tc.freq, tc.factor, img, l, in-l)
					}
				}
			}
		})
	}
}

// TestFrameBoundaries checks that resampling frame by frame, with ragged frame sizes too, gives exactly
// the samples of resampling the whole stream at once: no clicks at frame boundaries.
func TestFrameBoundaries(t *testing.T) {
	src := codectest.Tone(1234, amp, 48000, codec.SampleRate, nil)
	for i := range src { // add a chirp-ish component so every sample matters
		src[i] += int16((i*7919)%2001 - 1000)
	}
	for _, factor := range []int{3, 6} {
		for _, chunk := range []int{960, 480, 7, 1} {
			t.Run(fmt.Sprintf("down%d_chunk%d", factor, chunk), func(t *testing.T) {
				whole, _ := NewDown(factor)
				want := make([]int16, whole.OutLen(len(src)))
				want = want[:whole.Process(want, src)]
				parts, _ := NewDown(factor)
				var got []int16
				buf := make([]int16, chunk+factor)
				for off := 0; off < len(src); off += chunk {
					n := parts.Process(buf, src[off:min(off+chunk, len(src))])
					got = append(got, buf[:n]...)
				}
				if !slices.Equal(got, want) {
					t.Errorf("down by %d in chunks of %d: %d samples differ from the whole-stream result (%d vs %d samples)",
						factor, chunk, countDiff(got, want), len(got), len(want))
				}
			})
			t.Run(fmt.Sprintf("up%d_chunk%d", factor, chunk), func(t *testing.T) {
				low := src[:len(src)/factor]
				whole, _ := NewUp(factor)
				want := make([]int16, len(low)*factor)
				whole.Process(want, low)
				parts, _ := NewUp(factor)
				var got []int16
				buf := make([]int16, chunk*factor)
				for off := 0; off < len(low); off += chunk {
					n := parts.Process(buf, low[off:min(off+chunk, len(low))])
					got = append(got, buf[:n]...)
				}
				if !slices.Equal(got, want) {
					t.Errorf("up by %d in chunks of %d: %d samples differ from the whole-stream result", factor, chunk, countDiff(got, want))
				}
			})
		}
	}
}

func countDiff(a, b []int16) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestErrors(t *testing.T) {
	for _, f := range []int{-1, 0, 1, MaxFactor + 1} {
		if _, err := NewDown(f); err == nil {
			t.Errorf("NewDown(%d): no error", f)
		}
		if _, err := NewUp(f); err == nil {
			t.Errorf("NewUp(%d): no error", f)
		}
	}
	d, _ := NewDown(6)
	if n := d.Process(make([]int16, 10), make([]int16, 960)); n != 0 {
		t.Errorf("Down.Process into a short dst = %d, want 0", n)
	}
	u, _ := NewUp(6)
	if n := u.Process(make([]int16, 10), make([]int16, 160)); n != 0 {
		t.Errorf("Up.Process into a short dst = %d, want 0", n)
	}
}

func TestSaturation(t *testing.T) {
	// A full-scale square wave overshoots through a low-pass filter; the output must clip, not wrap.
	src := make([]int16, 960)
	for i := range src {
		if (i/48)%2 == 0 {
			src[i] = 32767
		} else {
			src[i] = -32768
		}
	}
	u, _ := NewUp(6)
	d, _ := NewDown(6)
	low := make([]int16, 160)
	high := make([]int16, 960)
	for range 5 {
		d.Process(low, src)
		u.Process(high, low)
	}
	for i := 1; i < len(high); i++ {
		if diff := int(high[i]) - int(high[i-1]); diff > 30000 || diff < -30000 {
			t.Fatalf("jump of %d between samples %d and %d: wrapped instead of clipping", diff, i-1, i)
		}
	}
}

func BenchmarkDown(b *testing.B) {
	for _, factor := range []int{3, 6} {
		b.Run(fmt.Sprintf("x%d", factor), func(b *testing.B) {
			d, _ := NewDown(factor)
			src := codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, nil)
			dst := make([]int16, codec.FrameSamples/factor)
			b.ReportAllocs()
			for b.Loop() {
				d.Process(dst, src)
			}
		})
	}
}

func BenchmarkUp(b *testing.B) {
	for _, factor := range []int{3, 6} {
		b.Run(fmt.Sprintf("x%d", factor), func(b *testing.B) {
			u, _ := NewUp(factor)
			src := codectest.Tone(440, amp, codec.FrameSamples/factor, codec.SampleRate/factor, nil)
			dst := make([]int16, codec.FrameSamples)
			b.ReportAllocs()
			for b.Loop() {
				u.Process(dst, src)
			}
		})
	}
}
