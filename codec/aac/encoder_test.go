//go:build cgo

package aac

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/aac/internal/aacdec"
	"github.com/openmcu/mcu/codec/codectest"
)

// stream is what an encoder made of some input: its access units, copied, and their decoding from the
// first unit on.
type stream struct {
	aus     []AccessUnit
	decoded []int16
}

// encodeAll encodes input in 20 ms frames, then flushes, decoding every access unit with a libavcodec
// decoder opened from the encoder's AudioSpecificConfig.
func encodeAll(tb testing.TB, e *Encoder, input []int16) stream {
	tb.Helper()
	dec, err := aacdec.NewDecoder(e.AudioSpecificConfig())
	if err != nil {
		tb.Fatal(err)
	}
	defer dec.Close()
	var s stream
	pcm := make([]int16, 2*FrameSamples)
	keep := func(aus []AccessUnit) {
		for _, au := range aus {
			n, err := dec.Decode(au.Data, pcm)
			if err != nil {
				tb.Fatalf("decode access unit at %d (%d bytes): %v", au.PTS, len(au.Data), err)
			}
			if n != FrameSamples {
				tb.Fatalf("access unit at %d decoded to %d samples, want %d", au.PTS, n, FrameSamples)
			}
			s.decoded = append(s.decoded, pcm[:n]...)
			au.Data = append([]byte(nil), au.Data...)
			s.aus = append(s.aus, au)
		}
	}
	for i := 0; i < len(input); i += codec.FrameSamples {
		aus, err := e.Encode(input[i:min(i+codec.FrameSamples, len(input))])
		if err != nil {
			tb.Fatalf("encode frame at sample %d: %v", i, err)
		}
		keep(aus)
	}
	aus, err := e.Flush()
	if err != nil {
		tb.Fatalf("flush: %v", err)
	}
	keep(aus)
	return s
}

func newEncoder(tb testing.TB, opts ...Option) *Encoder {
	tb.Helper()
	e, err := NewEncoder(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// TestTone encodes two seconds of a tone at several bitrates and frequencies, decodes it, and checks
// that the loudest line is the tone, at the input's level, far above everything else (30 dB at 32 kbit/s,
// 40 dB from 64 kbit/s on).
func TestTone(t *testing.T) {
	const amplitude = 10000 // -10.3 dBFS
	want := 20 * math.Log10(amplitude/32768.0)
	for _, bitrate := range []int{32_000, DefaultBitrate, 128_000} {
		margin := 40.0
		if bitrate < DefaultBitrate {
			margin = 30
		}
		for _, freq := range []float64{440, 1000, 3000} {
			t.Run(fmt.Sprintf("%dbps/%gHz", bitrate, freq), func(t *testing.T) {
				e := newEncoder(t, WithBitrate(bitrate))
				s := encodeAll(t, e, codectest.Tone(freq, amplitude, 2*SampleRate, SampleRate, nil))
				// One second from 0.5 s of input time on: decoded index = input index + Delay.
				pcm := s.decoded[e.Delay()+SampleRate/2 : e.Delay()+3*SampleRate/2]
				spec := codectest.NewSpectrum(pcm, SampleRate)
				if peak := spec.Peak(); math.Abs(peak-freq) > 2*spec.BinHz() {
					t.Errorf("peak at %.1f Hz, want %g Hz", peak, freq)
				}
				if level := spec.Level(freq); math.Abs(level-want) > 1.5 {
					t.Errorf("level at %g Hz is %.1f dB, want %.1f dB", freq, level, want)
				}
				if other := spec.MaxOutside(50, freq); other > want-margin {
					t.Errorf("loudest line away from %g Hz is %.1f dB, less than %g dB below the tone (%.1f dB)", freq, other, margin, want)
				}
			})
		}
	}
}

// TestSilence checks that silence in gives silence out, priming included.
func TestSilence(t *testing.T) {
	e := newEncoder(t)
	s := encodeAll(t, e, make([]int16, SampleRate))
	peak := 0
	for _, v := range s.decoded {
		peak = max(peak, abs(int(v)))
	}
	if peak > 1 {
		t.Errorf("one second of silence decoded with a peak of %d, want at most 1", peak)
	}
	if len(s.decoded) == 0 {
		t.Fatal("no output")
	}
}

// TestTimestamps checks the access units of 5.01 s of input (not a whole number of units): the first is
// presented at -Delay(), each one starts where the one before ended, none is handed out before all the
// input it presents has been given, and after Flush they end exactly where the input ended.
func TestTimestamps(t *testing.T) {
	e := newEncoder(t)
	if e.Delay() <= 0 || e.Delay() > 4*FrameSamples {
		t.Fatalf("Delay() = %d, want a positive priming of at most 4 units", e.Delay())
	}
	phase := 0.0
	var next int64 = -int64(e.Delay())
	frames := 5*50 + 1
	for i := range frames {
		aus, err := e.Encode(codectest.Tone(440, 8000, codec.FrameSamples, SampleRate, &phase))
		if err != nil {
			t.Fatal(err)
		}
		if len(aus) > 1 {
			t.Fatalf("frame %d gave %d access units, want at most 1", i, len(aus))
		}
		given := int64((i + 1) * codec.FrameSamples)
		for _, au := range aus {
			if au.PTS != next || au.Samples != FrameSamples {
				t.Fatalf("frame %d: access unit at %d of %d samples, want at %d of %d", i, au.PTS, au.Samples, next, FrameSamples)
			}
			if end := au.PTS + int64(au.Samples); end > given {
				t.Fatalf("frame %d: access unit presents up to sample %d, but only %d were given", i, end, given)
			}
			if len(au.Data) == 0 {
				t.Fatalf("frame %d: empty access unit", i)
			}
			next += int64(au.Samples)
		}
	}
	aus, err := e.Flush()
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range aus {
		if au.PTS != next || au.Samples <= 0 || au.Samples > FrameSamples {
			t.Fatalf("flushed access unit at %d of %d samples, want at %d", au.PTS, au.Samples, next)
		}
		next += int64(au.Samples)
	}
	if total := int64(frames * codec.FrameSamples); next != total {
		t.Errorf("access units end at sample %d, want %d (the end of the input)", next, total)
	}
	if got := (AccessUnit{PTS: -int64(e.Delay())}).Time(); got != -time.Second*time.Duration(e.Delay())/SampleRate {
		t.Errorf("Time of PTS %d = %v", -e.Delay(), got)
	}
}

// TestDelay measures the priming: a click in the input comes out of the decoder, which decodes from the
// first access unit, Delay() samples later, which puts it, through the units' PTS, at its input time.
func TestDelay(t *testing.T) {
	for _, at := range []int{12345, 30000, 48001} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			e := newEncoder(t)
			input := make([]int16, 2*SampleRate)
			click := []int16{6000, 16000, 24000, 16000, 6000, -6000, -16000, -24000, -16000, -6000}
			copy(input[at:], click)
			s := encodeAll(t, e, input)
			lag, score := bestLag(input, s.decoded, at-FrameSamples, at+FrameSamples, 4*FrameSamples)
			t.Logf("click at %d decoded at %d: lag %d samples (correlation %.2f), Delay() %d", at, at+lag, lag, score, e.Delay())
			if score < 0.8 {
				t.Fatalf("the click did not come through: best normalised correlation %.2f", score)
			}
			if lag != e.Delay() {
				t.Errorf("decoded click lags the input by %d samples, Delay() says %d", lag, e.Delay())
			}
			if first := s.aus[0].PTS; first+int64(at+lag) != int64(at) {
				t.Errorf("first access unit at PTS %d puts the click at %d, want %d", first, first+int64(at+lag), at)
			}
		})
	}
}

// bestLag returns the lag in 0..maxLag at which out best matches in over in[from:to] (out[i+lag] ~
// in[i]) and the normalised correlation there.
func bestLag(in, out []int16, from, to, maxLag int) (int, float64) {
	best, bestScore := -1, math.Inf(-1)
	var energyIn float64
	for _, v := range in[from:to] {
		energyIn += float64(v) * float64(v)
	}
	for lag := 0; lag <= maxLag; lag++ {
		var dot, energyOut float64
		for i := from; i < to && i+lag < len(out); i++ {
			dot += float64(in[i]) * float64(out[i+lag])
			energyOut += float64(out[i+lag]) * float64(out[i+lag])
		}
		if energyOut == 0 {
			continue
		}
		if score := dot / math.Sqrt(energyIn*energyOut); score > bestScore {
			best, bestScore = lag, score
		}
	}
	return best, bestScore
}

// TestAudioSpecificConfig checks the two bytes: AAC-LC (object type 2), 48 kHz (index 3), one channel,
// 1024-sample frames.
func TestAudioSpecificConfig(t *testing.T) {
	e := newEncoder(t)
	asc := e.AudioSpecificConfig()
	if len(asc) != 2 || asc[0] != 0x11 || asc[1] != 0x88 {
		t.Fatalf("AudioSpecificConfig() = % x, want 11 88", asc)
	}
	asc[0] = 0 // a copy: the encoder's own is untouched
	if got := e.AudioSpecificConfig(); got[0] != 0x11 {
		t.Errorf("AudioSpecificConfig() after changing a returned copy = % x", got)
	}
}

// TestBitrate checks that the encoder spends about what it was given on hard material (noise), and no
// more than that on an easy one (a tone).
func TestBitrate(t *testing.T) {
	for _, bitrate := range []int{32_000, DefaultBitrate, 128_000} {
		t.Run(fmt.Sprint(bitrate), func(t *testing.T) {
			noise := make([]int16, 4*SampleRate)
			x := uint32(1)
			for i := range noise {
				x ^= x << 13
				x ^= x >> 17
				x ^= x << 5
				noise[i] = int16(int32(x%16001) - 8000)
			}
			for _, c := range []struct {
				name  string
				input []int16
				low   float64
			}{
				{"noise", noise, 0.7},
				{"tone", codectest.Tone(1000, 8000, 4*SampleRate, SampleRate, nil), 0},
			} {
				e := newEncoder(t, WithBitrate(bitrate))
				s := encodeAll(t, e, c.input)
				bytes := 0
				for _, au := range s.aus {
					bytes += len(au.Data)
				}
				got := float64(bytes*8) / 4
				t.Logf("%s at %d bit/s: %.0f bit/s", c.name, bitrate, got)
				if got > 1.15*float64(bitrate) || got < c.low*float64(bitrate) {
					t.Errorf("%s at %d bit/s: %.0f bit/s", c.name, bitrate, got)
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, bitrate := range []int{0, MinBitrate - 1, MaxBitrate + 1} {
		if e, err := NewEncoder(WithBitrate(bitrate)); err == nil {
			e.Close()
			t.Errorf("NewEncoder(WithBitrate(%d)) succeeded", bitrate)
		}
	}
	for _, bitrate := range []int{MinBitrate, MaxBitrate} {
		e := newEncoder(t, WithBitrate(bitrate))
		if e.Bitrate() != bitrate {
			t.Errorf("Bitrate() = %d, want %d", e.Bitrate(), bitrate)
		}
	}
	e := newEncoder(t)
	if _, err := e.Encode(make([]int16, maxInput+1)); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Encode of %d samples = %v, want codec.ErrFrameSize", maxInput+1, err)
	}
	if aus, err := e.Encode(nil); err != nil || len(aus) != 0 {
		t.Errorf("Encode(nil) = %d units, %v", len(aus), err)
	}
}

// TestClose checks Close twice, and that Encode and Flush fail afterwards with codec.ErrClosed, as does
// Encode after Flush.
func TestClose(t *testing.T) {
	e := newEncoder(t)
	if _, err := e.Encode(make([]int16, codec.FrameSamples)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Encode(make([]int16, codec.FrameSamples)); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Encode after Flush = %v, want codec.ErrClosed", err)
	}
	if aus, err := e.Flush(); err != nil || len(aus) != 0 {
		t.Errorf("second Flush = %d units, %v; want none", len(aus), err)
	}
	for i := range 2 {
		if err := e.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := e.Encode(make([]int16, codec.FrameSamples)); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Encode after Close = %v, want codec.ErrClosed", err)
	}
	if _, err := e.Flush(); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("Flush after Close = %v, want codec.ErrClosed", err)
	}
}

// TestCleanup drops encoders without closing them, for the GC cleanup to free, next to closed ones whose
// cleanup must not free them again.
func TestCleanup(t *testing.T) {
	for range 50 {
		newEncoder(t).Close()
		if _, err := NewEncoder(); err != nil { // dropped without Close
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
}

func TestSamplesToDuration(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want time.Duration
	}{
		{0, 0}, {48000, time.Second}, {1, 20833 * time.Nanosecond}, {-1, -20833 * time.Nanosecond},
		{-1024, -21333333 * time.Nanosecond}, {48000 * 3600 * 30, 30 * time.Hour},
		{960, 20 * time.Millisecond},
	} {
		if got := SamplesToDuration(c.n); got != c.want {
			t.Errorf("SamplesToDuration(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

// BenchmarkEncode measures Encode of one 20 ms frame of a tone (about one access unit per frame).
func BenchmarkEncode(b *testing.B) {
	e := newEncoder(b)
	var phase float64
	frames := make([][]int16, 50)
	for i := range frames {
		frames[i] = codectest.Tone(440, 10000, codec.FrameSamples, SampleRate, &phase)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := e.Encode(frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
