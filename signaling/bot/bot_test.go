package bot_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/bot"
	"github.com/openmcu/mcu/signaling/bot/live"
	"github.com/openmcu/mcu/signaling/bot/peer"
	"github.com/openmcu/mcu/signaling/bot/replay"
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
		clip, err := replay.New(replay.Config{Colour: palette[i].YUV(), ToneHz: tones[i],
			Width: 320, Height: 180})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b, err := bot.Join(ctx, bot.Config{URL: srv.URL, Room: "bots", Name: palette[i].Name,
			Media: peer.Config{NoDecode: i > 0, Interfaces: []string{"lo"}}},
			bot.Params{Video: replay.NewVideo(clip), Audio: replay.NewAudio(clip), Logger: log})
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
	if err := codectest.Poll(20*time.Second, func() error {
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

	var before []peer.ReceiveStats
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
		// The rate is measured by mcubench, not asserted here: the test only
		// requires that both media keep flowing over the window.
		if d.VideoFrames == 0 || d.AudioPackets == 0 {
			t.Errorf("%s received %d video frames and %d audio packets in %.1f s, want both flowing",
				palette[i].Name, d.VideoFrames, d.AudioPackets, elapsed)
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
	if err := codectest.Poll(5*time.Second, func() error {
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

// newServer starts the real MCU (640x360 output, loopback ICE) behind the real WebSocket handler on an
// httptest server. Cleanup closes all three.
func newServer(t *testing.T) (*httptest.Server, *signaling.WebSocketHandler) {
	t.Helper()
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
	t.Cleanup(func() { m.Close() })
	h, err := signaling.NewWebSocketHandler(signaling.MCUConference(m), signaling.DefaultWebSocketConfig(),
		signaling.Params{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return srv, h
}

// TestLiveBot joins a bot whose media is live (mediadevices: the test pattern through codec/vp8, the tone
// through codec/opus) and a receive-only bot that decodes what the server sends it. The watcher sees the
// live bot's colour in the middle of its tile, a lower band that changes (the clock and the moving bar),
// and hears its tone.
func TestLiveBot(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	srv, _ := newServer(t)
	green, tone := palette[1], 650.0
	v, err := live.NewPatternSource(live.PatternConfig{Name: "live green", Colour: green.YUV()},
		live.VideoEncoder{Codec: codec.VP8})
	if err != nil {
		t.Fatal(err)
	}
	a, err := live.NewToneSource(live.ToneConfig{Hz: tone}, live.OpusEncoder{})
	if err != nil {
		v.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sender, err := bot.Join(ctx, bot.Config{URL: srv.URL, Room: "live", Name: "live green",
		Media: peer.Config{NoDecode: true, Interfaces: []string{"lo"}}}, bot.Params{Video: v, Audio: a})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if got := sender.Client().VideoCodec(); got != codec.VP8 {
		t.Errorf("live bot negotiates %v, want VP8", got)
	}
	watcher, err := bot.Join(ctx, bot.Config{URL: srv.URL, Room: "live", Name: "watcher", Layout: "grid",
		Media: peer.Config{Interfaces: []string{"lo"}}}, bot.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()

	var seen string
	var band []codec.YUV // the lower band of the first good picture, in strips
	if err := codectest.Poll(20*time.Second, func() error {
		pic := watcher.Client().Picture()
		if pic == nil {
			return errors.New("no picture yet")
		}
		tile := mixer.Grid.Rects(1, pic.Width, pic.Height)[0]
		c := tile.Min.Add(tile.Max).Div(2)
		colour := nearest(pic.Mean(image.Rect(c.X-8, c.Y-8, c.X+8, c.Y+8)))
		pcm := watcher.Client().Audio(500 * time.Millisecond)
		if len(pcm) < codec.SampleRate/2 {
			return fmt.Errorf("%d samples of audio", len(pcm))
		}
		level := codectest.LevelDB(pcm, codec.SampleRate, tone)
		peak := codectest.PeakFrequency(pcm, codec.SampleRate)
		strips := lowerBand(pic, tile)
		changed := 0
		if band == nil && colour == green.Name {
			band = strips
		} else {
			for i := range strips {
				if !codectest.Near(strips[i], band[i], 12) {
					changed++
				}
			}
		}
		seen = fmt.Sprintf("the watcher sees %s in the middle, %d of %d lower-band strips changed, and hears %.0f Hz at %.1f dB (peak at %.0f Hz)",
			colour, changed, len(strips), tone, level, peak)
		if colour != green.Name || level < -40 || math.Abs(peak-tone) > 10 || changed == 0 {
			return errors.New(seen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Log(seen)
	if s := watcher.Stats(); s.PicturesDecoded == 0 || s.VideoFrames == 0 {
		t.Errorf("watcher stats %+v: want decoded pictures", s)
	}
}

// lowerBand returns the mean colours of 16 vertical strips across the bottom tenth of tile, where the
// test pattern has its moving bar.
func lowerBand(pic *codec.VideoFrame, tile image.Rectangle) []codec.YUV {
	top := tile.Max.Y - tile.Dy()/10
	out := make([]codec.YUV, 16)
	for i := range out {
		x0 := tile.Min.X + i*tile.Dx()/16
		out[i] = pic.Mean(image.Rect(x0, top, x0+tile.Dx()/16, tile.Max.Y))
	}
	return out
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
	media := peer.Config{NoDecode: true, Interfaces: []string{"lo"}}
	first, err := bot.Join(context.Background(), bot.Config{URL: srv.URL, Room: "r", Name: "first", Media: media}, bot.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	v, a := &fakeSource{}, &fakeSource{}
	_, err = bot.Join(context.Background(), bot.Config{URL: srv.URL, Room: "r", Name: "second", Media: media},
		bot.Params{Video: v, Audio: a})
	var se *bot.ServerError
	if !errors.As(err, &se) || se.Code != string(signaling.CodeRoomFull) {
		t.Errorf("join a full room: %v, want a room-full ServerError", err)
	}
	if v.closes.Load() != 1 || a.closes.Load() != 1 {
		t.Errorf("a failed join closed its sources %d and %d times, want once each", v.closes.Load(), a.closes.Load())
	}
	for _, url := range []string{"ftp://x", "http://", "::"} {
		v := &fakeSource{}
		if _, err := bot.Join(context.Background(), bot.Config{URL: url, Room: "r", Name: "n"}, bot.Params{Video: v}); err == nil {
			t.Errorf("join %q: no error", url)
		}
		if v.closes.Load() != 1 {
			t.Errorf("join %q closed its source %d times, want once", url, v.closes.Load())
		}
	}
	if _, err := bot.Join(context.Background(), bot.Config{URL: srv.URL, Name: "n"}, bot.Params{}); err == nil {
		t.Error("join without a room: no error")
	}
}

// fakeSource is a peer.VideoSource that sends nothing and counts Close calls.
type fakeSource struct{ closes atomic.Int32 }

func (f *fakeSource) ReadSample() (media.Sample, error) { return media.Sample{}, io.EOF }
func (f *fakeSource) ForceKeyframe()                    {}
func (f *fakeSource) Close() error                      { f.closes.Add(1); return nil }
func (f *fakeSource) Codec() codec.VideoCodec           { return codec.H264 }
