package mcu_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// TestVideoPSNR runs a room of two participants with Config.MeasurePSNR on and off: on, the encoded
// pictures' luma PSNR is counted and plausible; off, nothing is.
func TestVideoPSNR(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	for _, measure := range []bool{true, false} {
		t.Run(fmt.Sprintf("measure=%v", measure), func(t *testing.T) {
			cfg := smallConfig()
			cfg.MeasurePSNR = measure
			// Below the clips' 500 kbit/s: the server's encoder, not the clips', sets the quality.
			cfg.VideoBitrate = 150_000
			m := newMCU(t, cfg)
			// Noise clips: a hard picture, which no encoder codes without loss.
			var parties [2]*party
			for i := range parties {
				clip, err := mcutest.NewClip(mcutest.ClipConfig{Colour: palette[i].YUV(), ToneHz: float64(430 + 220*i)})
				if err != nil {
					t.Fatal(err)
				}
				parties[i] = joinConfig(t, m, "room", string(rune('A'+i)), i, 0, mcutest.Config{Clip: clip})
				defer parties[i].client.Close()
			}
			a, b := parties[0], parties[1]
			// Count from when both see each other's video: before that the views are black, which codes
			// without any error.
			if err := codectest.Poll(20*time.Second, func() error {
				if a.client.PicturesReceived() == 0 || b.client.PicturesReceived() == 0 {
					return fmt.Errorf("%d and %d pictures received", a.client.PicturesReceived(), b.client.PicturesReceived())
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			s0 := m.Stats()
			const frames = 60
			if err := codectest.Poll(20*time.Second, func() error {
				if n := m.Stats().VideoFramesOut - s0.VideoFramesOut; n < frames {
					return fmt.Errorf("%d frames out, want %d", n, frames)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			h := m.Stats().VideoPSNR
			if !measure {
				if h.Count != 0 || h.Sum != 0 {
					t.Errorf("MeasurePSNR off: %d pictures measured, sum %v dB; want none", h.Count, h.Sum)
				}
				return
			}
			h0 := s0.VideoPSNR
			h.Count -= h0.Count
			h.Sum -= h0.Sum
			for i := range h.Counts {
				h.Counts[i] -= h0.Counts[i]
			}
			checkPSNR(t, h, frames)
		})
	}
}

// checkPSNR checks a PSNR histogram of at least frames pictures of noise: consistent counts and a plausible
// mean.
func checkPSNR(t *testing.T, h mcu.PSNRHistogram, frames int) {
	t.Helper()
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	if len(h.Counts) != len(h.Bounds)+1 || n != h.Count || h.Count < uint64(frames) {
		t.Fatalf("PSNR histogram %+v: want %d buckets and the rest, counts adding up to at least %d", h,
			len(h.Bounds), frames)
	}
	mean := h.Sum / float64(h.Count)
	t.Logf("luma PSNR of %d encoded pictures: mean %.2f dB, counts %v over bounds %v", h.Count, mean, h.Counts,
		h.Bounds)
	if mean < 20 || mean > 60 {
		t.Errorf("mean luma PSNR %.2f dB of noise: want 20..60", mean)
	}
}
