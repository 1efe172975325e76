package mcu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotFound is returned by the operators' methods for a room or participant that does not exist.
var ErrNotFound = errors.New("mcu: not found")

// RoomDetail is what an operator sees of a room. It is plain data.
type RoomDetail struct {
	Name string `json:"name"`
	// Layout is the room's layout: the one its participants start with.
	Layout Layout `json:"layout"`
	// Participants in join order, viewers and hidden ones included (outputs are not participants).
	Participants []ParticipantDetail `json:"participants"`
	// RoomState: whether the room is being recorded or streamed.
	RoomState
}

// Rooms returns every open room, by name. Safe for concurrent use.
func (m *MCU) Rooms() []RoomDetail {
	rooms := m.openRooms()
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.name, b.name) })
	out := make([]RoomDetail, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, r.detail())
	}
	return out
}

// Room returns the room called name, or false when it is not open. Safe for concurrent use.
func (m *MCU) Room(name string) (RoomDetail, bool) {
	r := m.room(name)
	if r == nil {
		return RoomDetail{}, false
	}
	return r.detail(), true
}

// Participant returns the participant id of room, or an error wrapping ErrNotFound. Safe for concurrent
// use.
func (m *MCU) Participant(room string, id ParticipantID) (*Participant, error) {
	r := m.room(room)
	if r == nil {
		return nil, fmt.Errorf("room %q: %w", room, ErrNotFound)
	}
	if p := (*r.snapshot.Load())[id]; p != nil && !p.output {
		return p, nil
	}
	return nil, fmt.Errorf("participant %q in room %q: %w", id, room, ErrNotFound)
}

// SetRoomLayout sets the layout of every participant of room, and the one later participants start
// with. It fails with an error wrapping ErrNotFound for a room that is not open. Safe for concurrent use.
func (m *MCU) SetRoomLayout(room string, l Layout) error {
	r := m.room(room)
	if r == nil {
		return fmt.Errorf("room %q: %w", room, ErrNotFound)
	}
	r.mu.Lock()
	r.layout = l
	r.mu.Unlock()
	var errs []error
	for _, p := range r.members() {
		if err := p.SetLayout(l); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Remove takes the participant out of its room as an operator's decision: the others get RosterLeft and
// its listener OnClosed(reason) (ErrRemoved when reason is nil). It waits like Leave. Safe for concurrent
// use.
func (p *Participant) Remove(reason error) {
	if reason == nil {
		reason = ErrRemoved
	}
	p.leave(reason)
}

// ErrRemoved is the reason of a participant an operator removed.
var ErrRemoved = errors.New("mcu: removed by an operator")

// room returns the open room called name, or nil.
func (m *MCU) room(name string) *room {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[name]
}

// detail returns the room's RoomDetail now.
func (r *room) detail() RoomDetail {
	r.mu.Lock()
	l := r.layout
	r.mu.Unlock()
	d := RoomDetail{Name: r.name, Layout: l, Participants: []ParticipantDetail{}, RoomState: r.state()}
	for _, p := range r.members() {
		if !p.output {
			d.Participants = append(d.Participants, p.Detail())
		}
	}
	return d
}

// CloseRoom ends room: every participant and output leaves with reason (ErrRemoved when nil: their
// listeners' OnClosed get it), recordings are finished, and the room closes. A server that shares rooms
// with others calls it when another server has taken the room over. It fails with an error wrapping
// ErrNotFound for a room that is not open. It waits like Leave. Safe for concurrent use.
func (m *MCU) CloseRoom(name string, reason error) error {
	r := m.room(name)
	if r == nil {
		return fmt.Errorf("room %q: %w", name, ErrNotFound)
	}
	if reason == nil {
		reason = ErrRemoved
	}
	for _, p := range r.members() {
		p.leave(reason)
	}
	return nil
}
