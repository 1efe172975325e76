package bot_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/bot"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var palette = []codectest.NamedColor{
	{Name: "red", R: 220, G: 30, B: 30},
	{Name: "green", R: 30, G: 200, B: 30},
	{Name: "blue", R: 30, G: 30, B: 220},
	{Name: "placeholder", R: 44, G: 48, B: 58},
	{Name: "black", R: 0, G: 0, B: 0},
}

var tones = []float64{430, 650, 910}

// nearest returns the name of the palette colour closest to c.
func nearest(c codec.YUV) string {
	r, g, b := c.RGB()
	best, bestD := "", math.MaxInt
	for _, p := range palette {
		dr, dg, db := int(r)-int(p.R), int(g)-int(p.G), int(b)-int(p.B)
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = p.Name, d
		}
	}
	return best
}

// TestBots runs the real MCU behind the real WebSocket handler and joins three bots replaying clips of
// distinct colours and tones. Each receives about 30 fps with no loss; the one that decodes sees the other
// two colours and hears the other two tones. One leaves and the others' rosters follow; when the server
// shuts down the remaining bots learn it on Err.
func TestBots(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height = 640, 360
	cfg.VideoBitrate = 600_000
	cfg.IncludeLoopback = true
	cfg.Interfaces = []string{"lo"}
	log := slog.New(slog.DiscardHandler)
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
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	var bots []*bot.Bot
	defer func() {
		for _, b := range bots {
			b.Close()
		}
	}()
	for i := range 3 {
		clip, err := mcutest.NewClip(mcutest.ClipConfig{Colour: palette[i].YUV(), ToneHz: tones[i],
			Width: 320, Height: 180})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b, err := bot.Join(ctx, bot.Config{URL: srv.URL, Room: "bots", Name: palette[i].Name, Logger: log,
			Media: mcutest.Config{Clip: clip, NoDecode: i > 0, Interfaces: []string{"lo"}}})
		cancel()
		if err != nil {
			t.Fatalf("join %s: %v", palette[i].Name, err)
		}
		bots = append(bots, b)
	}
	if bots[0].ID() == "" || bots[0].ID() == bots[1].ID() {
		t.Errorf("bot IDs %q and %q: want distinct, non-empty", bots[0].ID(), bots[1].ID())
	}

	me := bots[0]
	var seen string
	if err := waitFor(20*time.Second, func() error {
		pic := me.Client().Picture()
		if pic == nil {
			return errors.New("no picture yet")
		}
		var got []string
		for _, r := range mixer.Grid.Rects(2, pic.Width, pic.Height) {
			c := r.Min.Add(r.Max).Div(2)
			got = append(got, nearest(pic.Mean(image.Rect(c.X-8, c.Y-8, c.X+8, c.Y+8))))
		}
		slices.Sort(got)
		pcm := me.Client().Audio(500 * time.Millisecond)
		if len(pcm) < codec.SampleRate/2 {
			return fmt.Errorf("%d samples of audio", len(pcm))
		}
		var levels []float64
		for _, f := range tones {
			levels = append(levels, codectest.LevelDB(pcm, codec.SampleRate, f))
		}
		seen = fmt.Sprintf("%s sees %v and hears %.0f Hz at %.1f dB, %.0f Hz at %.1f dB, itself at %.1f dB", me.ID(), got,
			tones[1], levels[1], tones[2], levels[2], levels[0])
		if !slices.Equal(got, []string{"blue", "green"}) || levels[1] < -40 || levels[2] < -40 || levels[0] > min(levels[1], levels[2])-20 {
			return errors.New(seen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Log(seen)

	var before []mcutest.ReceiveStats
	for _, b := range bots {
		before = append(before, b.Stats())
	}
	start := time.Now()
	time.Sleep(2 * time.Second)
	elapsed := time.Since(start).Seconds()
	for i, b := range bots {
		d := b.Stats().Sub(before[i])
		fps := float64(d.VideoFrames) / elapsed
		t.Logf("%s: %.1f fps, %.0f kbit/s, %d audio packets, %d/%d lost, %d freezes, %d underruns, %d pictures decoded",
			palette[i].Name, fps, float64(8*d.VideoBytes)/elapsed/1000, d.AudioPackets, d.VideoPacketsLost,
			d.AudioPacketsLost, d.VideoFreezes, d.AudioUnderruns, d.PicturesDecoded)
		if fps < 26 || fps > 34 {
			t.Errorf("%s receives %.1f fps, want 30 ± 4", palette[i].Name, fps)
		}
		if d.VideoPacketsLost != 0 || d.AudioPacketsLost != 0 {
			t.Errorf("%s lost %d video and %d audio packets, want none", palette[i].Name, d.VideoPacketsLost, d.AudioPacketsLost)
		}
		if n := b.Participants(); n != 2 {
			t.Errorf("%s knows %d others, want 2", palette[i].Name, n)
		}
	}

	if err := bots[2].Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := bots[2].Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := waitFor(5*time.Second, func() error {
		if n := bots[0].Participants(); n != 1 {
			return fmt.Errorf("%s knows %d others after one left, want 1", palette[0].Name, n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	select {
	case err := <-bots[2].Err():
		t.Errorf("Err after Close: %v, want nothing", err)
	default:
	}

	h.Close() // the server shuts down: the remaining bots are dropped
	for _, b := range bots[:2] {
		select {
		case err := <-b.Err():
			t.Logf("dropped: %v", err)
		case <-time.After(5 * time.Second):
			t.Errorf("bot %s: no error 5 s after the server closed", b.ID())
		}
	}
}

func TestJoinErrors(t *testing.T) {
	m := mcu.DefaultConfig()
	m.MaxParticipants = 1
	mc, err := mcu.New(m, mcu.Params{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	h, err := signaling.NewWebSocketHandler(signaling.MCUConference(mc), signaling.DefaultWebSocketConfig(), signaling.Params{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	media := mcutest.Config{NoVideo: true, NoAudio: true, NoDecode: true, Interfaces: []string{"lo"}}
	first, err := bot.Join(context.Background(), bot.Config{URL: srv.URL, Room: "r", Name: "first", Media: media})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = bot.Join(context.Background(), bot.Config{URL: srv.URL, Room: "r", Name: "second", Media: media})
	var se *bot.ServerError
	if !errors.As(err, &se) || se.Code != string(signaling.CodeRoomFull) {
		t.Errorf("join a full room: %v, want a room-full ServerError", err)
	}
	for _, url := range []string{"ftp://x", "http://", "::"} {
		if _, err := bot.Join(context.Background(), bot.Config{URL: url, Room: "r", Name: "n"}); err == nil {
			t.Errorf("join %q: no error", url)
		}
	}
	if _, err := bot.Join(context.Background(), bot.Config{URL: srv.URL, Name: "n"}); err == nil {
		t.Error("join without a room: no error")
	}
}

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
