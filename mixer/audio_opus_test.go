//go:build cgo

package mixer

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/opus"
)

// opusRoundTrip is an AudioListener that does what the MCU's egress does: one Opus encoder per distinct
// mix key, shared by every listener of that mix, and one decoder per listener standing for its client.
type opusRoundTrip struct {
	t        testing.TB
	encoders map[string]*opus.Encoder
	decoders map[ParticipantID]*opus.Decoder
	heard    map[ParticipantID][]int16 // after the round trip
	mixed    map[ParticipantID][]int16 // as the mixer gave it, before encoding
	keys     map[ParticipantID]string  // the key each listener heard at the last tick
	packet   []byte
	pcm      []int16
}

func newOpusRoundTrip(t testing.TB) *opusRoundTrip {
	r := &opusRoundTrip{
		t:        t,
		encoders: map[string]*opus.Encoder{},
		decoders: map[ParticipantID]*opus.Decoder{},
		heard:    map[ParticipantID][]int16{},
		mixed:    map[ParticipantID][]int16{},
		keys:     map[ParticipantID]string{},
		packet:   make([]byte, opus.MaxPacketSize),
		pcm:      make([]int16, codec.FrameSamples),
	}
	t.Cleanup(func() {
		for _, e := range r.encoders {
			_ = e.Close()
		}
		for _, d := range r.decoders {
			_ = d.Close()
		}
	})
	return r
}

func (r *opusRoundTrip) OnAudioTick(tick AudioTick) {
	for _, mx := range tick.Mixes {
		enc, ok := r.encoders[mx.Key]
		if !ok {
			var err error
			if enc, err = opus.NewEncoder(opus.DefaultEncoderConfig()); err != nil {
				r.t.Fatalf("new encoder for %s: %v", mx.Key, err)
			}
			r.encoders[mx.Key] = enc
		}
		n, err := enc.Encode(mx.PCM, r.packet)
		if err != nil {
			r.t.Fatalf("encode %s at tick %d: %v", mx.Key, tick.Seq, err)
		}
		for _, id := range mx.Listeners {
			dec, ok := r.decoders[id]
			if !ok {
				if dec, err = opus.NewDecoder(); err != nil {
					r.t.Fatalf("new decoder for %s: %v", id, err)
				}
				r.decoders[id] = dec
			}
			if err := dec.Decode(r.packet[:n], r.pcm); err != nil {
				r.t.Fatalf("decode %s for %s at tick %d: %v", mx.Key, id, tick.Seq, err)
			}
			r.heard[id] = append(r.heard[id], r.pcm...)
			r.mixed[id] = append(r.mixed[id], mx.PCM...)
			r.keys[id] = mx.Key
		}
	}
}

func (r *opusRoundTrip) OnSpeakingChanged([]SpeakingChange) {}

// TestAudioOpusMixMinus is the acceptance test of the audio path: three talkers at 440, 660 and 880 Hz
// and two pure listeners, one second of ticks, every mix through an Opus encode and decode. Each talker
// hears the other two tones and its own at least 30 dB below them; the pure listeners hear all three and
// share one encoder.
//
// The encoders use opus.DefaultEncoderConfig (32 kbit/s). The three tones are evenly spaced, so the
// codec's third-order intermodulation (2x660-880 = 440, 2x660-440 = 880) lands exactly on the absent tone:
// at 32 kbit/s it measures 33-42 dB down, at 24 kbit/s about 29 dB, at 48 kbit/s 40-59 dB. Before
// encoding the mixer's output has no trace of the absent tone at all (checked too).
func TestAudioOpusMixMinus(t *testing.T) {
	rt := newOpusRoundTrip(t)
	m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Listener: rt})
	t.Cleanup(func() { _ = m.Close() })

	freqs := map[ParticipantID]float64{"a": 440, "b": 660, "c": 880}
	var srcs []*toneSource
	for _, id := range []ParticipantID{"a", "b", "c"} {
		srcs = append(srcs, &toneSource{src: mustAddSource(t, m, id), freq: freqs[id], amp: ampForDBov(-15)})
		mustAddListener(t, m, id)
	}
	mustAddListener(t, m, "d")
	mustAddListener(t, m, "e")

	for range inputResumeFrames - 1 {
		for _, s := range srcs {
			s.write(t)
		}
	}
	const ticks = 60 // 1.2 s; the first 0.2 s (Opus start-up) is not analysed
	for range ticks {
		for _, s := range srcs {
			s.write(t)
		}
		m.mixOnce()
	}

	if got, want := len(rt.encoders), 4; got != want {
		t.Errorf("%d encoders (%v), want %d: all, minus:a, minus:b, minus:c", got, slices.Sorted(maps.Keys(rt.encoders)), want)
	}
	tests := []struct {
		listener ParticipantID
		key      string
		hear     []float64
		absent   []float64
	}{
		{"a", "minus:a", []float64{660, 880}, []float64{440}},
		{"b", "minus:b", []float64{440, 880}, []float64{660}},
		{"c", "minus:c", []float64{440, 660}, []float64{880}},
		{"d", AllMixKey, []float64{440, 660, 880}, nil},
		{"e", AllMixKey, []float64{440, 660, 880}, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.listener), func(t *testing.T) {
			if got := rt.keys[tt.listener]; got != tt.key {
				t.Errorf("%s hears mix %q, want %q", tt.listener, got, tt.key)
			}
			pcm := rt.heard[tt.listener]
			if len(pcm) != ticks*codec.FrameSamples {
				t.Fatalf("%s heard %d samples, want %d", tt.listener, len(pcm), ticks*codec.FrameSamples)
			}
			spec := codectest.NewSpectrum(pcm[10*codec.FrameSamples:], codec.SampleRate)
			weakest := 0.0
			var levels []string
			for i, f := range tt.hear {
				l := spec.Level(f)
				levels = append(levels, fmt.Sprintf("%.0f Hz %.1f dB", f, l))
				if i == 0 || l < weakest {
					weakest = l
				}
				if l < -30 {
					t.Errorf("%s: %.0f Hz at %.1f dBFS, want it clearly present (sent at about -12 dBFS)", tt.listener, f, l)
				}
			}
			if p := spec.Peak(); !slices.ContainsFunc(tt.hear, func(f float64) bool { return math.Abs(p-f) <= 2*spec.BinHz() }) {
				t.Errorf("%s: loudest line at %.1f Hz, want one of %v", tt.listener, p, tt.hear)
			}
			for _, f := range tt.absent {
				l := spec.Level(f)
				levels = append(levels, fmt.Sprintf("own %.0f Hz %.1f dB", f, l))
				if weakest-l < 30 {
					t.Errorf("%s: own %.0f Hz at %.1f dBFS, only %.1f dB below the others (%.1f dBFS), want >= 30", tt.listener, f, l, weakest-l, weakest)
				}
			}
			t.Logf("%s (%s): %v", tt.listener, tt.key, levels)

			raw := codectest.NewSpectrum(rt.mixed[tt.listener][10*codec.FrameSamples:], codec.SampleRate)
			for _, f := range tt.absent {
				if d := raw.Level(tt.hear[0]) - raw.Level(f); d < 90 {
					t.Errorf("%s before encoding: own %.0f Hz only %.1f dB below %.0f Hz, want >= 90", tt.listener, f, d, tt.hear[0])
				}
			}
		})
	}
}
