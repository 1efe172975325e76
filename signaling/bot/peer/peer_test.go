package peer_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/signaling/bot/live"
	"github.com/openmcu/mcu/signaling/bot/peer"
	"github.com/openmcu/mcu/signaling/bot/replay"
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

// connect negotiates c with a new sink over loopback and waits until video and audio arrive.
func connect(t *testing.T, c *peer.Client) *sink {
	t.Helper()
	s := newSink(t)
	offer, err := c.Offer()
	if err != nil {
		s.close()
		t.Fatal(err)
	}
	answer, err := s.answer(offer)
	if err != nil {
		s.close()
		t.Fatalf("sink answer: %v", err)
	}
	if err := c.SetAnswer(answer); err != nil {
		s.close()
		t.Fatal(err)
	}
	if err := codectest.Poll(20*time.Second, func() error {
		if f, a, _ := s.counts(time.Time{}, time.Now()); f < 5 || a < 5 {
			return fmt.Errorf("%d frames and %d audio packets so far", f, a)
		}
		return nil
	}); err != nil {
		s.close()
		t.Fatal(err)
	}
	return s
}

// TestReplay checks that a client replaying a clip sends its frames with RTP timestamps that advance by
// exactly the clip's frame interval, and audio.
func TestReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("peer connection over loopback")
	}
	for _, vc := range []codec.VideoCodec{codec.H264, codec.VP8} {
		t.Run(vc.String(), func(t *testing.T) {
			clip, err := replay.New(replay.Config{Colour: codec.Black, ToneHz: 500, VideoCodec: vc,
				Width: 320, Height: 180, FrameRate: 25})
			if err != nil {
				t.Fatal(err)
			}
			c, err := peer.New(peer.Config{NoDecode: true, IncludeLoopback: true, Interfaces: []string{"lo"}},
				peer.Params{Video: replay.NewVideo(clip), Audio: replay.NewAudio(clip)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.VideoCodec() != vc {
				t.Errorf("client codec %v, want the clip's %v", c.VideoCodec(), vc)
			}
			s := connect(t, c)
			defer s.close()
			frames, audio, span := s.counts(time.Time{}, time.Now())
			t.Logf("%d frames spanning %v of RTP time, %d audio packets", frames, span, audio)
			if want := time.Duration(frames-1) * 40 * time.Millisecond; span < want-time.Millisecond || span > want+time.Millisecond {
				t.Errorf("%d frames span %v of RTP time, want %v", frames, span, want)
			}
		})
	}
}

// TestLive sends the live test pattern and tone (mediadevices with codec/vp8 or codec/h264 and
// codec/opus) to a plain pion peer, which receives video and audio.
func TestLive(t *testing.T) {
	if testing.Short() {
		t.Skip("peer connection over loopback")
	}
	for _, vc := range []codec.VideoCodec{codec.VP8, codec.H264} {
		t.Run(vc.String(), func(t *testing.T) {
			v, err := live.NewPatternSource(live.PatternConfig{Name: "live", Colour: codec.RGBToYUV(200, 40, 40),
				Width: 320, Height: 180}, live.VideoEncoder{Codec: vc})
			if err != nil {
				t.Fatal(err)
			}
			a, err := live.NewToneSource(live.ToneConfig{Hz: 700}, live.OpusEncoder{})
			if err != nil {
				v.Close()
				t.Fatal(err)
			}
			c, err := peer.New(peer.Config{NoDecode: true, IncludeLoopback: true, Interfaces: []string{"lo"}},
				peer.Params{Video: v, Audio: a})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := connect(t, c)
			s.close()
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// fakeSource is a peer.VideoSource that sends one byte every 10 ms and records its use.
type fakeSource struct {
	vc        codec.VideoCodec
	reads     atomic.Int64
	keyframes atomic.Int64
	closes    atomic.Int64
	fail      error // returned by ReadSample
}

func (f *fakeSource) ReadSample() (media.Sample, error) {
	if f.closes.Load() > 0 {
		return media.Sample{}, errors.New("read after close")
	}
	f.reads.Add(1)
	time.Sleep(10 * time.Millisecond)
	return media.Sample{Data: []byte{0}, Duration: 10 * time.Millisecond}, f.fail
}
func (f *fakeSource) ForceKeyframe()          { f.keyframes.Add(1) }
func (f *fakeSource) Close() error            { f.closes.Add(1); return nil }
func (f *fakeSource) Codec() codec.VideoCodec { return f.vc }

// TestSourceOwnership checks that a client closes its sources exactly once in every case: New failing,
// Close before any answer, and a source that fails while sending.
func TestSourceOwnership(t *testing.T) {
	t.Run("new fails", func(t *testing.T) {
		v, a := &fakeSource{vc: codec.VP8}, &fakeSource{}
		_, err := peer.New(peer.Config{VideoCodec: codec.H264}, peer.Params{Video: v, Audio: a})
		if err == nil {
			t.Fatal("a VP8 source with an H.264 config: no error")
		}
		if v.closes.Load() != 1 || a.closes.Load() != 1 {
			t.Errorf("closes %d and %d, want 1 and 1", v.closes.Load(), a.closes.Load())
		}
	})
	t.Run("closed before answer", func(t *testing.T) {
		v, a := &fakeSource{vc: codec.VP8}, &fakeSource{}
		c, err := peer.New(peer.Config{}, peer.Params{Video: v, Audio: a})
		if err != nil {
			t.Fatal(err)
		}
		if c.VideoCodec() != codec.VP8 {
			t.Errorf("codec %v, want the source's VP8", c.VideoCodec())
		}
		c.Close()
		c.Close()
		if v.closes.Load() != 1 || a.closes.Load() != 1 || v.reads.Load() != 0 {
			t.Errorf("closes %d and %d, reads %d; want 1, 1 and 0", v.closes.Load(), a.closes.Load(), v.reads.Load())
		}
	})
	t.Run("receive only", func(t *testing.T) {
		c, err := peer.New(peer.Config{}, peer.Params{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.VideoCodec() != codec.H264 {
			t.Errorf("codec %v, want the default H.264", c.VideoCodec())
		}
		offer, err := c.Offer()
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(offer, "\na=recvonly\r\n"); n != 2 {
			t.Errorf("offer has %d recvonly sections, want 2:\n%s", n, offer)
		}
	})
	if testing.Short() {
		return
	}
	t.Run("source fails", func(t *testing.T) {
		v := &fakeSource{vc: codec.VP8, fail: errors.New("camera unplugged")}
		a := &fakeSource{}
		c, err := peer.New(peer.Config{IncludeLoopback: true, Interfaces: []string{"lo"}, NoDecode: true},
			peer.Params{Video: v, Audio: a})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s := newSink(t)
		defer s.close()
		offer, err := c.Offer()
		if err != nil {
			t.Fatal(err)
		}
		answer, err := s.answer(offer)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetAnswer(answer); err != nil {
			t.Fatal(err)
		}
		if err := codectest.Poll(20*time.Second, func() error {
			if v.closes.Load() != 1 || a.reads.Load() < 3 {
				return fmt.Errorf("failing source closed %d times, other read %d times", v.closes.Load(), a.reads.Load())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if v.closes.Load() != 1 || a.closes.Load() != 1 || v.reads.Load() != 1 {
			t.Errorf("closes %d and %d, failing reads %d; want 1, 1 and 1", v.closes.Load(), a.closes.Load(), v.reads.Load())
		}
	})
}
