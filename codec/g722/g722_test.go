package g722

import (
	"runtime"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
)

// g722Case is G.722 for codectest's conformance checks. Built without cgo, the checks skip.
var g722Case = codectest.AudioCodecCase{
	Name:           "G722",
	NewEncoder:     func() (codec.AudioEncoder, error) { return NewEncoder() },
	NewDecoder:     func() (codec.AudioDecoder, error) { return NewDecoder() },
	ClockRate:      8000,
	FrameBytes:     FrameBytes,
	Amplitude:      10000,
	Settle:         1,
	LevelTolerance: 1,
	Cutoff:         8800, // nothing of the 16 kHz resampling shows above 8 kHz
}

func TestRoundTrip(t *testing.T) { codectest.CheckToneRoundTrip(t, g722Case, 440, 1000, 3000, 6000) }

func TestConceal(t *testing.T) { codectest.CheckFadeConceal(t, g722Case) }

func TestPLC(t *testing.T) { codectest.CheckPLC(t, g722Case, 440) }

func TestFrameSizes(t *testing.T) { codectest.CheckFrameSizes(t, g722Case) }

func TestCorruptPayloads(t *testing.T) { codectest.CheckCorruptPayloads(t, g722Case) }

func TestClose(t *testing.T) { codectest.CheckClose(t, g722Case) }

// TestCleanup drops encoders and decoders without closing them, for the GC cleanup to free, next to
// closed ones whose cleanup must not free them again.
func TestCleanup(t *testing.T) {
	for range 50 {
		g722Case.Encoder(t).Close()
		g722Case.Decoder(t).Close()
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
	payloads, _ := codectest.EncodeTone(f, g722Case, 440, 1)
	f.Add(payloads[0])
	f.Add([]byte{})
	f.Add(make([]byte, FrameBytes))
	dec := g722Case.Decoder(f)
	f.Fuzz(func(t *testing.T, payload []byte) { codectest.CheckDecodeAny(t, g722Case, dec, payload) })
}

func BenchmarkEncode(b *testing.B) { codectest.BenchAudioEncode(b, g722Case) }

func BenchmarkDecode(b *testing.B) { codectest.BenchAudioDecode(b, g722Case) }
