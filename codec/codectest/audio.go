package codectest

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Tone returns n samples of a sine of frequency freq (Hz) and peak amplitude amplitude at sampleRate.
//
// If phase is not nil, the sine starts at *phase (radians) and *phase is advanced past the last sample,
// so consecutive calls with the same pointer produce one continuous tone, frame after frame. A nil
// phase starts at 0. Tone is safe for concurrent use as long as callers do not share a phase pointer.
func Tone(freq float64, amplitude int16, n int, sampleRate int, phase *float64) []int16 {
	out := make([]int16, n)
	var ph float64
	if phase != nil {
		ph = *phase
	}
	step := 2 * math.Pi * freq / float64(sampleRate)
	for i := range out {
		out[i] = int16(math.Round(float64(amplitude) * math.Sin(ph+step*float64(i))))
	}
	if phase != nil {
		*phase = math.Mod(ph+step*float64(n), 2*math.Pi)
	}
	return out
}

// Spectrum is the magnitude spectrum of a block of PCM, computed once with a Hann window so that
// several measurements can be taken from it. Levels are in dB relative to full scale: a full-scale sine
// (amplitude 32768) measures about 0 dB at its frequency, a sine of amplitude 3277 about -20 dB.
//
// A Spectrum is immutable after NewSpectrum and safe for concurrent reads.
type Spectrum struct {
	// SampleRate is the sample rate of the analysed PCM in Hz.
	SampleRate int
	// N is the number of analysed samples.
	N int
	// DB holds the level of each bin, from 0 Hz to the Nyquist frequency, BinHz apart.
	DB []float64
}

// NewSpectrum analyses pcm, sampled at sampleRate. Bins are sampleRate/len(pcm) Hz apart, so one second
// of audio gives 1 Hz resolution. Fewer than 2 samples give an empty spectrum, whose every level is -Inf.
func NewSpectrum(pcm []int16, sampleRate int) *Spectrum {
	n := len(pcm)
	if n < 2 {
		return &Spectrum{SampleRate: sampleRate, N: max(n, 1)}
	}
	seq := make([]float64, n)
	for i, v := range pcm {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n)) // periodic Hann window
		seq[i] = float64(v) * w
	}
	coeff := fourier.NewFFT(n).Coefficients(nil, seq)
	s := &Spectrum{SampleRate: sampleRate, N: n, DB: make([]float64, len(coeff))}
	// A sine of amplitude A gives a peak of A*N/4 through a Hann window.
	scale := 4 / (float64(n) * 32768)
	for i, c := range coeff {
		m := math.Hypot(real(c), imag(c)) * scale
		s.DB[i] = 20 * math.Log10(m+1e-12)
	}
	return s
}

// BinHz returns the spacing of the bins in Hz.
func (s *Spectrum) BinHz() float64 { return float64(s.SampleRate) / float64(s.N) }

// Peak returns the frequency (Hz, the centre of the bin) of the loudest bin above 0 Hz.
func (s *Spectrum) Peak() float64 {
	if len(s.DB) < 2 {
		return 0
	}
	best := 1
	for i := 2; i < len(s.DB); i++ {
		if s.DB[i] > s.DB[best] {
			best = i
		}
	}
	return float64(best) * s.BinHz()
}

// Level returns the level in dB at freq: the loudest of the bins within two bins of freq, so that a tone
// between bins or slightly off frequency still measures its full level.
func (s *Spectrum) Level(freq float64) float64 {
	c := int(math.Round(freq / s.BinHz()))
	best := math.Inf(-1)
	for i := c - 2; i <= c+2; i++ {
		if i >= 0 && i < len(s.DB) && s.DB[i] > best {
			best = s.DB[i]
		}
	}
	return best
}

// Median returns the median level of all bins, a robust measure of the noise floor.
func (s *Spectrum) Median() float64 {
	d := slices.Clone(s.DB)
	slices.Sort(d)
	return d[len(d)/2]
}

// MaxOutside returns the loudest level among bins farther than width Hz from every frequency in
// exclude: "the rest of the spectrum" once the expected lines are set aside.
func (s *Spectrum) MaxOutside(width float64, exclude ...float64) float64 {
	best := math.Inf(-1)
	for i := 1; i < len(s.DB); i++ {
		f := float64(i) * s.BinHz()
		near := false
		for _, e := range exclude {
			if math.Abs(f-e) <= width {
				near = true
				break
			}
		}
		if !near && s.DB[i] > best {
			best = s.DB[i]
		}
	}
	return best
}

// PeakFrequency returns the frequency in Hz of the loudest spectral line of pcm (above 0 Hz), to the
// nearest bin of sampleRate/len(pcm) Hz. See Spectrum.
func PeakFrequency(pcm []int16, sampleRate int) float64 {
	return NewSpectrum(pcm, sampleRate).Peak()
}

// LevelDB returns the level of pcm at freq in dB relative to full scale (Hann window, loudest bin within
// two bins of freq). See Spectrum.
func LevelDB(pcm []int16, sampleRate int, freq float64) float64 {
	return NewSpectrum(pcm, sampleRate).Level(freq)
}
