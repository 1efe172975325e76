package codectest

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestToneContinuity(t *testing.T) {
	var ph float64
	var framed []int16
	for range 50 {
		framed = append(framed, Tone(440, 1000, 960, 48000, &ph)...)
	}
	whole := Tone(440, 1000, 48000, 48000, nil)
	for i := range whole {
		if d := int(whole[i]) - int(framed[i]); d > 1 || d < -1 {
			t.Fatalf("sample %d: frame by frame %d, whole %d", i, framed[i], whole[i])
		}
	}
}

func TestSpectrum(t *testing.T) {
	tests := []struct {
		freq      float64
		amplitude int16
		rate, n   int
	}{
		{440, 32767, 48000, 48000},
		{1000, 3277, 48000, 48000},
		{440, 10000, 8000, 8000},
		{1234.5, 10000, 16000, 16000}, // between bins
		{440, 10000, 48000, 960},      // one frame: 50 Hz bins
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%gHz_%d_%dHz_%d", tc.freq, tc.amplitude, tc.rate, tc.n), func(t *testing.T) {
			pcm := Tone(tc.freq, tc.amplitude, tc.n, tc.rate, nil)
			s := NewSpectrum(pcm, tc.rate)
			if p := s.Peak(); math.Abs(p-tc.freq) > s.BinHz() {
				t.Errorf("Peak() = %g Hz, want %g within %g Hz", p, tc.freq, s.BinHz())
			}
			want := 20 * math.Log10(float64(tc.amplitude)/32768)
			if l := LevelDB(pcm, tc.rate, tc.freq); math.Abs(l-want) > 1.5 {
				t.Errorf("LevelDB = %.2f dB, want %.2f dB", l, want)
			}
			if rest := s.MaxOutside(5*s.BinHz(), tc.freq); want-rest < 40 {
				t.Errorf("MaxOutside = %.1f dB, want 40 dB below the tone at %.1f dB", rest, want)
			}
			if m := s.Median(); m > slices.Max(s.DB)-60 {
				t.Errorf("Median = %.1f dB, want far below the peak", m)
			}
		})
	}
}

func TestEmptySpectrum(t *testing.T) {
	for _, pcm := range [][]int16{nil, {5}} {
		if l := LevelDB(pcm, 48000, 440); !math.IsInf(l, -1) {
			t.Errorf("LevelDB of %d samples = %v, want -Inf", len(pcm), l)
		}
		if p := PeakFrequency(pcm, 48000); p != 0 {
			t.Errorf("PeakFrequency of %d samples = %v, want 0", len(pcm), p)
		}
	}
}
