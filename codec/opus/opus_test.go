package opus

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	hopus "gopkg.in/hraban/opus.v2"
)

const amp = 8000

// opusCase is Opus with cfg for codectest's conformance checks.
func opusCase(cfg EncoderConfig) codectest.AudioCodecCase {
	return codectest.AudioCodecCase{
		Name:           fmt.Sprintf("opus %d bit/s", cfg.Bitrate),
		NewEncoder:     func() (codec.AudioEncoder, error) { return NewEncoder(cfg) },
		NewDecoder:     func() (codec.AudioDecoder, error) { return NewDecoder() },
		ClockRate:      48000,
		MaxPayload:     MaxPacketSize,
		Amplitude:      amp,
		Settle:         5,
		LevelTolerance: 2,
	}
}

// defaultCase is opusCase with DefaultEncoderConfig.
var defaultCase = opusCase(DefaultEncoderConfig())

// encodeSignal encodes frames 20 ms frames of a continuous tone, of frequency freqs(frame) and with an
// optional gain per sample (index into the whole signal) to make it speech-like for the encoder's voice
// activity detector, and returns the packets and the input.
func encodeSignal(t testing.TB, cfg EncoderConfig, freqs func(frame int) float64, gain func(i int) float64, frames int) (packets [][]byte, input []int16) {
	t.Helper()
	enc := codectest.Open(t, NewEncoder, cfg)
	var ph float64
	buf := make([]byte, MaxPacketSize)
	for i := range frames {
		pcm := codectest.Tone(freqs(i), amp, codec.FrameSamples, codec.SampleRate, &ph)
		if gain != nil {
			for j := range pcm {
				pcm[j] = int16(float64(pcm[j]) * gain(i*codec.FrameSamples+j))
			}
		}
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatalf("Encode frame %d (%+v): %v", i, cfg, err)
		}
		packets = append(packets, append([]byte(nil), buf[:n]...))
		input = append(input, pcm...)
	}
	return packets, input
}

func constant(f float64) func(int) float64 { return func(int) float64 { return f } }

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		bitrate int
		freqs   []float64
	}{
		{32000, []float64{440, 1000}}, {12000, []float64{440}}, {64000, []float64{3000}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dbps", tc.bitrate), func(t *testing.T) {
			cfg := DefaultEncoderConfig()
			cfg.Bitrate = tc.bitrate
			codectest.CheckToneRoundTrip(t, opusCase(cfg), tc.freqs...)
		})
	}
}

// syllables is a 4 Hz envelope between 0.2 and 1, loudest at the lost frame of TestFEC (0.6 s): a
// steady tone is not speech to SILK's voice activity detector, which then spends no bits on FEC.
func syllables(i int) float64 {
	return 0.6 + 0.4*math.Cos(2*math.Pi*4*(float64(i)/codec.SampleRate-0.61))
}

// snr returns the signal-to-noise ratio in dB of got against want, sample by sample.
func snr(got, want []int16) float64 {
	var sig, noise float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		sig += float64(want[i]) * float64(want[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/(noise+1e-9))
}

// TestFEC loses one packet and rebuilds it from the next packet's in-band FEC data, encoded for 20 %
// expected loss. The rebuilt frame must be close to what the lost packet would have decoded to, and much
// closer than packet loss concealment without the next packet gets.
func TestFEC(t *testing.T) {
	const lost = 30
	tests := []struct {
		name   string
		freqs  func(int) float64
		gain   func(int) float64
		want   float64 // the frequency the lost frame holds
		before float64 // the frequency before it (what PLC extrapolates)
	}{
		{"steady440", constant(440), syllables, 440, 440},
		// The tone starts at the lost frame: PLC extrapolates silence.
		{"onset440", constant(440), func(i int) float64 {
			if i < lost*codec.FrameSamples {
				return 0
			}
			return 1
		}, 440, 0},
		// The tone changes at the lost frame: PLC extrapolates the old frequency.
		{"change440to1000", func(i int) float64 {
			if i < lost {
				return 440
			}
			return 1000
		}, nil, 1000, 440},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultEncoderConfig()
			cfg.PacketLoss = 20
			packets, _ := encodeSignal(t, cfg, tc.freqs, tc.gain, 40)

			ref, fec, plc := defaultCase.Decoder(t), defaultCase.Decoder(t), defaultCase.Decoder(t)
			want := make([]int16, codec.FrameSamples)
			got := make([]int16, codec.FrameSamples)
			extra := make([]int16, codec.FrameSamples)
			for i := 0; i < lost; i++ {
				for _, d := range []codec.AudioDecoder{ref, fec, plc} {
					if err := d.Decode(packets[i], got); err != nil {
						t.Fatalf("Decode packet %d: %v", i, err)
					}
				}
			}
			if err := ref.Decode(packets[lost], want); err != nil {
				t.Fatal(err)
			}
			if err := fec.Conceal(packets[lost+1], got); err != nil {
				t.Fatalf("Conceal(next packet of %d bytes): %v", len(packets[lost+1]), err)
			}
			if err := plc.Conceal(nil, extra); err != nil {
				t.Fatalf("Conceal(nil): %v", err)
			}
			ws, gs := codectest.NewSpectrum(want, codec.SampleRate), codectest.NewSpectrum(got, codec.SampleRate)
			fecSNR, plcSNR := snr(got, want), snr(extra, want)
			t.Logf("lossless: peak %g Hz, %.1f dB; FEC: peak %g Hz, %.1f dB, SNR %.1f dB; PLC: %.1f dB, SNR %.1f dB",
				ws.Peak(), ws.Level(tc.want), gs.Peak(), gs.Level(tc.want), fecSNR, codectest.LevelDB(extra, codec.SampleRate, tc.want), plcSNR)
			if p := gs.Peak(); p < tc.want-gs.BinHz() || p > tc.want+gs.BinHz() {
				t.Errorf("FEC frame peaks at %g Hz, want %g Hz", p, tc.want)
			}
			if diff := gs.Level(tc.want) - ws.Level(tc.want); diff > 3 || diff < -3 {
				t.Errorf("FEC frame level at %g Hz %.1f dB, lossless %.1f dB: want within 3 dB", tc.want, gs.Level(tc.want), ws.Level(tc.want))
			}
			if fecSNR < 10 || fecSNR < plcSNR+8 {
				t.Errorf("FEC frame SNR %.1f dB against the lossless frame (PLC: %.1f dB): want >= 10 dB and 8 dB better than PLC", fecSNR, plcSNR)
			}
			// The decoder carries on normally with the packet that held the FEC data.
			if err := fec.Decode(packets[lost+1], got); err != nil {
				t.Fatalf("Decode after FEC: %v", err)
			}
			if err := ref.Decode(packets[lost+1], want); err != nil {
				t.Fatal(err)
			}
			if s := snr(got, want); s < 15 {
				t.Errorf("frame after the FEC frame: SNR %.1f dB against the lossless decoder, want >= 15 dB", s)
			}
		})
	}
}

// TestPLC loses the packet after a tone with nothing to recover it from: the decoder must extrapolate
// the tone, not fall silent.
func TestPLC(t *testing.T) { codectest.CheckPLC(t, defaultCase, 440, 1000) }

// TestPacketDurations feeds packets of 10, 40 and 60 ms: Decode must report ErrFrameSize, fill exactly
// FrameSamples and never write beyond them, even when pcm has spare capacity.
func TestPacketDurations(t *testing.T) {
	for _, ms := range []int{10, 20, 40, 60} {
		t.Run(fmt.Sprintf("%dms", ms), func(t *testing.T) {
			raw, err := hopus.NewEncoder(codec.SampleRate, 1, hopus.AppVoIP)
			if err != nil {
				t.Fatal(err)
			}
			samples := ms * codec.SampleRate / 1000
			var ph float64
			d := defaultCase.Decoder(t)
			buf := make([]byte, 4000)
			for i := range 10 {
				n, err := raw.Encode(codectest.Tone(440, amp, samples, codec.SampleRate, &ph), buf)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := PacketSamples(buf[:n]); err != nil || got != samples {
					t.Errorf("PacketSamples(%d ms packet) = %d, %v; want %d", ms, got, err, samples)
				}
				pcm := make([]int16, codec.FrameSamples, maxPacketSamples)
				spare := pcm[codec.FrameSamples:cap(pcm)]
				for j := range spare {
					spare[j] = 0x5555
				}
				err = d.Decode(buf[:n], pcm)
				if ms == 20 && err != nil {
					t.Fatalf("Decode(20 ms packet %d): %v", i, err)
				}
				if ms != 20 && !errors.Is(err, codec.ErrFrameSize) {
					t.Fatalf("Decode(%d ms packet %d) = %v, want ErrFrameSize", ms, i, err)
				}
				for j, v := range spare {
					if v != 0x5555 {
						t.Fatalf("Decode(%d ms packet) wrote beyond FrameSamples at index %d", ms, codec.FrameSamples+j)
					}
				}
				if i == 9 {
					if l := codectest.LevelDB(pcm[:min(samples, codec.FrameSamples)], codec.SampleRate, 440); l < -30 {
						t.Errorf("%d ms packet: 440 Hz at %.1f dB in the decoded part, want a tone", ms, l)
					}
				}
			}
		})
	}
}

func TestCorruptPayloads(t *testing.T) {
	codectest.CheckCorruptPayloads(t, defaultCase)
	// Malformed packet headers (RFC 6716 section 3) must be refused.
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"code3NoCount", []byte{0x03}},
		{"code3ZeroFrames", []byte{0x03, 0x00}},
		{"code3TooLong", []byte{0x03 | 2<<3, 0x3f}}, // 63 frames of 40 ms
		{"code2BadLength", []byte{0x02, 0xff, 0xff}},
	}
	t.Run("malformed", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := codectest.CheckDecodeAny(t, defaultCase, defaultCase.Decoder(t), tc.payload); err == nil {
					t.Errorf("Decode(% x) = nil, want an error", tc.payload)
				}
			})
		}
	})
	t.Run("oneByte", func(t *testing.T) {
		codectest.CheckDecodeAny(t, defaultCase, defaultCase.Decoder(t), []byte{0x78})
	})
}

func TestFrameSizes(t *testing.T) { codectest.CheckFrameSizes(t, defaultCase) }

func TestClose(t *testing.T) { codectest.CheckClose(t, defaultCase) }

func TestConfig(t *testing.T) {
	codectest.CheckConfigs(t, DefaultEncoderConfig(), NewEncoder, []codectest.InvalidConfig[EncoderConfig]{
		{Name: "zero", Change: func(c *EncoderConfig) { *c = EncoderConfig{} }},
		{Name: "complexity 11", Change: func(c *EncoderConfig) { *c = EncoderConfig{Bitrate: 32000, Complexity: 11} }},
		{Name: "packet loss 200", Change: func(c *EncoderConfig) { *c = EncoderConfig{Bitrate: 32000, PacketLoss: 200} }},
	})
	enc := codectest.Open(t, NewEncoder, DefaultEncoderConfig())
	for _, bad := range []int{0, 100, 600000} {
		if err := enc.SetBitrate(bad); err == nil {
			t.Errorf("SetBitrate(%d) = nil, want an error", bad)
		}
	}
	for _, bad := range []int{-1, 101} {
		if err := enc.SetPacketLoss(bad); err == nil {
			t.Errorf("SetPacketLoss(%d) = nil, want an error", bad)
		}
	}
	if err := enc.SetBitrate(24000); err != nil || enc.Config().Bitrate != 24000 {
		t.Errorf("SetBitrate(24000) = %v, config %+v", err, enc.Config())
	}
	enc.Close()
	if err := enc.SetBitrate(24000); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("SetBitrate after Close = %v, want ErrClosed", err)
	}
	if err := enc.SetPacketLoss(10); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("SetPacketLoss after Close = %v, want ErrClosed", err)
	}
}

// TestBitrate checks that SetBitrate and SetPacketLoss take effect: packets grow with the bitrate.
func TestBitrate(t *testing.T) {
	enc := codectest.Open(t, NewEncoder, DefaultEncoderConfig())
	var ph float64
	buf := make([]byte, MaxPacketSize)
	avg := func() float64 {
		total := 0
		for range 25 {
			n, err := enc.Encode(codectest.Tone(440, amp, codec.FrameSamples, codec.SampleRate, &ph), buf)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		return float64(total) / 25
	}
	if err := enc.SetBitrate(12000); err != nil {
		t.Fatal(err)
	}
	avg()
	low := avg()
	if err := enc.SetBitrate(64000); err != nil {
		t.Fatal(err)
	}
	avg()
	high := avg()
	t.Logf("12 kbit/s: %.0f bytes/packet, 64 kbit/s: %.0f bytes/packet", low, high)
	if high < 2*low {
		t.Errorf("64 kbit/s packets average %.0f bytes, 12 kbit/s %.0f: want at least twice as large", high, low)
	}
	if err := enc.SetPacketLoss(0); err != nil {
		t.Fatal(err)
	}
}

func FuzzOpusDecode(f *testing.F) {
	packets, _ := codectest.EncodeTone(f, defaultCase, 440, 3)
	for _, p := range packets {
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{0x03, 0x3f})
	f.Add([]byte{0xfb, 0xff, 0xfe})
	d := defaultCase.Decoder(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		codectest.CheckDecodeAny(t, defaultCase, d, payload)
		if n, err := PacketSamples(payload); err == nil && (n <= 0 || n > maxPacketSamples) {
			t.Fatalf("PacketSamples(% x) = %d", payload, n)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, complexity := range []int{5, 10} {
		b.Run(fmt.Sprintf("complexity%d", complexity), func(b *testing.B) {
			cfg := DefaultEncoderConfig()
			cfg.Complexity = complexity
			codectest.BenchAudioEncode(b, opusCase(cfg))
		})
	}
}

func BenchmarkDecode(b *testing.B) { codectest.BenchAudioDecode(b, defaultCase) }

func BenchmarkConceal(b *testing.B) {
	packets, _ := codectest.EncodeTone(b, defaultCase, 440, 50)
	for _, fec := range []bool{false, true} {
		b.Run(fmt.Sprintf("fec=%t", fec), func(b *testing.B) {
			d := defaultCase.Decoder(b)
			pcm := make([]int16, codec.FrameSamples)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var next []byte
				if fec {
					next = packets[(i+1)%len(packets)]
				}
				if err := d.Conceal(next, pcm); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
