package mcutest_test

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink is a plain pion peer that answers a client's offer and records the arrival of every video frame
// (by RTP timestamp) and audio packet.
type sink struct {
	pc *webrtc.PeerConnection
	wg sync.WaitGroup

	mu         sync.Mutex
	frameTimes []time.Time
	frameTS    []uint32
	audioTimes []time.Time
}

func newSink(t *testing.T) *sink {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{pc: pc}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s.wg.Add(1)
		defer s.wg.Done()
		var pkt rtp.Packet
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			now := time.Now()
			s.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				s.audioTimes = append(s.audioTimes, now)
			} else if k := len(s.frameTS); k == 0 || int32(pkt.Timestamp-s.frameTS[k-1]) > 0 {
				s.frameTS = append(s.frameTS, pkt.Timestamp)
				s.frameTimes = append(s.frameTimes, now)
			}
			s.mu.Unlock()
		}
	})
	return s
}

func (s *sink) answer(offer string) (string, error) {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	<-gathered
	return s.pc.LocalDescription().SDP, nil
}

func (s *sink) close() {
	s.pc.Close()
	s.wg.Wait()
}

// counts returns the frames and audio packets that arrived in [from, to), and the RTP time the frames
// span.
func (s *sink) counts(from, to time.Time) (frames, audio int, span time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, last := -1, -1
	for i, at := range s.frameTimes {
		if !at.Before(from) && at.Before(to) {
			if first < 0 {
				first = i
			}
			last = i
			frames++
		}
	}
	for _, at := range s.audioTimes {
		if !at.Before(from) && at.Before(to) {
			audio++
		}
	}
	if first >= 0 {
		span = time.Duration(s.frameTS[last]-s.frameTS[first]) * time.Second / 90000
	}
	return frames, audio, span
}

// TestClipReplay checks that a client replaying a clip sends its frames at the clip's frame rate, with RTP
// timestamps that advance by the frame interval, and an audio packet every 20 ms, over a 1 s window.
func TestClipReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("peer connection over loopback")
	}
	for _, vc := range []codec.VideoCodec{codec.H264, codec.VP8} {
		t.Run(vc.String(), func(t *testing.T) {
			clip, err := mcutest.NewClip(mcutest.ClipConfig{Colour: codec.Black, ToneHz: 500, VideoCodec: vc,
				Width: 320, Height: 180, FrameRate: 25})
			if err != nil {
				t.Fatal(err)
			}
			client, err := mcutest.New(mcutest.Config{Clip: clip, NoDecode: true, IncludeLoopback: true,
				Interfaces: []string{"lo"}})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			s := newSink(t)
			defer s.close()
			offer, err := client.Offer()
			if err != nil {
				t.Fatal(err)
			}
			answer, err := s.answer(offer)
			if err != nil {
				t.Fatalf("sink answer: %v", err)
			}
			if err := client.SetAnswer(answer); err != nil {
				t.Fatal(err)
			}
			if err := waitFor(10*time.Second, func() error {
				if f, a, _ := s.counts(time.Time{}, time.Now()); f == 0 || a == 0 {
					return fmt.Errorf("%d frames and %d audio packets so far", f, a)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			from := time.Now().Add(200 * time.Millisecond)
			time.Sleep(1200 * time.Millisecond)
			frames, audio, span := s.counts(from, from.Add(time.Second))
			t.Logf("in 1 s: %d frames spanning %v of RTP time, %d audio packets", frames, span, audio)
			if frames < 22 || frames > 28 {
				t.Errorf("%d frames in 1 s, want 25 ± 3", frames)
			}
			if want := time.Duration(frames-1) * 40 * time.Millisecond; span < want-time.Millisecond || span > want+time.Millisecond {
				t.Errorf("%d frames span %v of RTP time, want %v", frames, span, want)
			}
			if audio < 46 || audio > 54 {
				t.Errorf("%d audio packets in 1 s, want 50 ± 4", audio)
			}
		})
	}
}

// TestClipInRoom joins two replaying, non-decoding clients to a real MCU over loopback: over a 2 s window
// each receives the composite at about 30 fps and the mix every 20 ms, loses nothing, and sees at most a
// stall or two.
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
	if err := waitFor(10*time.Second, func() error {
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
		if fps < 26 || fps > 34 {
			t.Errorf("client %d receives %.1f fps, want 30 ± 4", i, fps)
		}
		if aps < 45 || aps > 55 {
			t.Errorf("client %d receives %.1f audio packets/s, want 50 ± 5", i, aps)
		}
		if d.VideoPacketsLost != 0 || d.AudioPacketsLost != 0 {
			t.Errorf("client %d: %d/%d video/audio packets lost, want none", i, d.VideoPacketsLost, d.AudioPacketsLost)
		}
		// A server stall on a loaded machine (-race on 2 shared cores: one 130 ms gap seen) shows as one
		// freeze or underrun; more in 2 s means the counting is wrong.
		if d.VideoFreezes+d.AudioUnderruns > 2 {
			t.Errorf("client %d: %d freezes and %d underruns in 2 s, want at most 2 together", i, d.VideoFreezes, d.AudioUnderruns)
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

// waitFor polls check until it returns nil or timeout passes, and returns its last error.
func waitFor(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
