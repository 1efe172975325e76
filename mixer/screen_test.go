package mixer_test

import (
	"fmt"
	"image"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	. "github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/mixer/mixertest"
)

// screenPicture returns a w x h screen of colour fill with an edge of colour edge, w/60 pixels wide, so
// that a test can see the whole picture is shown, not cropped.
func screenPicture(w, h int, fill, edge codec.YUV) *codec.VideoFrame {
	f := solid(w, h, edge)
	in := f.Sub(image.Rect(w/60, w/60, w-w/60, h-w/60))
	in.Fill(fill)
	return f
}

// near reports whether c is within maxTileDist of want.
func near(c, want codec.YUV) bool {
	_, d := nearestPalette(c, []codec.YUV{want})
	return d <= maxTileDist
}

// others returns ids without skip.
func others(ids []ParticipantID, skip ParticipantID) []ParticipantID {
	return slices.DeleteFunc(slices.Clone(ids), func(id ParticipantID) bool { return id == skip })
}

func view(layout string, ids ...ParticipantID) string {
	var b strings.Builder
	b.WriteString(layout)
	for _, id := range ids {
		b.WriteString("|" + string(id))
	}
	return b.String()
}

// TestPresentation shares a screen in a room of four cameras whose receivers chose different layouts:
// everyone but the presenter sees the whole screen large, letterboxed in the background colour, and the
// other cameras in the strip, never its own; the presenter sees the others and not its screen; removing
// the screen brings back everyone's own layout.
func TestPresentation(t *testing.T) {
	screenCol, edgeCol := palette[4], palette[5]
	for _, tt := range []struct {
		w, h   int // canvas
		sw, sh int // screen
	}{{1280, 720, 1920, 1080}, {1280, 720, 1440, 1080}, {640, 360, 1920, 1080}, {640, 360, 1024, 768}} {
		t.Run(fmt.Sprintf("%dx%d_screen_on_%dx%d", tt.sw, tt.sh, tt.w, tt.h), func(t *testing.T) {
			c, l := newTestCompositor(t, DefaultCompositorConfig())
			ids := []ParticipantID{"p0", "p1", "p2", "p3"}
			layouts := []Layout{Grid, Speaker, Presentation, Grid}
			for i, id := range ids {
				c.AddSource(id, string(id))
				if err := c.AddReceiver(id, ReceiverOptions{Width: tt.w, Height: tt.h, FrameRate: 30, Layout: layouts[i]}); err != nil {
					t.Fatal(err)
				}
			}
			push := func() {
				t.Helper()
				for i, id := range ids {
					if err := c.PushFrame(id, solid(640, 360, palette[i])); err != nil {
						t.Fatal(err)
					}
				}
			}
			push()
			c.ComposeOnce(time.Unix(0, 0))
			c.DrainOutputs()
			before := map[ParticipantID]string{}
			for _, id := range ids {
				before[id] = l.outputOf(t, id).Key().View
			}
			if want := view("grid", "p0", "p1", "p3"); before["p2"] != want {
				t.Errorf("p2 chose Presentation with nobody presenting: view %q, want the grid %q", before["p2"], want)
			}

			c.AddScreen("p0-screen", "p0", "p0's screen")
			if err := c.PushFrame("p0-screen", screenPicture(tt.sw, tt.sh, screenCol, edgeCol)); err != nil {
				t.Fatal(err)
			}
			push()
			c.ComposeOnce(time.Unix(1, 0))
			if !c.Visible("p0-screen") {
				t.Error("the presented screen is not visible")
			}
			for _, id := range ids[1:] {
				out := l.outputOf(t, id)
				strip := others(ids, id)
				if want := view("presentation", append([]ParticipantID{"p0-screen"}, strip...)...); out.Key().View != want {
					t.Errorf("%s sees view %q, want %q", id, out.Key().View, want)
				}
				f := take(t, out)
				rects := PresentationRects(len(strip), tt.w, tt.h, tt.sw, tt.sh)
				var want []int
				for _, o := range strip {
					want = append(want, slices.Index(ids, o))
				}
				if got := tileColours(t, f, rects[1:], palette[:4]); !slices.Equal(got, want) {
					t.Errorf("%s's strip shows colours %v, want %v (the others in join order, never itself)", id, got, want)
				}
				checkScreen(t, string(id), f, rects[0], screenCol, edgeCol)
			}
			// The presenter keeps its grid of the others, without its screen anywhere.
			owner := l.outputOf(t, "p0")
			if want := view("grid", "p1", "p2", "p3"); owner.Key().View != want {
				t.Errorf("the presenter sees view %q, want %q", owner.Key().View, want)
			}
			f := take(t, owner)
			if got := tileColours(t, f, Grid.Rects(3, tt.w, tt.h), palette[:4]); !slices.Equal(got, []int{1, 2, 3}) {
				t.Errorf("the presenter sees colours %v, want the others [1 2 3]", got)
			}
			for y := 0; y+16 <= tt.h; y += 16 {
				for x := 0; x+16 <= tt.w; x += 16 {
					if m := f.Mean(image.Rect(x, y, x+16, y+16)); near(m, screenCol) {
						t.Fatalf("the presenter's picture shows its own screen's colour at (%d,%d)", x, y)
					}
				}
			}

			c.RemoveSource("p0-screen")
			push()
			c.ComposeOnce(time.Unix(2, 0))
			for _, id := range ids {
				if got := l.outputOf(t, id).Key().View; got != before[id] {
					t.Errorf("after the screen left, %s sees %q, want its own layout back: %q", id, got, before[id])
				}
			}
			if got := tileColours(t, take(t, l.outputOf(t, "p1")), Speaker.Rects(3, tt.w, tt.h), palette[:4]); !slices.Equal(got, []int{0, 2, 3}) {
				t.Errorf("p1 (Speaker) sees colours %v after the screen left, want [0 2 3]", got)
			}
		})
	}
}

// checkScreen checks the screen's rectangle of canvas f: the screen's colour, its edge visible on all four
// sides (not cropped), and the background colour in the bars beside or above and below it, where the
// area left of the strip is larger than the screen.
func checkScreen(t *testing.T, who string, f *codec.VideoFrame, r image.Rectangle, fill, edge codec.YUV) {
	t.Helper()
	in := image.Rect(r.Min.X+r.Dx()/4, r.Min.Y+r.Dy()/4, r.Max.X-r.Dx()/4, r.Max.Y-r.Dy()/4)
	if m := f.Mean(in); !near(m, fill) {
		t.Errorf("%s: the middle of the screen %v is %v, want the screen's colour %v", who, r, m, fill)
	}
	mx, my := (r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2
	for _, p := range []image.Point{{r.Min.X + 1, my}, {r.Max.X - 2, my}, {mx, r.Min.Y + 1}, {mx, r.Max.Y - 2}} {
		if c := f.At(p.X, p.Y); !near(c, edge) {
			t.Errorf("%s: the screen's edge at %v is %v, want its edge colour %v (a whole, uncropped picture)", who, p, c, edge)
		}
	}
	// The bars: the screen is centred in the area beside or above the strip, which starts at (0,0), so
	// the bars on either side are as wide as the space before the screen.
	var bars []image.Rectangle
	if r.Min.X >= 8 {
		bars = append(bars, image.Rect(2, r.Min.Y+2, r.Min.X-2, r.Max.Y-2), image.Rect(r.Max.X+2, r.Min.Y+2, r.Max.X+r.Min.X-2, r.Max.Y-2))
	}
	if r.Min.Y >= 8 {
		bars = append(bars, image.Rect(r.Min.X+2, 2, r.Max.X-2, r.Min.Y-2), image.Rect(r.Min.X+2, r.Max.Y+2, r.Max.X-2, r.Max.Y+r.Min.Y-2))
	}
	for _, b := range bars {
		if b.Empty() {
			continue
		}
		if m := f.Mean(b); !near(m, Background) {
			t.Errorf("%s: the letterbox bar %v beside the screen %v is %v, want the background %v", who, b, r, m, Background)
		}
	}
}

// TestPin shows the pinned participant large, over the presentation too, and ignores a pin of a source
// that is not there until it is.
func TestPin(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	ids := []ParticipantID{"p0", "p1", "p2", "p3"}
	for i, id := range ids {
		c.AddSource(id, string(id))
		if err := c.PushFrame(id, solid(640, 360, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	c.AddScreen("s", "p0", "p0's screen")
	if err := c.PushFrame("s", solid(1920, 1080, palette[4])); err != nil {
		t.Fatal(err)
	}
	cols := append(slices.Clone(palette[:5]), PlaceholderColour)
	tests := []struct {
		id, pin ParticipantID
		view    string
		colours []int // at the centres of Speaker.Rects or PresentationRects
	}{
		// The pin wins over the presentation: p3 large, the others (never p1 itself) below.
		{"p1", "p3", view("speaker", "p3", "p0", "p2"), []int{3, 0, 2}},
		// A pin of nobody: the presentation, as for anyone.
		{"p2", "ghost", view("presentation", "s", "p0", "p1", "p3"), []int{4, 0, 1, 3}},
		// Pinning oneself is honoured (the strip still leaves one out).
		{"p3", "p3", view("speaker", "p3", "p0", "p1", "p2"), []int{3, 0, 1, 2}},
	}
	for _, tt := range tests {
		if err := c.AddReceiver(tt.id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30, Pin: tt.pin}); err != nil {
			t.Fatal(err)
		}
	}
	c.ComposeOnce(time.Unix(0, 0))
	for _, tt := range tests {
		out := l.outputOf(t, tt.id)
		if out.Key().View != tt.view {
			t.Errorf("%s pinning %s sees %q, want %q", tt.id, tt.pin, out.Key().View, tt.view)
			continue
		}
		rects := Speaker.Rects(len(tt.colours), 1280, 720)
		if strings.HasPrefix(tt.view, "presentation") {
			rects = PresentationRects(len(tt.colours)-1, 1280, 720, 1920, 1080)
		}
		if got := tileColours(t, take(t, out), rects, cols); !slices.Equal(got, tt.colours) {
			t.Errorf("%s pinning %s sees colours %v, want %v", tt.id, tt.pin, got, tt.colours)
		}
	}
	// The pinned source arrives: p2 sees it large (a placeholder until its first picture).
	c.AddSource("ghost", "Ghost")
	c.ComposeOnce(time.Unix(1, 0))
	out := l.outputOf(t, "p2")
	if want := view("speaker", "ghost", "p0", "p1", "p3"); out.Key().View != want {
		t.Fatalf("p2 sees %q once its pin arrived, want %q", out.Key().View, want)
	}
	if got := tileColours(t, take(t, out), Speaker.Rects(4, 1280, 720), cols); !slices.Equal(got, []int{5, 0, 1, 3}) {
		t.Errorf("p2 sees colours %v once its pin arrived, want its placeholder large and [0 1 3]", got)
	}
	if !c.Visible("ghost") {
		t.Error("a pinned source is not visible")
	}
}

// TestScreenViewsShare checks that receivers who see the same thing share one output, and so one
// encoder: viewers without a camera of their own see the presentation alike, and so do receivers with
// the same pin; each camera in a small room sees everyone but itself, and so has an output of its own,
// the presenter another without its screen. In a larger room, the receivers off stage share one.
func TestScreenViewsShare(t *testing.T) {
	t.Run("small room", func(t *testing.T) {
		c, l := newTestCompositor(t, DefaultCompositorConfig())
		cams := []ParticipantID{"p0", "p1", "p2"}
		for _, id := range cams {
			c.AddSource(id, string(id))
			if err := c.AddReceiver(id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
				t.Fatal(err)
			}
		}
		c.AddScreen("s", "p0", "p0's screen")
		pins := map[ParticipantID]ParticipantID{"w0": "", "w1": "", "w2": "", "w3": "p1", "w4": "p1", "w5": "p1", "w6": "p2", "w7": "p2"}
		for id, pin := range pins {
			if err := c.AddReceiver(id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30, Layout: Speaker, Pin: pin}); err != nil {
				t.Fatal(err)
			}
		}
		c.ComposeOnce(time.Unix(0, 0))
		want := map[string][]ParticipantID{
			view("presentation", "s", "p0", "p1", "p2"): {"w0", "w1", "w2"},
			view("speaker", "p1", "p0", "p2"):           {"w3", "w4", "w5"},
			view("speaker", "p2", "p0", "p1"):           {"w6", "w7"},
			view("presentation", "s", "p0", "p2"):       {"p1"},
			view("presentation", "s", "p0", "p1"):       {"p2"},
			view("grid", "p1", "p2"):                    {"p0"},
		}
		got := map[string][]ParticipantID{}
		for _, a := range l.last {
			rs := slices.Clone(a.Receivers)
			slices.Sort(rs)
			got[a.Output.Key().View] = rs
		}
		if len(got) != len(want) || len(l.last) != len(want) {
			t.Errorf("got %d outputs %v, want %d: %v", len(l.last), got, len(want), want)
		}
		for v, rs := range want {
			if !slices.Equal(got[v], rs) {
				t.Errorf("view %q serves %v, want %v", v, got[v], rs)
			}
		}
	})
	t.Run("large room", func(t *testing.T) {
		cfg := DefaultCompositorConfig()
		cfg.VisibleTiles = 4
		c, l := newTestCompositor(t, cfg)
		for i := range 8 {
			id := ParticipantID(fmt.Sprint("p", i))
			c.AddSource(id, string(id))
			if err := c.AddReceiver(id, ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
				t.Fatal(err)
			}
		}
		c.SetSpeakers([]ParticipantID{"p5", "p6", "p2", "p7"})
		c.AddScreen("s", "p0", "p0's screen")
		c.ComposeOnce(time.Unix(0, 0))
		// Off stage, p1, p3 and p4 see the screen and the three best-ranked of the stage (the screen is
		// the fourth tile); the presenter p0 sees the stage.
		shared := l.outputOf(t, "p1")
		if want := view("presentation", "s", "p2", "p5", "p6"); shared.Key().View != want {
			t.Errorf("p1 sees %q, want %q", shared.Key().View, want)
		}
		for _, id := range []ParticipantID{"p3", "p4"} {
			if l.outputOf(t, id) != shared {
				t.Errorf("%s does not share p1's presentation output", id)
			}
		}
		if got, want := l.outputOf(t, "p0").Key().View, view("grid", "p2", "p5", "p6", "p7"); got != want {
			t.Errorf("the presenter sees %q, want %q", got, want)
		}
		// On stage, p5 sees the screen and the rest of the stage.
		if got, want := l.outputOf(t, "p5").Key().View, view("presentation", "s", "p2", "p6", "p7"); got != want {
			t.Errorf("p5 sees %q, want %q", got, want)
		}
	})
}

// TestScreenScaledOncePerTileSize checks that a new screen picture is scaled once per tile size, however
// many views show it, and that an unchanged one is not scaled again.
func TestScreenScaledOncePerTileSize(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	c.AddSource("p0", "p0")
	c.AddSource("p1", "p1")
	c.AddScreen("s", "p0", "p0's screen")
	for i := range 6 {
		w, h := 1280, 720
		if i%2 == 1 {
			w, h = 640, 360
		}
		if err := c.AddReceiver(ParticipantID(fmt.Sprint("w", i)), ReceiverOptions{Width: w, Height: h, FrameRate: 30, Pin: ParticipantID([]string{"", "s"}[i/3])}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range []ParticipantID{"p0", "p1"} {
		if err := c.PushFrame(id, solid(640, 360, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PushFrame("s", solid(1920, 1080, palette[4])); err != nil {
		t.Fatal(err)
	}
	c.ComposeOnce(time.Unix(0, 0))
	c.DrainOutputs()
	if n := len(l.last); n != 2 {
		t.Fatalf("6 viewers at two sizes got %d outputs, want 2", n)
	}
	for tick := range 3 {
		before := c.Stats().Scaled
		if err := c.PushFrame("s", solid(1920, 1080, palette[4+tick%2])); err != nil {
			t.Fatal(err)
		}
		c.ComposeOnce(time.Unix(1+int64(tick), 0))
		c.DrainOutputs()
		if got := c.Stats().Scaled - before; got != 2 {
			t.Errorf("tick %d: a new screen picture shown at two sizes was scaled %d times, want 2", tick, got)
		}
	}
	before := c.Stats().Scaled
	c.ComposeOnce(time.Unix(9, 0))
	if got := c.Stats().Scaled - before; got != 0 {
		t.Errorf("a tick without new pictures scaled %d tiles, want 0", got)
	}
}

// TestScreenChangesShape checks that a screen whose picture changes shape (a shared window resized) is
// laid out again for its new shape, on the same output.
func TestScreenChangesShape(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	c.AddSource("p0", "p0")
	c.AddSource("p1", "p1")
	c.AddScreen("s", "p0", "p0's screen")
	if err := c.AddReceiver("p1", ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	screenCol, edgeCol := palette[4], palette[5]
	var first *Output
	for step, size := range [][2]int{{1920, 1080}, {1440, 1080}, {2560, 1080}} {
		if err := c.PushFrame("s", screenPicture(size[0], size[1], screenCol, edgeCol)); err != nil {
			t.Fatal(err)
		}
		c.ComposeOnce(time.Unix(int64(2*step), 0)) // draws the new picture, into the old layout
		c.DrainOutputs()
		c.ComposeOnce(time.Unix(int64(2*step+1), 0))
		out := l.outputOf(t, "p1")
		if first == nil {
			first = out
		} else if out != first {
			t.Errorf("%dx%d screen: a new output, want the same one (same view)", size[0], size[1])
		}
		r := PresentationRects(1, 1280, 720, size[0], size[1])[0]
		checkScreen(t, fmt.Sprintf("%dx%d screen", size[0], size[1]), take(t, out), r, screenCol, edgeCol)
	}
}

// TestNewestScreenIsPresented shares two screens: the newer is presented, to its owner's peers and to
// the owner of the older one; the older one is shown to nobody (so not decoded) until the newer leaves.
func TestNewestScreenIsPresented(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	for _, id := range []ParticipantID{"p0", "p1", "p2"} {
		c.AddSource(id, string(id))
		if err := c.AddReceiver(id, ReceiverOptions{Width: 640, Height: 360, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
	}
	c.AddScreen("s0", "p0", "p0's screen")
	c.AddScreen("s1", "p1", "p1's screen")
	c.ComposeOnce(time.Unix(0, 0))
	for id, want := range map[ParticipantID]string{
		"p0": view("presentation", "s1", "p1", "p2"),
		"p1": view("grid", "p0", "p2"),
		"p2": view("presentation", "s1", "p0", "p1"),
	} {
		if got := l.outputOf(t, id).Key().View; got != want {
			t.Errorf("%s sees %q, want %q", id, got, want)
		}
	}
	if c.Visible("s0") || !c.Visible("s1") {
		t.Errorf("visible: older screen %v, newer %v; want only the newer", c.Visible("s0"), c.Visible("s1"))
	}
	c.RemoveSource("s1")
	c.ComposeOnce(time.Unix(1, 0))
	for id, want := range map[ParticipantID]string{
		"p0": view("grid", "p1", "p2"),
		"p1": view("presentation", "s0", "p0", "p2"),
		"p2": view("presentation", "s0", "p0", "p1"),
	} {
		if got := l.outputOf(t, id).Key().View; got != want {
			t.Errorf("after the newer screen left, %s sees %q, want %q", id, got, want)
		}
	}
	if !c.Visible("s0") {
		t.Error("the remaining screen is not visible")
	}
	// A screen is no speaker: it never takes a place on stage.
	c.SetSpeakers([]ParticipantID{"s0", "p2"})
	c.ComposeOnce(time.Unix(2, 0))
	if got, want := l.outputOf(t, "p0").Key().View, view("grid", "p1", "p2"); got != want {
		t.Errorf("after the screen was named a speaker, the presenter sees %q, want %q", got, want)
	}
}

// BenchmarkComposePresentation draws a presentation of a new 1920x1080 screen picture every tick, with
// new pictures of four cameras, for four receivers (three see the presentation, the presenter a grid).
func BenchmarkComposePresentation(b *testing.B) {
	c, err := NewCompositor(DefaultCompositorConfig(), CompositorParams{Clock: mixertest.NewClock(time.Unix(0, 0))})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Shutdown()
	const n = 4
	cams := make([]*codec.VideoFrame, n)
	ids := make([]ParticipantID, n)
	for i := range n {
		id := ParticipantID(fmt.Sprint("p", i))
		ids[i] = id
		c.AddSource(id, string(id))
		if err := c.AddReceiver(id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
			b.Fatal(err)
		}
		cams[i] = solid(640, 360, palette[i])
	}
	c.AddScreen("s", "p0", "p0's screen")
	screen := solid(1920, 1080, palette[4])
	push := func() {
		for i := range n {
			if err := c.PushFrame(ids[i], cams[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.PushFrame("s", screen); err != nil {
			b.Fatal(err)
		}
	}
	push()
	c.ComposeOnce(time.Unix(0, 0))
	c.DrainOutputs()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		push()
		c.ComposeOnce(time.Unix(0, 0))
		c.DrainOutputs()
	}
}
