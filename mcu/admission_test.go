package mcu_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// panicky is a listener with a bug: it panics when told that someone speaks. That call comes from the
// room's audio mixer goroutine, so the panic is one in a room's loop.
type panicky struct{ *listener }

func (l panicky) OnRoster(e mcu.RosterEvent) {
	if e.Type == mcu.RosterSpeaking {
		panic("injected: a listener bug")
	}
	l.listener.OnRoster(e)
}

// TestRoomPanicIsolated: a panic in one room's loop ends that room (its participants are removed with
// ErrInternal, the panic is counted) while a second room's receivers keep getting pictures, and the first
// room's name can be joined again.
func TestRoomPanicIsolated(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height = 320, 180
	cfg.LowerTiers = nil
	m := newMCU(t, cfg)
	b1 := join(t, m, "b", "B1", 0, 430)
	b2 := join(t, m, "b", "B2", 1, 650)
	a := join(t, m, "a", "A", 2, 880)

	client, err := mcutest.New(mcutest.Config{Colour: palette[3].YUV(), ToneHz: 1230, IncludeLoopback: true,
		Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	l := newListener()
	l.client = client
	p, err := m.Join("a", "P", panicky{l})
	if err != nil {
		t.Fatal(err)
	}
	// P's listener panics at the first speaking change of room a, which may come before P's media is
	// up: the room is closed to P's offer then.
	if err := mcutest.Negotiate(client, p); err != nil && !errors.Is(err, mcu.ErrClosed) {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range []*mcutest.Client{b1.client, b2.client, a.client, client} {
			c.Close()
		}
	}()
	if err := codectest.Poll(20*time.Second, func() error {
		return checkView(b2, []*party{b1}, nil, 320, 180, 20)
	}); err != nil {
		t.Fatalf("room b before the panic: %v", err)
	}
	for _, l := range []*listener{a.l, l} {
		select {
		case err := <-l.closed:
			if !errors.Is(err, mcu.ErrInternal) {
				t.Errorf("a participant of the failed room was removed with %v, want ErrInternal", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the failed room's participants were not removed")
		}
	}
	if n := m.Stats().Panics["room"]; n < 1 {
		t.Errorf("Stats.Panics[room] = %d, want at least 1", n)
	}
	before := b2.client.PicturesReceived()
	if err := codectest.Poll(10*time.Second, func() error {
		if got := b2.client.PicturesReceived() - before; got < 20 {
			return fmt.Errorf("B2 received %d pictures since room a failed", got)
		}
		return checkView(b2, []*party{b1}, nil, 320, 180, 20)
	}); err != nil {
		t.Errorf("room b after room a failed: %v", err)
	}
	if s := m.Stats(); s.Rooms != 1 {
		t.Errorf("%d rooms open after the failure, want 1 (b)", s.Rooms)
	}
	again, err := m.Join("a", "again", newListener())
	if err != nil {
		t.Fatalf("join the failed room's name again: %v", err)
	}
	again.Leave()
}

// TestNegotiationTimeout: participants that join and never connect cost no encode while they wait, and
// are removed with ErrNegotiationTimeout when Config.NegotiationTimeout passes; the room then closes.
func TestNegotiationTimeout(t *testing.T) {
	cfg := loopbackConfig()
	cfg.NegotiationTimeout = time.Second
	m := newMCU(t, cfg)
	var ls []*listener
	for i := range 5 {
		l := newListener()
		if _, err := m.Join("idle", fmt.Sprintf("idle%d", i), l); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	time.Sleep(300 * time.Millisecond)
	if s := m.Stats(); s.VideoEncoders != 0 || s.AudioEncoders != 0 || s.Participants != 5 {
		t.Errorf("5 idle joins: %d participants, %d video and %d audio encoders, want 5, 0, 0",
			s.Participants, s.VideoEncoders, s.AudioEncoders)
	}
	for i, l := range ls {
		select {
		case err := <-l.closed:
			if !errors.Is(err, mcu.ErrNegotiationTimeout) {
				t.Errorf("idle%d removed with %v, want ErrNegotiationTimeout", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("idle%d was not removed", i)
		}
	}
	if err := codectest.Poll(5*time.Second, func() error {
		if s := m.Stats(); s.Rooms != 0 || s.Refusals["negotiation"] != 5 {
			return fmt.Errorf("%d rooms, %d negotiation refusals, want 0 and 5", s.Rooms, s.Refusals["negotiation"])
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestAdmissionLimits: rooms per server, participants per server and per room, and media sections per
// offer are refused with their typed errors and counted.
func TestAdmissionLimits(t *testing.T) {
	cfg := loopbackConfig()
	cfg.MaxRooms, cfg.MaxTotalParticipants, cfg.MaxParticipants = 2, 5, 3
	m := newMCU(t, cfg)
	mustJoin := func(room, name string) *mcu.Participant {
		t.Helper()
		p, err := m.Join(room, name, newListener())
		if err != nil {
			t.Fatalf("join %s as %s: %v", room, name, err)
		}
		return p
	}
	p1 := mustJoin("r1", "a")
	mustJoin("r2", "b")
	if _, err := m.Join("r3", "c", newListener()); !errors.Is(err, mcu.ErrTooManyRooms) {
		t.Errorf("a third room with MaxRooms 2: %v, want ErrTooManyRooms", err)
	}
	mustJoin("r1", "c")
	mustJoin("r1", "d")
	if _, err := m.Join("r1", "x", newListener()); !errors.Is(err, mcu.ErrRoomFull) {
		t.Errorf("a fourth participant in a room of 3: %v, want ErrRoomFull", err)
	}
	mustJoin("r2", "y")
	if _, err := m.Join("r2", "z", newListener()); !errors.Is(err, mcu.ErrServerFull) {
		t.Errorf("a sixth participant with MaxTotalParticipants 5: %v, want ErrServerFull", err)
	}
	var sections strings.Builder
	sections.WriteString("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
	for range 5 {
		sections.WriteString("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	}
	if _, err := p1.HandleOffer(sections.String()); !errors.Is(err, mcu.ErrTooManyTracks) {
		t.Errorf("an offer of 5 audio sections: %v, want ErrTooManyTracks", err)
	}
	p1.Leave()
	mustJoin("r2", "e") // room for one again
	s := m.Stats()
	for k, want := range map[string]uint64{"rooms": 1, "server": 1, "room": 1, "tracks": 1} {
		if s.Refusals[k] != want {
			t.Errorf("Refusals[%s] = %d, want %d (all: %v)", k, s.Refusals[k], want, s.Refusals)
		}
	}
}
