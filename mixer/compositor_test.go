package mixer_test

import (
	"fmt"
	"image"
	"slices"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	. "github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/mixer/mixertest"
)

// palette are the distinct source colours the tests paint with.
var palette = []codec.YUV{
	codec.RGBToYUV(220, 30, 30), codec.RGBToYUV(30, 200, 40), codec.RGBToYUV(40, 60, 230), codec.RGBToYUV(240, 220, 30),
	codec.RGBToYUV(230, 40, 220), codec.RGBToYUV(30, 210, 220), codec.RGBToYUV(250, 140, 20), codec.RGBToYUV(140, 70, 30),
	codec.RGBToYUV(130, 130, 130), codec.RGBToYUV(250, 250, 250), codec.RGBToYUV(100, 20, 140), codec.RGBToYUV(20, 90, 60),
}

// nearestPalette returns the index of the palette colour closest to c, and the distance.
func nearestPalette(c codec.YUV, cols []codec.YUV) (int, int) {
	best, bestD := -1, 1<<30
	for i, p := range cols {
		dy, du, dv := int(c.Y)-int(p.Y), int(c.U)-int(p.U), int(c.V)-int(p.V)
		if d := dy*dy + du*du + dv*dv; d < bestD {
			best, bestD = i, d
		}
	}
	return best, bestD
}

type recordingListener struct{ last []Assignment }

func (l *recordingListener) OutputsChanged(a []Assignment) { l.last = a }

func (l *recordingListener) outputOf(t *testing.T, id ParticipantID) *Output {
	t.Helper()
	for _, a := range l.last {
		if slices.Contains(a.Receivers, id) {
			return a.Output
		}
	}
	t.Fatalf("receiver %s has no output in %v", id, l.last)
	return nil
}

func newTestCompositor(t *testing.T, cfg CompositorConfig) (*Compositor, *recordingListener) {
	t.Helper()
	l := &recordingListener{}
	c, err := NewCompositor(cfg, CompositorParams{Clock: mixertest.NewClock(time.Unix(0, 0)), Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c, l
}

func solid(w, h int, c codec.YUV) *codec.VideoFrame {
	f := codec.NewVideoFrame(w, h)
	f.Fill(c)
	return f
}

// take returns the frame waiting on out, failing if there is none.
func take(t *testing.T, out *Output) *codec.VideoFrame {
	t.Helper()
	select {
	case f := <-out.Frames():
		t.Cleanup(f.Release)
		return f
	default:
		t.Fatalf("output %v has no frame", out.Key())
		return nil
	}
}

// maxTileDist bounds the squared YUV distance of a tile's sampled colour from the palette colour it is
// taken for: composing copies and scales pictures without a codec, so a tile shows its source's colour
// within a few levels; anything further (black, a wrong blend) is no palette colour.
const maxTileDist = 12 * 12

// tileColours returns the palette index found at the centre of each tile of out's canvas, -1 for a
// colour that is no palette colour.
func tileColours(t *testing.T, f *codec.VideoFrame, rects []image.Rectangle, cols []codec.YUV) []int {
	t.Helper()
	var got []int
	for _, r := range rects {
		c := f.Mean(image.Rect(r.Min.X+r.Dx()*3/8, r.Min.Y+r.Dy()/4, r.Max.X-r.Dx()*3/8, r.Min.Y+r.Dy()/2))
		i, d := nearestPalette(c, cols)
		if d > maxTileDist {
			i = -1
		}
		got = append(got, i)
	}
	return got
}

func TestGridShowsEveryoneButSelf(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	sizes := [][2]int{{640, 360}, {640, 480}, {1280, 720}, {360, 640}} // mixed resolutions and aspect ratios
	for i := range 4 {
		id := ParticipantID(fmt.Sprint("p", i))
		c.AddSource(id, fmt.Sprint("Person ", i))
		if err := c.AddReceiver(id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
		if err := c.PushFrame(id, solid(sizes[i][0], sizes[i][1], palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	c.ComposeOnce(time.Unix(0, 0))
	if len(l.last) != 4 {
		t.Fatalf("4 receivers with distinct views got %d outputs", len(l.last))
	}
	for i := range 4 {
		id := ParticipantID(fmt.Sprint("p", i))
		out := l.outputOf(t, id)
		f := take(t, out)
		got := tileColours(t, f, Grid.Rects(3, 1280, 720), palette[:4])
		var want []int
		for j := range 4 {
			if j != i {
				want = append(want, j)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("receiver %s sees colours %v, want %v (everyone but itself, in join order)", id, got, want)
		}
	}
	// Four sources, one tile size: each source is scaled once, not once per view that shows it.
	if s := c.Stats(); s.Scaled != 4 {
		t.Errorf("scaled %d tiles in one tick, want 4 (once per source and tile size)", s.Scaled)
	}
}

func TestPlaceholderAndLabels(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	c.AddSource("cam", "Camera Person")
	c.AddSource("nocam", "Audio Only")
	if err := c.AddReceiver("viewer", ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	green := codec.RGBToYUV(30, 200, 40)
	if err := c.PushFrame("cam", solid(640, 360, green)); err != nil {
		t.Fatal(err)
	}
	c.ComposeOnce(time.Unix(0, 0))
	f := take(t, l.outputOf(t, "viewer"))
	rects := Grid.Rects(2, 1280, 720)

	// The camera tile is green in its middle, and its bottom-left corner carries a label: darker box
	// with bright text pixels.
	cam := rects[0]
	if i, _ := nearestPalette(f.Mean(image.Rect(cam.Min.X+cam.Dx()/3, cam.Min.Y+cam.Dy()/3, cam.Max.X-cam.Dx()/3, cam.Max.Y-cam.Dy()/3)), []codec.YUV{green, PlaceholderColour}); i != 0 {
		t.Errorf("camera tile centre is not green")
	}
	labelArea := image.Rect(cam.Min.X, cam.Max.Y-cam.Dy()/8, cam.Min.X+cam.Dx()/3, cam.Max.Y)
	if n := countBright(f, labelArea, 200); n < 50 {
		t.Errorf("camera tile label area has %d bright text pixels, want a readable name", n)
	}
	// The audio-only tile is the placeholder colour with the name drawn in its middle.
	ph := rects[1]
	corner := f.Mean(image.Rect(ph.Min.X+4, ph.Min.Y+4, ph.Min.X+40, ph.Min.Y+40))
	if i, d := nearestPalette(corner, []codec.YUV{PlaceholderColour, green, codec.Black}); i != 0 || d > 12 {
		t.Errorf("placeholder tile corner = %v, want the placeholder colour %v", corner, PlaceholderColour)
	}
	if n := countBright(f, image.Rect(ph.Min.X, ph.Min.Y+ph.Dy()/3, ph.Max.X, ph.Max.Y-ph.Dy()/3), 200); n < 100 {
		t.Errorf("placeholder tile has %d bright pixels in its middle, want the participant's name", n)
	}
}

func countBright(f *codec.VideoFrame, r image.Rectangle, min uint8) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if f.Y[y*f.StrideY+x] >= min {
				n++
			}
		}
	}
	return n
}

// largeRoom composes one tick of a room of 8 with 4 visible tiles, every participant a receiver of w x h
// sending a half-size picture of its palette colour, with p5, p6, p2 and p7 speaking (in that order).
func largeRoom(t *testing.T, w, h int) (*Compositor, *recordingListener) {
	t.Helper()
	cfg := DefaultCompositorConfig()
	cfg.VisibleTiles = 4
	c, l := newTestCompositor(t, cfg)
	const n = 8
	for i := range n {
		id := ParticipantID(fmt.Sprint("p", i))
		c.AddSource(id, string(id))
		if err := c.AddReceiver(id, ReceiverOptions{Width: w, Height: h, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
		if err := c.PushFrame(id, solid(w/2, h/2, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	c.SetSpeakers([]ParticipantID{"p5", "p6", "p2", "p7"})
	c.ComposeOnce(time.Unix(0, 0))
	return c, l
}

func TestLargeRoomSharesViewsAndFollowsSpeakers(t *testing.T) {
	_, l := largeRoom(t, 640, 360)
	// The four visible speakers each see the other three plus the next-ranked participant; the other four
	// share one view of the four speakers: 5 outputs for 8 receivers.
	if len(l.last) != 5 {
		t.Fatalf("got %d outputs, want 5 (one per visible speaker, one shared by the rest): %v", len(l.last), l.last)
	}
	shared := l.outputOf(t, "p0")
	for _, id := range []ParticipantID{"p1", "p3", "p4"} {
		if l.outputOf(t, id) != shared {
			t.Errorf("%s does not share p0's output", id)
		}
	}
	got := tileColours(t, take(t, shared), Grid.Rects(4, 640, 360), palette)
	if want := []int{2, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("shared view shows %v, want the speakers %v in join order", got, want)
	}
	own := tileColours(t, take(t, l.outputOf(t, "p5")), Grid.Rects(4, 640, 360), palette)
	if want := []int{0, 2, 6, 7}; !slices.Equal(own, want) {
		t.Errorf("speaker p5 sees %v, want %v (other speakers plus the next-ranked, never itself)", own, want)
	}
}

func TestSpeakerLayoutPutsSpeakerInMainTile(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	for i := range 4 {
		id := ParticipantID(fmt.Sprint("p", i))
		c.AddSource(id, string(id))
		if err := c.PushFrame(id, solid(640, 360, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddReceiver("p0", ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30, Layout: Speaker}); err != nil {
		t.Fatal(err)
	}
	for _, speaker := range []int{2, 3} {
		c.SetSpeakers([]ParticipantID{ParticipantID(fmt.Sprint("p", speaker))})
		c.ComposeOnce(time.Unix(0, 0))
		got := tileColours(t, take(t, l.outputOf(t, "p0")), Speaker.Rects(3, 1280, 720), palette[:4])
		if got[0] != speaker {
			t.Errorf("speaker p%d: main tile shows p%d (tiles %v)", speaker, got[0], got)
		}
	}
}

func TestResolutionChangeAndReuse(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	c.AddSource("a", "A")
	c.AddSource("b", "B")
	for _, id := range []ParticipantID{"x", "y"} { // two receivers share one view of a and b
		if err := c.AddReceiver(id, ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		w, h int
		col  int
	}{{640, 360, 0}, {1280, 720, 1}, {176, 144, 2}, {480, 848, 3}}
	for _, st := range steps {
		if err := c.PushFrame("a", solid(st.w, st.h, palette[st.col])); err != nil {
			t.Fatal(err)
		}
		if err := c.PushFrame("b", solid(320, 240, palette[9])); err != nil {
			t.Fatal(err)
		}
		c.ComposeOnce(time.Unix(0, 0))
		if len(l.last) != 1 {
			t.Fatalf("two receivers with the same view got %d outputs", len(l.last))
		}
		got := tileColours(t, take(t, l.outputOf(t, "x")), Grid.Rects(2, 640, 360), palette)
		if want := []int{st.col, 9}; !slices.Equal(got, want) {
			t.Errorf("after a %dx%d picture: tiles %v, want %v", st.w, st.h, got, want)
		}
	}
	// A tick with no new pictures redraws from the scaled-tile cache.
	before := c.Stats().Scaled
	c.ComposeOnce(time.Unix(0, 0))
	if s := c.Stats(); s.Scaled != before || s.ScaleReused == 0 {
		t.Errorf("a tick without new pictures scaled %d tiles (reused %d), want 0 scaled", s.Scaled-before, s.ScaleReused)
	}
}

func TestRunPacesOutputsAndDropsForSlowConsumers(t *testing.T) {
	clock := mixertest.NewClock(time.Unix(0, 0))
	l := &recordingListener{}
	c, err := NewCompositor(DefaultCompositorConfig(), CompositorParams{Clock: clock, Listener: l})
	if err != nil {
		t.Fatal(err)
	}
	c.AddSource("a", "A")
	if err := c.AddReceiver("fast", ReceiverOptions{Width: 320, Height: 180, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddReceiver("slow", ReceiverOptions{Width: 320, Height: 180, FrameRate: 15}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- c.Run(t.Context()) }()
	codectest.Eventually(t, 5*time.Second, "the compositor's ticker", func() bool { return clock.Tickers() == 1 })
	// Step the clock one frame at a time and wait for each tick to be drawn.
	for i := 1; i <= 30; i++ {
		clock.Advance(time.Second / 30)
		codectest.Eventually(t, 5*time.Second, fmt.Sprint("tick ", i), func() bool { return c.Stats().Ticks >= uint64(i) })
	}
	fast, slow := l.outputOf(t, "fast"), l.outputOf(t, "slow")
	// A tick counts as drawn a moment before its frames reach the outputs: give the last one that moment.
	for deadline := time.Now().Add(time.Second); (fast.Sent() < 30 || slow.Sent() < 15) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if fast.Sent() != 30 || slow.Sent() != 15 {
		t.Errorf("in 1 s: 30 fps output got %d frames, 15 fps output got %d", fast.Sent(), slow.Sent())
	}
	// Nobody consumed: all but the newest frame of each output were dropped, never queued.
	if fast.Dropped() != 29 || slow.Dropped() != 14 {
		t.Errorf("dropped %d and %d frames, want 29 and 14 (newest wins)", fast.Dropped(), slow.Dropped())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-fast.Done():
	default:
		t.Error("outputs are not closed after Close")
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

func TestBadInputIsRejected(t *testing.T) {
	c, _ := newTestCompositor(t, DefaultCompositorConfig())
	if err := c.PushFrame("ghost", solid(64, 64, palette[0])); err == nil {
		t.Error("a picture for an unknown source was accepted")
	}
	c.AddSource("a", "A")
	if err := c.PushFrame("a", &codec.VideoFrame{Width: codec.MaxWidth * 2, Height: 2}); err == nil {
		t.Error("a huge picture was accepted")
	}
	if err := c.AddReceiver("r", ReceiverOptions{Width: 33, Height: 7}); err == nil {
		t.Error("an unusable canvas size was accepted")
	}
	if err := c.PushFrame("a", solid(63, 35, palette[1])); err != nil {
		t.Errorf("odd-sized picture: %v", err)
	}
	c.ComposeOnce(time.Unix(0, 0))
}

func BenchmarkCompose(b *testing.B) {
	for _, n := range []int{4, 9, 16} {
		b.Run(fmt.Sprintf("%d_sources_1280x720", n), func(b *testing.B) {
			c, err := NewCompositor(DefaultCompositorConfig(), CompositorParams{Clock: mixertest.NewClock(time.Unix(0, 0))})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Shutdown()
			frames := make([]*codec.VideoFrame, n)
			ids := make([]ParticipantID, n)
			for i := range n {
				id := ParticipantID(fmt.Sprint("p", i))
				ids[i] = id
				c.AddSource(id, string(id))
				if err := c.AddReceiver(id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
					b.Fatal(err)
				}
				frames[i] = solid(640, 360, palette[i%len(palette)])
			}
			c.ComposeOnce(time.Unix(0, 0))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range n {
					if err := c.PushFrame(ids[i], frames[i]); err != nil {
						b.Fatal(err)
					}
				}
				c.ComposeOnce(time.Unix(0, 0))
				c.DrainOutputs()
			}
		})
	}
}

func TestCanvasCarriesArrivalOfFreshPictures(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	c.AddSource("a", "A")
	c.AddSource("b", "B")
	if err := c.AddReceiver("viewer", ReceiverOptions{Width: 320, Height: 180, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(100, 0)
	push := func(id ParticipantID, at time.Time) {
		f := solid(64, 36, palette[0])
		f.Time = at
		if err := c.PushFrame(id, f); err != nil {
			t.Fatal(err)
		}
	}
	push("a", t0.Add(10*time.Millisecond))
	push("b", t0.Add(5*time.Millisecond))
	c.ComposeOnce(t0)
	if got := take(t, l.outputOf(t, "viewer")).Time; !got.Equal(t0.Add(5 * time.Millisecond)) {
		t.Errorf("first canvas Time = %v, want the older of the two new pictures (t0+5ms)", got.Sub(t0))
	}
	c.ComposeOnce(t0)
	if got := take(t, l.outputOf(t, "viewer")).Time; !got.IsZero() {
		t.Errorf("a canvas that only repeats pictures has Time %v, want zero", got.Sub(t0))
	}
	push("a", t0.Add(40*time.Millisecond))
	c.ComposeOnce(t0)
	if got := take(t, l.outputOf(t, "viewer")).Time; !got.Equal(t0.Add(40 * time.Millisecond)) {
		t.Errorf("canvas Time = %v after one new picture, want its arrival (t0+40ms)", got.Sub(t0))
	}
}

func TestClearPictureKeepsThePlace(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	for i, id := range []ParticipantID{"a", "b", "c"} {
		c.AddSource(id, string(id))
		if err := c.PushFrame(id, solid(64, 36, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddReceiver("viewer", ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	c.ComposeOnce(time.Unix(0, 0))
	take(t, l.outputOf(t, "viewer"))
	c.ClearPicture("b")
	c.ComposeOnce(time.Unix(0, 0))
	cols := append(slices.Clone(palette[:3]), PlaceholderColour)
	got := tileColours(t, take(t, l.outputOf(t, "viewer")), Grid.Rects(3, 640, 360), cols)
	if want := []int{0, 3, 2}; !slices.Equal(got, want) {
		t.Errorf("after clearing b: tiles %v, want %v (b's placeholder in b's place)", got, want)
	}
	if err := c.PushFrame("b", solid(64, 36, palette[1])); err != nil {
		t.Fatal(err)
	}
	c.ComposeOnce(time.Unix(0, 0))
	got = tileColours(t, take(t, l.outputOf(t, "viewer")), Grid.Rects(3, 640, 360), cols)
	if want := []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("after b's next picture: tiles %v, want %v", got, want)
	}
}

// stageOf returns the tiles of the output of receiver id, in tile order.
func stageOf(t *testing.T, l *recordingListener, id ParticipantID) []ParticipantID {
	t.Helper()
	return l.outputOf(t, id).Tiles()
}

// TestSpeakerHold steps the speaker hold by hand: 8 sources, 4 visible tiles held for 3 s each, and a
// watcher that is not a source (so always off stage: it sees the stage). A speaker waits while every hold
// runs, then takes the place of the least recently active participant whose hold is over.
func TestSpeakerHold(t *testing.T) {
	cfg := DefaultCompositorConfig()
	cfg.VisibleTiles, cfg.SpeakerHold = 4, 3*time.Second
	c, l := newTestCompositor(t, cfg)
	for i := range 8 {
		id := ParticipantID(fmt.Sprint("p", i))
		c.AddSource(id, string(id))
		if err := c.AddReceiver(id, ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddReceiver("watcher", ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(100, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ids := func(s ...int) []ParticipantID {
		var out []ParticipantID
		for _, i := range s {
			out = append(out, ParticipantID(fmt.Sprint("p", i)))
		}
		return out
	}
	steps := []struct {
		at       time.Duration
		speakers []int // nil: no change
		stage    []int // what the watcher sees, in join order
		visible  []int // sources shown to anyone: the stage plus the best-ranked off stage
	}{
		{0, nil, []int{0, 1, 2, 3}, []int{0, 1, 2, 3, 4}},
		// Everyone on stage is held until 3 s: p6 waits, shown only to those on stage.
		{time.Second, []int{6}, []int{0, 1, 2, 3}, []int{0, 1, 2, 3, 6}},
		{2900 * time.Millisecond, nil, []int{0, 1, 2, 3}, []int{0, 1, 2, 3, 6}},
		// The holds end: p6 replaces p3, the least recently active.
		{3 * time.Second, nil, []int{0, 1, 2, 6}, []int{0, 1, 2, 3, 6}},
		// p7 replaces p2 at once (p6 is held, p0..p2 are not; p2 was active least recently).
		{3500 * time.Millisecond, []int{7}, []int{0, 1, 6, 7}, []int{0, 1, 2, 6, 7}},
		{4 * time.Second, []int{5}, []int{0, 5, 6, 7}, []int{0, 1, 5, 6, 7}},
		{4500 * time.Millisecond, []int{3}, []int{3, 5, 6, 7}, []int{0, 3, 5, 6, 7}},
		// Everyone on stage is held again: p4 waits for p6's hold to end at 6 s.
		{5 * time.Second, []int{4}, []int{3, 5, 6, 7}, []int{3, 4, 5, 6, 7}},
		{5999 * time.Millisecond, nil, []int{3, 5, 6, 7}, []int{3, 4, 5, 6, 7}},
		{6 * time.Second, nil, []int{3, 4, 5, 7}, []int{3, 4, 5, 6, 7}},
	}
	for _, st := range steps {
		if st.speakers != nil {
			c.SetSpeakers(ids(st.speakers...))
		}
		c.ComposeOnce(at(st.at))
		c.DrainOutputs()
		if got := stageOf(t, l, "watcher"); !slices.Equal(got, ids(st.stage...)) {
			t.Errorf("at %v after speakers %v: the watcher sees %v, want %v", st.at, st.speakers, got, ids(st.stage...))
		}
		var vis []int
		for i := range 8 {
			if c.Visible(ParticipantID(fmt.Sprint("p", i))) {
				vis = append(vis, i)
			}
		}
		if !slices.Equal(vis, st.visible) {
			t.Errorf("at %v after speakers %v: visible %v, want %v", st.at, st.speakers, vis, st.visible)
		}
	}
}

// TestSmallRoomIgnoresHold checks that rooms of up to VisibleTiles+1 sources show everyone but the
// receiver, whoever speaks and however recently tiles appeared.
func TestSmallRoomIgnoresHold(t *testing.T) {
	cfg := DefaultCompositorConfig()
	cfg.VisibleTiles = 4
	c, l := newTestCompositor(t, cfg)
	var all []ParticipantID
	for i := range 5 {
		id := ParticipantID(fmt.Sprint("p", i))
		all = append(all, id)
		c.AddSource(id, string(id))
		if err := c.AddReceiver(id, ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
	}
	for step, speakers := range [][]ParticipantID{nil, {"p4"}, {"p3", "p1"}, {"p0"}} {
		c.SetSpeakers(speakers)
		c.ComposeOnce(time.Unix(int64(step), 0))
		c.DrainOutputs()
		for _, id := range all {
			want := slices.DeleteFunc(slices.Clone(all), func(o ParticipantID) bool { return o == id })
			if got := stageOf(t, l, id); !slices.Equal(got, want) {
				t.Errorf("speakers %v: %s sees %v, want %v", speakers, id, got, want)
			}
			if !c.Visible(id) {
				t.Errorf("speakers %v: %s is not visible", speakers, id)
			}
		}
	}
}

// TestInvisibleSourceComesBackAsPlaceholder checks that the pictures of a source visible to nobody are
// dropped, so that when it becomes visible its tile shows the placeholder, not a stale picture, until its
// next picture.
func TestInvisibleSourceComesBackAsPlaceholder(t *testing.T) {
	cfg := DefaultCompositorConfig()
	cfg.VisibleTiles, cfg.SpeakerHold = 2, 0
	c, l := newTestCompositor(t, cfg)
	for i, id := range []ParticipantID{"a", "b", "c"} {
		c.AddSource(id, string(id))
		if err := c.PushFrame(id, solid(64, 36, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddReceiver("viewer", ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	cols := append(slices.Clone(palette[:3]), PlaceholderColour)
	c.ComposeOnce(time.Unix(0, 0))
	if got := tileColours(t, take(t, l.outputOf(t, "viewer")), Grid.Rects(2, 640, 360), cols); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("viewer sees %v, want a and b", got)
	}
	if c.Visible("c") {
		t.Fatal("c is visible with nobody looking at it")
	}
	if err := c.PushFrame("c", solid(64, 36, palette[2])); err != nil {
		t.Fatal(err)
	}
	c.ComposeOnce(time.Unix(1, 0))
	c.DrainOutputs()
	c.SetSpeakers([]ParticipantID{"c"})
	c.ComposeOnce(time.Unix(2, 0))
	if !c.Visible("c") {
		t.Fatal("c is not visible after speaking")
	}
	if got := tileColours(t, take(t, l.outputOf(t, "viewer")), Grid.Rects(2, 640, 360), cols); !slices.Equal(got, []int{0, 3}) {
		t.Errorf("viewer sees %v after c spoke, want a and c's placeholder (c's picture while invisible was dropped)", got)
	}
	if err := c.PushFrame("c", solid(64, 36, palette[2])); err != nil {
		t.Fatal(err)
	}
	c.ComposeOnce(time.Unix(3, 0))
	if got := tileColours(t, take(t, l.outputOf(t, "viewer")), Grid.Rects(2, 640, 360), cols); !slices.Equal(got, []int{0, 2}) {
		t.Errorf("viewer sees %v after c's next picture, want a and c", got)
	}
}

// TestShedLevelsDivideFrameRates runs 60 ticks (2 s at 30 fps) at each shed level in a room of 8 with 4
// visible tiles (4 views watched by one receiver each, one shared by four) and counts the canvases each
// output gets: level 1 halves only the single-receiver views, 2 halves all, 3 and 4 draw every third and
// sixth frame; what is skipped counts in FramesShed. The canvases still show the right tiles.
func TestShedLevelsDivideFrameRates(t *testing.T) {
	c, l := largeRoom(t, 320, 180)
	shared, single := l.outputOf(t, "p0"), l.outputOf(t, "p5")
	for _, o := range []*Output{shared, single} {
		take(t, o)
	}
	for _, tc := range []struct{ level, shared, single int }{
		{0, 60, 60}, {1, 60, 30}, {2, 30, 30}, {3, 20, 20}, {4, 10, 10}, {7, 10, 10}, {-1, 60, 60},
	} {
		c.SetShedLevel(tc.level)
		before := c.Stats().FramesShed
		var got [2]int
		for range 60 {
			c.ComposeOnce(time.Unix(0, 0))
			for k, o := range []*Output{shared, single} {
				select {
				case f := <-o.Frames():
					got[k]++
					if k == 0 && got[k] == 1 {
						if cols := tileColours(t, f, Grid.Rects(4, 320, 180), palette); !slices.Equal(cols, []int{2, 5, 6, 7}) {
							t.Errorf("level %d: shared view shows %v, want [2 5 6 7]", tc.level, cols)
						}
					}
					f.Release()
				default:
				}
			}
		}
		if got != [2]int{tc.shared, tc.single} {
			t.Errorf("level %d: shared and single-receiver views got %v canvases in 60 ticks, want [%d %d]", tc.level, got, tc.shared, tc.single)
		}
		// Five outputs: the shared one and four single-receiver ones.
		wantShed := uint64(60-tc.shared) + 4*uint64(60-tc.single)
		if shed := c.Stats().FramesShed - before; shed != wantShed {
			t.Errorf("level %d: FramesShed grew by %d, want %d", tc.level, shed, wantShed)
		}
	}
}
