package mcutest_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestClipInRoom joins two replaying, non-decoding clients to a real MCU over loopback: over a 2 s window
// each receives the composite and the mix, loses nothing, and counts its freezes consistently.
func TestClipInRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height = 640, 360
	cfg.VideoBitrate = 600_000
	cfg.IncludeLoopback = true
	cfg.Interfaces = []string{"lo"}
	m, err := mcu.New(cfg, mcu.Params{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var clients []*mcutest.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i, colour := range []codectest.NamedColor{{Name: "red", R: 220, G: 30, B: 30}, {Name: "blue", R: 30, G: 30, B: 220}} {
		clip, err := mcutest.NewClip(mcutest.ClipConfig{Colour: colour.YUV(), ToneHz: float64(400 + 230*i)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := mcutest.New(mcutest.Config{Clip: clip, NoDecode: true, IncludeLoopback: true, Interfaces: []string{"lo"}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if err := joinRoom(m, "room", colour.Name, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := codectest.Poll(10*time.Second, func() error {
		for i, c := range clients {
			if s := c.ReceiveStats(); s.VideoFrames < 30 || s.AudioPackets < 50 {
				return fmt.Errorf("client %d: %d frames, %d audio packets", i, s.VideoFrames, s.AudioPackets)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var before []mcutest.ReceiveStats
	for _, c := range clients {
		before = append(before, c.ReceiveStats())
	}
	start := time.Now()
	time.Sleep(2 * time.Second)
	elapsed := time.Since(start).Seconds()
	for i, c := range clients {
		s := c.ReceiveStats()
		d := s.Sub(before[i])
		fps, aps := float64(d.VideoFrames)/elapsed, float64(d.AudioPackets)/elapsed
		t.Logf("client %d: %.1f fps, %.0f kbit/s video, %.1f audio packets/s, %d/%d lost, %d freezes, %d underruns, max frame gap %v, max audio gap %v",
			i, fps, float64(d.VideoBytes*8)/elapsed/1000, aps, d.VideoPacketsLost, d.AudioPacketsLost, d.VideoFreezes,
			d.AudioUnderruns, s.MaxFrameGap, s.MaxAudioGap)
		// Rates are measured by mcubench, not asserted on a shared machine: both media must keep flowing.
		if d.VideoFrames == 0 || d.AudioPackets == 0 {
			t.Errorf("client %d received %d video frames and %d audio packets in %.1f s, want both flowing",
				i, d.VideoFrames, d.AudioPackets, elapsed)
		}
		if d.VideoPacketsLost != 0 || d.AudioPacketsLost != 0 {
			t.Errorf("client %d: %d/%d video/audio packets lost, want none", i, d.VideoPacketsLost, d.AudioPacketsLost)
		}
		// How often the server stalls is the machine's business (-race on 2 shared cores with other test
		// packages: gaps of 380 ms seen), measured by mcubench; the freeze counters must agree with the
		// gaps: a freeze is a gap over three frame intervals, and counts that gap less one interval.
		const interval = time.Second / 30
		if d.VideoFreezes > 0 && (s.MaxFrameGap <= 3*interval || d.VideoFreezeDuration < time.Duration(d.VideoFreezes)*2*interval) {
			t.Errorf("client %d: %d freezes (%v frozen) but the longest gap is %v: the counters disagree",
				i, d.VideoFreezes, d.VideoFreezeDuration, s.MaxFrameGap)
		}
		if d.PicturesDecoded != 0 || d.VideoBytes == 0 || s.FirstVideo.IsZero() || !s.LastVideo.After(start) {
			t.Errorf("client %d: stats %+v: want bytes, no decoded pictures and recent frames", i, s)
		}
		if c.Picture() != nil {
			t.Errorf("client %d decoded a picture with NoDecode", i)
		}
	}
}

// joinRoom joins c to room through m directly (no signalling), trickling the server's candidates.
func joinRoom(m *mcu.MCU, room, name string, c *mcutest.Client) error {
	p, err := m.Join(room, name, trickle{c})
	if err != nil {
		return err
	}
	if err := mcutest.Negotiate(c, p); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// trickle is a participant listener that hands the server's candidates to the client.
type trickle struct{ c *mcutest.Client }

func (l trickle) OnICECandidate(ca mcu.ICECandidate) {
	l.c.AddICECandidate(webrtc.ICECandidateInit{Candidate: ca.Candidate, SDPMid: ca.SDPMid,
		SDPMLineIndex: ca.SDPMLineIndex, UsernameFragment: ca.UsernameFragment})
}

func (trickle) OnRoster(mcu.RosterEvent) {}
func (trickle) OnClosed(error)           {}
