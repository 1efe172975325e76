package mcu_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mixer"
)

// TestShedLevelsLowerTiers: past the compositor's last shed level, each level holds every video
// receiver one tier further down (a smaller encode), never below the lowest tier and never to audio
// only; a receiver its caps already hold lower stays there, an audio-only one gets no video, and a
// recording keeps its tier (its file's picture size). When the level comes down, everyone goes back to
// the tier their caps allow. Audio flows throughout.
func TestShedLevelsLowerTiers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height, cfg.VideoBitrate = 640, 360, 600_000
	cfg.LowerTiers = []mcu.Tier{
		{Name: "sd", Width: 320, Height: 180, FrameRate: 30, VideoBitrate: 250_000},
		{Name: "ld", Width: 160, Height: 90, FrameRate: 15, VideoBitrate: 100_000},
	}
	cfg.VisibleTiles = 1
	cfg.NoVideoShedding = true // the test sets the level itself
	m := newMCU(t, cfg)
	s := join(t, m, "room", "S", 0, 430)
	r := join(t, m, "room", "R", 1, 0)
	l := join(t, m, "room", "L", 2, 0)
	a := join(t, m, "room", "A", 3, 0)
	defer func() {
		for _, p := range []*party{s, r, l, a} {
			p.client.Close()
		}
	}()
	if err := l.p.SetCaps(mcu.Caps{MaxBitrate: 300_000}); err != nil { // sd at most
		t.Fatal(err)
	}
	if err := a.p.SetCaps(mcu.Caps{MaxBitrate: 60_000}); err != nil { // audio only
		t.Fatal(err)
	}
	file, err := os.Create(filepath.Join(t.TempDir(), "room.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := m.Record("room", mcu.RecordOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Stop()
	recTier := func() string {
		for _, d := range m.Stats().ParticipantDetails {
			if d.ID == rec.ID() {
				return d.Quality.Tier
			}
		}
		return "not in the stats"
	}
	// expect polls until R and L are on these tiers, with R's pictures that size and R's quality saying
	// what holds it down, and everyone hears S.
	expect := func(what, rTier string, rw, rh int, rLimit, lTier string) {
		t.Helper()
		codectest.Require(t, 20*time.Second, func() error {
			if got := tierOf(r.p); got != rTier {
				return fmt.Errorf("%s: R is on %s, want %s", what, got, rTier)
			}
			if q := r.p.Quality(); q.Limit != rLimit {
				return fmt.Errorf("%s: R's tier limit is %q, want %q", what, q.Limit, rLimit)
			}
			if got := tierOf(l.p); got != lTier {
				return fmt.Errorf("%s: L is on %s, want %s", what, got, lTier)
			}
			if got := recTier(); got != "hd" {
				return fmt.Errorf("%s: the recording is on %s, want hd", what, got)
			}
			if got := tierOf(a.p); got != "audio-only" {
				return fmt.Errorf("%s: A is on %s, want audio-only", what, got)
			}
			if pic := r.client.Picture(); pic == nil || pic.Width != rw || pic.Height != rh {
				return fmt.Errorf("%s: R's picture is %v, want %dx%d", what, picSize(pic), rw, rh)
			}
			for _, p := range []*party{r, l, a} {
				if lv := codectest.LevelDB(p.client.Audio(500*time.Millisecond), codec.SampleRate, s.tone); lv < -30 {
					return fmt.Errorf("%s: %s hears S at %.1f dB", what, p.name, lv)
				}
			}
			return nil
		})
	}
	expect("no shedding", "hd", 640, 360, "", "sd")
	m.SetShedLevel(mixer.MaxShedLevel) // frame rates only: tiers stay
	expect("frame-rate shedding", "hd", 640, 360, "", "sd")
	m.SetShedLevel(mixer.MaxShedLevel + 1)
	expect("one tier shed", "sd", 320, 180, "cpu", "sd")
	m.SetShedLevel(mixer.MaxShedLevel + 2)
	expect("two tiers shed", "ld", 160, 90, "cpu", "ld")
	m.SetShedLevel(mixer.MaxShedLevel + 9)
	expect("past the lowest tier", "ld", 160, 90, "cpu", "ld")
	m.SetShedLevel(0)
	expect("pressure gone", "hd", 640, 360, "", "sd")
}

// picSize describes a received picture's size for a failure message.
func picSize(pic *codec.VideoFrame) string {
	if pic == nil {
		return "none"
	}
	return fmt.Sprintf("%dx%d", pic.Width, pic.Height)
}
