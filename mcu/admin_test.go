package mcu_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
)

// events records an MCU's lifecycle events as strings.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, s)
}
func (e *events) OnRoomStarted(room string)  { e.add("started " + room) }
func (e *events) OnRoomFinished(room string) { e.add("finished " + room) }
func (e *events) OnParticipantJoined(room string, p mcu.ParticipantDetail) {
	e.add(fmt.Sprintf("joined %s %s %s", room, p.Name, p.Kind))
}
func (e *events) OnParticipantLeft(room string, p mcu.ParticipantDetail, reason error) {
	e.add(fmt.Sprintf("left %s %s %v", room, p.Name, reason))
}
func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// TestOperatorView: the events of a room's life, the rooms and participants an operator sees, a room
// layout for everyone, and removing a participant.
func TestOperatorView(t *testing.T) {
	ev := &events{}
	m, err := mcu.New(loopbackConfig(), mcu.Params{Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	la := newListener()
	a, err := m.JoinWith("r", "Ann", la, mcu.JoinOptions{Kind: "whip"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Join("r", "Bob", newListener())
	if err != nil {
		t.Fatal(err)
	}
	rooms := m.Rooms()
	if len(rooms) != 1 || rooms[0].Name != "r" || len(rooms[0].Participants) != 2 {
		t.Fatalf("Rooms = %+v", rooms)
	}
	if p := rooms[0].Participants[0]; p.Name != "Ann" || p.Kind != "whip" || p.JoinedAt.IsZero() || p.ID != a.ID() {
		t.Errorf("first participant %+v", p)
	}
	if _, ok := m.Room("nope"); ok {
		t.Error("Room of a room that is not open")
	}
	if _, err := m.Participant("r", "p999"); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("Participant of an unknown id: %v", err)
	}
	if err := m.SetRoomLayout("r", mcu.LayoutSpeaker); err != nil {
		t.Fatal(err)
	}
	if d, _ := m.Room("r"); d.Layout != mcu.LayoutSpeaker {
		t.Errorf("room layout %v, want speaker", d.Layout)
	}
	if err := m.SetRoomLayout("nope", mcu.LayoutGrid); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("SetRoomLayout of an unknown room: %v", err)
	}
	p, err := m.Participant("r", a.ID())
	if err != nil || p != a {
		t.Fatalf("Participant(r, %s) = %v, %v", a.ID(), p, err)
	}
	p.Remove(nil)
	if err := <-la.closed; !errors.Is(err, mcu.ErrRemoved) {
		t.Errorf("the removed participant's OnClosed: %v, want ErrRemoved", err)
	}
	b.Leave()
	want := []string{"started r", "joined r Ann whip", "joined r Bob webrtc",
		"left r Ann " + mcu.ErrRemoved.Error(), "left r Bob <nil>", "finished r"}
	if err := codectest.Poll(5*time.Second, func() error {
		if got := ev.list(); !slices.Equal(got, want) {
			return fmt.Errorf("events %q, want %q", got, want)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestCloseRoom: closing a room (another server took it over) removes every participant with the
// reason given, finishes the room, and leaves other rooms alone.
func TestCloseRoom(t *testing.T) {
	ev := &events{}
	m, err := mcu.New(loopbackConfig(), mcu.Params{Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	la, lb, lc := newListener(), newListener(), newListener()
	for _, j := range []struct {
		room, name string
		l          *listener
	}{{"r", "Ann", la}, {"r", "Bob", lb}, {"other", "Cy", lc}} {
		if _, err := m.Join(j.room, j.name, j.l); err != nil {
			t.Fatal(err)
		}
	}
	lost := errors.New("taken over by another server")
	if err := m.CloseRoom("r", lost); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*listener{la, lb} {
		select {
		case err := <-l.closed:
			if !errors.Is(err, lost) {
				t.Errorf("a participant was closed with %v, want the reason given", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a participant of the closed room was not closed")
		}
	}
	if m.HasRoom("r") || !m.HasRoom("other") {
		t.Errorf("rooms open after CloseRoom: r %t, other %t; want only other", m.HasRoom("r"), m.HasRoom("other"))
	}
	if !slices.Contains(ev.list(), "finished r") {
		t.Errorf("events %v: want r finished", ev.list())
	}
	if err := m.CloseRoom("r", nil); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("CloseRoom of a closed room: %v, want ErrNotFound", err)
	}
}
