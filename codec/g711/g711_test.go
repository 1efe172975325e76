package g711

import (
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

// lawCase is G.711 with law for codectest's conformance checks.
func lawCase(law Law) codectest.AudioCodecCase {
	return codectest.AudioCodecCase{
		Name:           law.String(),
		NewEncoder:     func() (codec.AudioEncoder, error) { return NewEncoder(law) },
		NewDecoder:     func() (codec.AudioDecoder, error) { return NewDecoder(law) },
		ClockRate:      8000,
		FrameBytes:     FrameBytes,
		Amplitude:      10000,
		Settle:         1,
		LevelTolerance: 1,
		Cutoff:         4400, // nothing of the 8 kHz resampling shows above 4 kHz
	}
}

// forLaws runs check as one subtest per law.
func forLaws(t *testing.T, check func(*testing.T, codectest.AudioCodecCase)) {
	for _, law := range []Law{MuLaw, ALaw} {
		t.Run(law.String(), func(t *testing.T) { check(t, lawCase(law)) })
	}
}

func TestRoundTrip(t *testing.T) {
	forLaws(t, func(t *testing.T, ac codectest.AudioCodecCase) { codectest.CheckToneRoundTrip(t, ac, 440, 1000, 3000) })
}

func TestConceal(t *testing.T) { forLaws(t, codectest.CheckFadeConceal) }

func TestPLC(t *testing.T) {
	forLaws(t, func(t *testing.T, ac codectest.AudioCodecCase) { codectest.CheckPLC(t, ac, 440) })
}

func TestFrameSizes(t *testing.T) { forLaws(t, codectest.CheckFrameSizes) }

func TestCorruptPayloads(t *testing.T) { forLaws(t, codectest.CheckCorruptPayloads) }

func TestClose(t *testing.T) { forLaws(t, codectest.CheckClose) }

func TestUnknownLaw(t *testing.T) {
	if _, err := NewEncoder(Law(3)); err == nil {
		t.Error("NewEncoder(Law(3)) = nil error")
	}
	if _, err := NewDecoder(Law(3)); err == nil {
		t.Error("NewDecoder(Law(3)) = nil error")
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
	f.Fuzz(func(t *testing.T, alaw bool, payload []byte) {
		d := decs[alaw]
		codectest.CheckDecodeAny(t, lawCase(d.Law()), d, payload)
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, law := range []Law{MuLaw, ALaw} {
		b.Run(law.String(), func(b *testing.B) { codectest.BenchAudioEncode(b, lawCase(law)) })
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, law := range []Law{MuLaw, ALaw} {
		b.Run(law.String(), func(b *testing.B) { codectest.BenchAudioDecode(b, lawCase(law)) })
	}
}
