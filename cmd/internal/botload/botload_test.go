package botload

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/bot"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// grey is a Colour: participant i is a grey of level 16+8i.
func grey(i int) codec.YUV { return codec.YUV{Y: uint8(16 + 8*i), U: 128, V: 128} }

func newLoad(t *testing.T, cfg Config) *Load {
	t.Helper()
	l, err := New(cfg, Params{Colour: grey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewWithoutColour(t *testing.T) {
	if _, err := New(Config{}, Params{}); err == nil {
		t.Error("New without a Colour: want an error")
	}
}

// TestConfigs: participant i's clip has its colour and tone and the media every participant sends; its
// bot joins the room by name, on loopback, without decoding.
func TestConfigs(t *testing.T) {
	l0 := newLoad(t, Config{})
	for _, interceptors := range []bool{false, true} {
		l := newLoad(t, Config{Interceptors: interceptors})
		for _, i := range []int{0, 1, 7, 12} {
			want := replay.Config{Colour: grey(i), ToneHz: 300 + 37*float64(i), Width: 640, Height: 360,
				FrameRate: 30, VideoBitrate: 500_000, VideoCodec: codec.H264, Duration: 2 * time.Second,
				KeyframeInterval: time.Second}
			if got := l.ClipConfig(i); got != want {
				t.Errorf("ClipConfig(%d) = %+v, want %+v", i, got, want)
			}
			c := l.botConfig("http://127.0.0.1:8080", "room", i, 15)
			m := c.Media
			if c.URL != "http://127.0.0.1:8080" || c.Room != "room" || c.Name != fmt.Sprintf("bot-%02d", i) ||
				c.Layout != "grid" || !m.NoDecode || m.Interceptors != interceptors || !m.IncludeLoopback ||
				!slices.Equal(m.Interfaces, []string{"lo"}) || m.ExpectedFrameRate != 15 {
				t.Errorf("interceptors %v: botConfig(participant %d at 15 fps) = %+v", interceptors, i, c)
			}
		}
	}
	camera := newLoad(t, Config{Content: replay.Camera})
	for _, i := range []int{0, 3} {
		want := l0.ClipConfig(i)
		want.Content = replay.Camera
		if got := camera.ClipConfig(i); got != want {
			t.Errorf("camera: ClipConfig(%d) = %+v, want %+v", i, got, want)
		}
	}
	for i := range 64 {
		if Tone(i) == Tone(i+1) {
			t.Errorf("participants %d and %d share a tone", i, i+1)
		}
	}
}

// TestClipMadeOnce asks for clips from many goroutines at once: each participant's clip is made once, as
// configured, and every caller gets that one.
func TestClipMadeOnce(t *testing.T) {
	l := newLoad(t, Config{})
	const callers = 6
	got := make([]*replay.Clip, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for k := range callers {
		wg.Go(func() { got[k], errs[k] = l.Clip(k % 2) })
	}
	wg.Wait()
	for k := range callers {
		if errs[k] != nil {
			t.Fatalf("Clip(%d): %v", k%2, errs[k])
		}
		if got[k] != got[k%2] {
			t.Errorf("caller %d got another clip of participant %d than caller %d", k, k%2, k%2)
		}
	}
	if got[0] == got[1] {
		t.Error("participants 0 and 1 share a clip")
	}
	for i, c := range got[:2] {
		cfg := c.Config()
		if cfg.Colour != grey(i) || cfg.Width != 640 || cfg.Height != 360 || c.VideoFrames() != 60 {
			t.Errorf("participant %d's clip: %+v with %d frames, want its colour at 640x360, 60 frames", i, cfg, c.VideoFrames())
		}
	}
}

// TestJoin joins two bots to a room of the real MCU behind the real WebSocket handler: both receive
// video and audio from the other.
func TestJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	log := slog.New(slog.DiscardHandler)
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height, cfg.IncludeLoopback, cfg.Interfaces = 640, 360, true, []string{"lo"}
	m, err := mcu.New(cfg, mcu.Params{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := signaling.NewWebSocketHandler(signaling.MCUConference(m), signaling.DefaultWebSocketConfig(),
		signaling.Params{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	l := newLoad(t, Config{Interceptors: true})
	var bots []*bot.Bot
	defer func() {
		for _, b := range bots {
			b.Close()
		}
	}()
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b, err := l.Join(ctx, srv.URL, "load", i, 0)
		cancel()
		if err != nil {
			t.Fatalf("Join(participant %d): %v", i, err)
		}
		bots = append(bots, b)
	}
	if err := codectest.Poll(20*time.Second, func() error {
		for i, b := range bots {
			if s := b.Stats(); s.VideoFrames == 0 || s.AudioPackets == 0 || b.Participants() != 1 {
				return fmt.Errorf("participant %d: %d video frames, %d audio packets, knows %d others; want media from 1",
					i, s.VideoFrames, s.AudioPackets, b.Participants())
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
