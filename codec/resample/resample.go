// Package resample converts 16-bit mono PCM between the internal 48 kHz rate and the lower rates of
// telephone codecs (8 kHz for G.711, 16 kHz for G.722) by integer factors.
//
// Both directions use one linear-phase low-pass FIR: a windowed sinc (Kaiser window, beta 6.76, 44 taps per
// polyphase branch) with its passband up to 0.9 and its stopband from 1.1 of the lower rate's Nyquist
// frequency, and about 70 dB of stopband attenuation. Down and Up carry their filter history across calls,
// so a stream processed 20 ms at a time gives exactly the same samples as the whole stream at once.
// Neither allocates after its first call with a given input length.
//
// The package is pure Go and has no global mutable state.
package resample

import (
	"fmt"
	"math"
)

const (
	// tapsPerPhase is the length of each polyphase branch; the prototype filter has factor*tapsPerPhase taps.
	tapsPerPhase = 44
	// kaiserBeta gives about 70 dB of stopband attenuation.
	kaiserBeta = 6.755
	// MaxFactor is the largest supported resampling factor.
	MaxFactor = 12
)

// design returns the prototype low-pass filter for a factor: factor*tapsPerPhase taps, unity DC gain,
// cutoff (-6 dB) at the lower rate's Nyquist frequency, transition band 0.9 to 1.1 of it.
func design(factor int) []float64 {
	n := factor * tapsPerPhase
	h := make([]float64, n)
	fc := 0.5 / float64(factor) // cutoff in cycles per high-rate sample
	mid := float64(n-1) / 2
	i0b := besselI0(kaiserBeta)
	var sum float64
	for i := range h {
		t := float64(i) - mid
		var s float64
		if t == 0 {
			s = 2 * fc
		} else {
			s = math.Sin(2*math.Pi*fc*t) / (math.Pi * t)
		}
		r := 2*float64(i)/float64(n-1) - 1
		w := besselI0(kaiserBeta*math.Sqrt(1-r*r)) / i0b
		h[i] = s * w
		sum += h[i]
	}
	for i := range h {
		h[i] /= sum
	}
	return h
}

// besselI0 is the zeroth-order modified Bessel function of the first kind (power series).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-16 {
			break
		}
	}
	return sum
}

func checkFactor(factor int) error {
	if factor < 2 || factor > MaxFactor {
		return fmt.Errorf("resample: factor %d not in [1, %d]", factor, MaxFactor)
	}
	return nil
}

// sat16 rounds and saturates to int16.
func sat16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}

// dot returns the sum of a[i]*b[i] over len(a) (b is at least as long).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// grow returns buf with length n, reusing its memory when it is large enough.
func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	nb := make([]float32, n)
	copy(nb, buf)
	return nb
}

// Down decimates by an integer factor: it low-pass filters and keeps every factor-th sample.
//
// Create one with NewDown and use it for one stream. A Down is not safe for concurrent use. It holds no
// external resources and needs no Close.
type Down struct {
	factor int
	taps   []float32 // prototype filter, time-reversed, so an output is dot(taps, buf[p-n+1:])
	buf    []float32 // len(taps)-1 samples of history, then the current input
	pos    int       // index in buf of the input sample aligned with the next output
}

// NewDown returns a decimator by factor (2..MaxFactor). Its history starts as silence.
func NewDown(factor int) (*Down, error) {
	if err := checkFactor(factor); err != nil {
		return nil, err
	}
	h := design(factor)
	d := &Down{factor: factor, taps: make([]float32, len(h))}
	for i, v := range h {
		d.taps[len(h)-1-i] = float32(v)
	}
	d.buf = make([]float32, len(h)-1, len(h)-1+960)
	d.pos = len(h) - 1
	return d, nil
}

// Factor returns the decimation factor.
func (d *Down) Factor() int { return d.factor }

// OutLen returns how many samples the next Process call produces from n input samples.
func (d *Down) OutLen(n int) int {
	end := len(d.taps) - 1 + n
	if d.pos >= end {
		return 0
	}
	return (end - d.pos + d.factor - 1) / d.factor
}

// Process filters src and writes the decimated samples to dst. It returns the number of samples written,
// which is len(src)/factor when all inputs so far were multiples of the factor (as 20 ms frames at 48 kHz
// are), and OutLen(len(src)) in general. If dst is shorter than that it writes nothing and returns 0; use
// OutLen to size it.
func (d *Down) Process(dst, src []int16) int {
	nout := d.OutLen(len(src))
	if len(dst) < nout {
		return 0
	}
	hist := len(d.taps) - 1
	d.buf = grow(d.buf, hist+len(src))
	for i, v := range src {
		d.buf[hist+i] = float32(v)
	}
	n := 0
	for ; d.pos < len(d.buf); d.pos += d.factor {
		dst[n] = sat16(dot(d.taps, d.buf[d.pos-hist:]))
		n++
	}
	shift := len(d.buf) - hist
	copy(d.buf, d.buf[shift:])
	d.buf = d.buf[:hist]
	d.pos -= shift
	return n
}

// Reset clears the filter history, as if the Down were new.
func (d *Down) Reset() {
	d.buf = d.buf[:len(d.taps)-1]
	clear(d.buf)
	d.pos = len(d.taps) - 1
}

// Up interpolates by an integer factor: every input sample becomes factor output samples, low-pass
// filtered so that no image of the input spectrum remains above the input's Nyquist frequency.
//
// Create one with NewUp and use it for one stream. An Up is not safe for concurrent use. It holds no
// external resources and needs no Close.
type Up struct {
	factor int
	phases [][]float32 // phases[r][j] = factor*h[r+j*factor], time-reversed over j
	buf    []float32   // tapsPerPhase-1 samples of history, then the current input
}

// NewUp returns an interpolator by factor (2..MaxFactor). Its history starts as silence.
func NewUp(factor int) (*Up, error) {
	if err := checkFactor(factor); err != nil {
		return nil, err
	}
	h := design(factor)
	u := &Up{factor: factor, phases: make([][]float32, factor)}
	for r := range u.phases {
		p := make([]float32, tapsPerPhase)
		for j := range p {
			p[tapsPerPhase-1-j] = float32(float64(factor) * h[r+j*factor])
		}
		u.phases[r] = p
	}
	u.buf = make([]float32, tapsPerPhase-1, tapsPerPhase-1+960)
	return u, nil
}

// Factor returns the interpolation factor.
func (u *Up) Factor() int { return u.factor }

// Process interpolates src into dst and returns the number of samples written, len(src)*factor. If dst
// is shorter than that it writes nothing and returns 0.
func (u *Up) Process(dst, src []int16) int {
	nout := len(src) * u.factor
	if len(dst) < nout {
		return 0
	}
	const hist = tapsPerPhase - 1
	u.buf = grow(u.buf, hist+len(src))
	for i, v := range src {
		u.buf[hist+i] = float32(v)
	}
	o := 0
	for i := range src {
		x := u.buf[i : i+tapsPerPhase]
		for _, p := range u.phases {
			dst[o] = sat16(dot(p, x))
			o++
		}
	}
	copy(u.buf, u.buf[len(src):])
	u.buf = u.buf[:hist]
	return nout
}

// Reset clears the filter history, as if the Up were new.
func (u *Up) Reset() {
	u.buf = u.buf[:tapsPerPhase-1]
	clear(u.buf)
}
