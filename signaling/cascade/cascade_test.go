package cascade

import (
	"context"
	"errors"
	"fmt"
	"image"
	"maps"
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var palette = []codectest.NamedColor{
	{Name: "red", R: 220, G: 30, B: 30},
	{Name: "green", R: 30, G: 200, B: 30},
	{Name: "blue", R: 30, G: 30, B: 220},
	{Name: "yellow", R: 230, G: 220, B: 30},
	{Name: "placeholder", R: 44, G: 48, B: 58},
	{Name: "black", R: 0, G: 0, B: 0},
}

// party is one synthetic client in the room.
type party struct {
	name   string
	colour int
	tone   float64
	client *mcutest.Client
	p      *mcu.Participant
}

// nopListener ignores the server's events: the client gathers loopback candidates, so the answer's are
// enough.
type nopListener struct{}

func (nopListener) OnICECandidate(mcu.ICECandidate) {}
func (nopListener) OnRoster(mcu.RosterEvent)        {}
func (nopListener) OnClosed(error)                  {}

func join(t *testing.T, m *mcu.MCU, name string, colour int, tone float64, vc codec.VideoCodec) *party {
	t.Helper()
	c, err := mcutest.New(mcutest.Config{Colour: palette[colour].YUV(), ToneHz: tone, IncludeLoopback: true,
		Interfaces: []string{"lo"}, VideoCodec: vc})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Join("r", name, nopListener{})
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if err := mcutest.Negotiate(c, p); err != nil {
		c.Close()
		t.Fatalf("%s: %v", name, err)
	}
	return &party{name: name, colour: colour, tone: tone, client: c, p: p}
}

// colours returns the palette colours seen on a 16x9 lattice over the party's picture, apart from black
// and the placeholder: the colours of the participants it sees.
func colours(p *party) (map[string]bool, error) {
	pic := p.client.Picture()
	if pic == nil {
		return nil, fmt.Errorf("%s: no picture yet", p.name)
	}
	seen := make(map[string]bool)
	for i := range 16 {
		for j := range 9 {
			x, y := (2*i+1)*pic.Width/32, (2*j+1)*pic.Height/18
			r, g, b := pic.Mean(image.Rect(x-4, y-4, x+4, y+4)).RGB()
			best, bestD := "", math.MaxInt
			for _, c := range palette {
				dr, dg, db := int(r)-int(c.R), int(g)-int(c.G), int(b)-int(c.B)
				if d := dr*dr + dg*dg + db*db; d < bestD {
					best, bestD = c.Name, d
				}
			}
			if bestD <= 60*60 && best != "black" && best != "placeholder" {
				seen[best] = true
			}
		}
	}
	return seen, nil
}

// check reports why me does not see exactly the colours of others, or does not hear their tones with its
// own 30 dB below.
func check(me *party, others ...*party) error {
	seen, err := colours(me)
	if err != nil {
		return err
	}
	want := make(map[string]bool)
	for _, o := range others {
		want[palette[o.colour].Name] = true
	}
	if !maps.Equal(seen, want) {
		return fmt.Errorf("%s sees %v, want %v", me.name, seen, want)
	}
	pcm := me.client.Audio(500 * time.Millisecond)
	if len(pcm) < codec.SampleRate/2 {
		return fmt.Errorf("%s: %d samples of audio", me.name, len(pcm))
	}
	own, quietest := codectest.LevelDB(pcm, codec.SampleRate, me.tone), math.Inf(1)
	for _, o := range others {
		quietest = min(quietest, codectest.LevelDB(pcm, codec.SampleRate, o.tone))
	}
	if quietest < -40 || own > quietest-30 {
		return fmt.Errorf("%s hears the others at %.1f dB or more and itself at %.1f dB", me.name, quietest, own)
	}
	return nil
}

// link links room "r" of ma (dialing) and mb (accepting) over loopback and runs both ends until the
// test ends (closing them then): it returns them and their Run results.
func link(t *testing.T, ma, mb *mcu.MCU) (la, lb *Link, runErr chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	ccfg := Config{IncludeLoopback: true, Interfaces: []string{"lo"}}
	la, err := Dial(ctx, ma, "r", ccfg, SignalerFunc(func(ctx context.Context, offer string) (string, error) {
		l, answer, err := Accept(ctx, mb, "r", ccfg, offer)
		lb = l
		return answer, err
	}))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runErr = make(chan error, 2)
	for _, l := range []*Link{la, lb} {
		go func() { runErr <- l.Run(ctx) }()
	}
	t.Cleanup(func() {
		_ = la.Close()
		_ = lb.Close()
		cancel()
	})
	return la, lb, runErr
}

func newMCU(t *testing.T) *mcu.MCU {
	t.Helper()
	return newMCUWith(t, nil)
}

// newMCUWith is newMCU with changes to its configuration.
func newMCUWith(t *testing.T, change func(*mcu.Config)) *mcu.MCU {
	t.Helper()
	cfg := mcu.DefaultConfig()
	cfg.IncludeLoopback, cfg.Interfaces = true, []string{"lo"}
	cfg.Width, cfg.Height = 640, 360
	cfg.LowerTiers = nil
	if change != nil {
		change(&cfg)
	}
	m, err := mcu.New(cfg, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestLink: room "r" on two MCUs, two clients on each (red 430 Hz and green 650 Hz on A, blue 910 Hz and
// yellow 1230 Hz in VP8 on B), linked by a Link over real WebRTC on loopback (ICE, DTLS, SCTP). Each
// client sees the other three colours and never its own, and hears the other three tones with its own
// 30 dB down; keyframe requests cross the link. Hostile control and media messages are dropped and
// counted, and the call recovers. Closing the link on A removes the remotes on both sides (bye): each
// client then sees and hears only the other client of its own server.
func TestLink(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	ma, mb := newMCU(t), newMCU(t)
	a := join(t, ma, "A", 0, 430, codec.H264)
	defer a.client.Close()
	a2 := join(t, ma, "A2", 1, 650, codec.H264)
	defer a2.client.Close()
	b := join(t, mb, "B", 2, 910, codec.H264)
	defer b.client.Close()
	b2 := join(t, mb, "B2", 3, 1230, codec.VP8)
	defer b2.client.Close()
	checkAll := func() error {
		return errors.Join(check(a, a2, b, b2), check(a2, a, b, b2), check(b, a, a2, b2), check(b2, a, a2, b))
	}

	la, lb, runErr := link(t, ma, mb)

	codectest.Require(t, 30*time.Second, checkAll)
	for _, m := range []*mcu.MCU{ma, mb} {
		if s := m.Stats(); s.Participants != 2 || s.Remotes != 2 {
			t.Errorf("stats: %d participants and %d remotes, want 2 and 2", s.Participants, s.Remotes)
		}
	}
	sa, sb := la.Stats(), lb.Stats()
	t.Logf("A: %+v", sa)
	t.Logf("B: %+v", sb)
	if sa.PacketsSent == 0 || sa.PacketsReceived == 0 || sb.PacketsSent == 0 || sb.PacketsReceived == 0 {
		t.Error("no packets over the link")
	}
	if sa.KeyframeRequests+sb.KeyframeRequests == 0 {
		t.Error("no keyframe requests over the link")
	}
	if sa.BytesSent < sa.PacketsSent*mediaHeader || sb.BytesReceived < sb.PacketsReceived*mediaHeader {
		t.Errorf("media bytes %d sent for %d packets, %d received for %d", sa.BytesSent, sa.PacketsSent,
			sb.BytesReceived, sb.PacketsReceived)
	}
	if sa.RTT <= 0 || sb.RTT <= 0 || sa.RTT > 5*time.Second {
		t.Errorf("round trips %v and %v, want both measured", sa.RTT, sb.RTT)
	}
	if sa.Panics+sb.Panics != 0 {
		t.Errorf("%d panics", sa.Panics+sb.Panics)
	}

	// Hostile input: bad control messages as the control channel delivers them, bad media messages as the
	// media channel does. Dropped and counted; the call goes on.
	badBefore, droppedBefore := lb.Stats().BadMessages, lb.Stats().PacketsDropped
	for _, m := range []string{"{not json", `{"type":"stream","id":999,"kind":"video","gen":1}`, `{"type":"gone","id":77}`,
		`{"type":"keyframe","id":500}`, `{"type":"what"}`, `{"type":"pong","t":-5}`, `{"type":"stream","id":1,"kind":"video","videoCodec":99,"gen":9}`} {
		lb.inbox <- []byte(m)
	}
	for _, m := range [][]byte{nil, {1}, {2, 0, 1, 0, 1}, {7, 0, 1, 0, 1, 0x80}, {2, 0, 1, 0xff, 0xff, 0x80, 0, 0}, {2, 0, 1, 0, 1, 1, 2, 3}} {
		lb.receiveMedia(m)
	}
	codectest.Require(t, 10*time.Second, func() error {
		if s := lb.Stats(); s.BadMessages-badBefore < 6 || s.PacketsDropped-droppedBefore < 6 {
			return fmt.Errorf("bad messages %d, dropped %d: want 6 more of each", s.BadMessages-badBefore, s.PacketsDropped-droppedBefore)
		}
		return nil
	})
	// The last bad "stream" (participant 1, a codec B cannot decode) stops A's camera on B until its next
	// stream: a mute and unmute on A starts one (a new generation), and everything is back.
	a.p.SetMuted(false, true)
	time.Sleep(300 * time.Millisecond)
	a.p.SetMuted(false, false)
	codectest.Require(t, 30*time.Second, checkAll)

	// Closing the link on A: both sides' remotes leave, and the pictures lose the other side.
	if err := la.Close(); err != nil {
		t.Error(err)
	}
	for range 2 {
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a link's Run did not return after Close")
		}
	}
	codectest.Require(t, 20*time.Second, func() error {
		var errs []error
		for _, m := range []*mcu.MCU{ma, mb} {
			if s := m.Stats(); s.Remotes != 0 {
				errs = append(errs, fmt.Errorf("a server still has %d remotes", s.Remotes))
			}
		}
		// Each client now sees only its own server's other client, and hears only it.
		return errors.Join(append(errs, check(a, a2), check(a2, a), check(b, b2), check(b2, b))...)
	})
}

// TestLinkPrunesInvisible: B shows one tile (VisibleTiles 1) to its one client, so one of A's two
// cameras is visible nowhere on B: B asks A to pause it, and A stops sending its video (counted as
// pruned) while its voice still goes. When the visible one leaves, the paused camera is shown again: B
// asks A to resume it, A asks its sender for a keyframe, and B's client sees it.
func TestLinkPrunesInvisible(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	ma := newMCU(t)
	mb := newMCUWith(t, func(c *mcu.Config) { c.VisibleTiles = 1 })
	a1 := join(t, ma, "A1", 0, 430, codec.H264)
	defer a1.client.Close()
	a2 := join(t, ma, "A2", 1, 650, codec.H264)
	defer a2.client.Close()
	b := join(t, mb, "B", 2, 910, codec.H264)
	defer b.client.Close()

	la, _, _ := link(t, ma, mb)

	// B sees one of A's cameras and hears both; A pauses the other.
	var shown, hidden *party
	codectest.Require(t, 30*time.Second, func() error {
		seen, err := colours(b)
		if err != nil {
			return err
		}
		if len(seen) != 1 || seen[palette[b.colour].Name] {
			return fmt.Errorf("B sees %v, want one of A's cameras", seen)
		}
		shown, hidden = a1, a2
		if seen[palette[a2.colour].Name] {
			shown, hidden = a2, a1
		}
		if s := la.Stats(); s.Paused != 1 || s.PacketsPruned == 0 {
			return fmt.Errorf("A: %d cameras paused, %d packets pruned; want 1 and some", s.Paused, s.PacketsPruned)
		}
		pcm := b.client.Audio(500 * time.Millisecond)
		for _, o := range []*party{a1, a2} {
			if db := codectest.LevelDB(pcm, codec.SampleRate, o.tone); db < -40 {
				return fmt.Errorf("B hears %s at %.1f dB: a paused camera's voice must go on", o.name, db)
			}
		}
		return nil
	})
	t.Logf("B shows %s; %s is paused: A %+v", shown.name, hidden.name, la.Stats())

	// The shown one leaves: the paused one is resumed and shown, from a keyframe.
	shown.client.Close()
	shown.p.Leave()
	codectest.Require(t, 30*time.Second, func() error {
		seen, err := colours(b)
		if err != nil {
			return err
		}
		if len(seen) != 1 || !seen[palette[hidden.colour].Name] {
			return fmt.Errorf("B sees %v, want %s", seen, hidden.name)
		}
		if s := la.Stats(); s.Paused != 0 {
			return fmt.Errorf("A still has %d cameras paused", s.Paused)
		}
		return nil
	})
}
