// Package signalingtest holds a fake signaling.Conference for tests: rooms of fake sessions that record
// what the signalling asked of them and announce joins and leaves like the real MCU, with no media.
package signalingtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
)

// ErrBadSDP is what a fake session returns for an offer, answer or candidate it rejects.
var ErrBadSDP = errors.New("signalingtest: bad sdp")

// Conference is a fake signaling.Conference. Set its fields before use; its methods are safe for
// concurrent use.
type Conference struct {
	// Servers is what ICEServers returns.
	Servers []mcu.ICEServer
	// MaxPerRoom, when not zero, makes Join fail with mcu.ErrRoomFull beyond that many members.
	MaxPerRoom int
	// JoinErr, when not nil, is asked first by every Join; a non-nil result fails the join.
	JoinErr func(room, name string) error

	mu     sync.Mutex
	nextID int
	rooms  map[string][]*Session
	all    []*Session
}

var _ signaling.Conference = (*Conference)(nil)

// Join adds a fake session. Like mcu.MCU.JoinWith it refuses empty or overlong names (mcu.ErrBadName),
// tells the new member about the others and the others about it (a hidden viewer is told about the
// others, nobody about it), all before it returns; viewers count towards MaxPerRoom.
func (c *Conference) Join(room, name string, l mcu.ParticipantListener, o mcu.JoinOptions) (signaling.Session, error) {
	viewer, hidden := o.Viewer, o.Viewer && o.Hidden
	if c.JoinErr != nil {
		if err := c.JoinErr(room, name); err != nil {
			return nil, err
		}
	}
	if room == "" || name == "" || len(room) > 128 || len(name) > 128 {
		return nil, fmt.Errorf("join room %q: %w", room, mcu.ErrBadName)
	}
	c.mu.Lock()
	if c.rooms == nil {
		c.rooms = make(map[string][]*Session)
	}
	others := slices.Clone(c.rooms[room])
	if c.MaxPerRoom > 0 && len(others) >= c.MaxPerRoom {
		c.mu.Unlock()
		return nil, fmt.Errorf("join room %q: %w", room, mcu.ErrRoomFull)
	}
	c.nextID++
	s := &Session{c: c, id: mcu.ParticipantID(fmt.Sprintf("f%d", c.nextID)), Room: room, Name: name,
		Viewer: viewer, Hidden: hidden, Listener: l}
	c.rooms[room] = append(c.rooms[room], s)
	c.all = append(c.all, s)
	c.mu.Unlock()
	info := s.Info()
	for _, o := range others {
		if !hidden {
			o.Listener.OnRoster(mcu.RosterEvent{Type: mcu.RosterJoined, Participant: info})
		}
		if !o.Hidden {
			l.OnRoster(mcu.RosterEvent{Type: mcu.RosterJoined, Participant: o.Info()})
		}
	}
	return s, nil
}

// ICEServers returns Servers.
func (c *Conference) ICEServers() []mcu.ICEServer { return slices.Clone(c.Servers) }

// Sessions returns every session ever joined, in order.
func (c *Conference) Sessions() []*Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
}

// Remove takes s out of its room as the MCU does when a connection fails: the others get RosterLeft
// and s's listener OnClosed(err). It does not count as a Leave.
func (c *Conference) Remove(s *Session, err error) {
	others, ok := c.remove(s)
	if !ok {
		return
	}
	if !s.Hidden { // nobody was told about a hidden viewer
		for _, o := range others {
			o.Listener.OnRoster(mcu.RosterEvent{Type: mcu.RosterLeft, Participant: s.Info()})
		}
	}
	s.Listener.OnClosed(err)
}

// remove takes s out of its room, once, and returns the remaining members.
func (c *Conference) remove(s *Session) ([]*Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.gone {
		return nil, false
	}
	s.gone = true
	c.rooms[s.Room] = slices.DeleteFunc(c.rooms[s.Room], func(o *Session) bool { return o == s })
	if len(c.rooms[s.Room]) == 0 {
		delete(c.rooms, s.Room)
	}
	return slices.Clone(c.rooms[s.Room]), true
}

// Session is a fake participant. Offers and answers that start with "v=0" are accepted (the answer is
// "answer to " and the offer); others fail with ErrBadSDP, as do candidates that do not start with
// "candidate:". Its methods are safe for concurrent use.
type Session struct {
	c        *Conference
	id       mcu.ParticipantID
	Room     string
	Name     string
	Viewer   bool                    // joined with JoinOptions.Viewer
	Hidden   bool                    // a viewer joined with JoinOptions.Hidden
	Listener mcu.ParticipantListener // to play the MCU's callbacks

	gone bool // out of its room; guarded by c.mu

	mu         sync.Mutex // guards the fields below
	offers     []string
	answers    []string
	candidates []mcu.ICECandidate
	audioMuted bool
	videoMuted bool
	layout     mcu.Layout
	layouts    int
	caps       []mcu.Caps
	leaves     int
	screen     string // the stream of ShareScreen; "" when not presenting
	pin        mcu.ParticipantID
	sent       []mcu.DataMessage
}

// ID returns the session's ID ("f1", "f2", … in join order).
func (s *Session) ID() mcu.ParticipantID { return s.id }

// Info returns what the others see of the session.
func (s *Session) Info() mcu.ParticipantInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mcu.ParticipantInfo{ID: s.id, Name: s.Name, AudioMuted: s.audioMuted, VideoMuted: s.videoMuted, Viewer: s.Viewer}
}

// HandleOffer records the offer and answers it.
func (s *Session) HandleOffer(offer string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offers = append(s.offers, offer)
	if !strings.HasPrefix(offer, "v=0") {
		return "", fmt.Errorf("handle offer: %w", ErrBadSDP)
	}
	return "answer to " + offer, nil
}

// HandleAnswer records the answer.
func (s *Session) HandleAnswer(answer string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = append(s.answers, answer)
	if !strings.HasPrefix(answer, "v=0") {
		return fmt.Errorf("handle answer: %w", ErrBadSDP)
	}
	return nil
}

// AddICECandidate records the candidate.
func (s *Session) AddICECandidate(c mcu.ICECandidate) error {
	if !strings.HasPrefix(c.Candidate, "candidate:") {
		return fmt.Errorf("add ice candidate: %w", ErrBadSDP)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.candidates = append(s.candidates, c)
	return nil
}

// SetMuted records the state and tells the others (RosterMuted) when it changed, like the MCU.
func (s *Session) SetMuted(audio, video bool) {
	s.mu.Lock()
	changed := s.audioMuted != audio || s.videoMuted != video
	s.audioMuted, s.videoMuted = audio, video
	s.mu.Unlock()
	if !changed || s.Hidden { // nobody hears about a hidden viewer
		return
	}
	s.c.mu.Lock()
	others := slices.Clone(s.c.rooms[s.Room])
	s.c.mu.Unlock()
	info := s.Info()
	for _, o := range others {
		if o != s {
			o.Listener.OnRoster(mcu.RosterEvent{Type: mcu.RosterMuted, Participant: info})
		}
	}
}

// SetLayout records the layout.
func (s *Session) SetLayout(l mcu.Layout) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.layout = l
	s.layouts++
	return nil
}

// SetCaps records the caps.
func (s *Session) SetCaps(c mcu.Caps) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caps = append(s.caps, c)
	return nil
}

// ShareScreen records the stream and tells the room's sessions who presents (RosterRoom), like the MCU.
func (s *Session) ShareScreen(stream string) error {
	s.mu.Lock()
	s.screen = stream
	s.mu.Unlock()
	s.tellRoom(mcu.RoomState{Presenter: s.id, PresenterName: s.Name})
	return nil
}

// StopScreen ends the presentation and tells the room's sessions.
func (s *Session) StopScreen() {
	s.mu.Lock()
	was := s.screen != ""
	s.screen = ""
	s.mu.Unlock()
	if was {
		s.tellRoom(mcu.RoomState{})
	}
}

// tellRoom sends a RosterRoom event with st to every session of the room.
func (s *Session) tellRoom(st mcu.RoomState) {
	s.c.mu.Lock()
	all := slices.Clone(s.c.rooms[s.Room])
	s.c.mu.Unlock()
	for _, o := range all {
		o.Listener.OnRoster(mcu.RosterEvent{Type: mcu.RosterRoom, Room: st})
	}
}

// Screen returns the stream ShareScreen named, "" when not presenting.
func (s *Session) Screen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.screen
}

// SetPin records the pinned participant.
func (s *Session) SetPin(id mcu.ParticipantID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pin = id
	return nil
}

// Pin returns the pinned participant.
func (s *Session) Pin() mcu.ParticipantID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pin
}

// SendData records what was sent.
func (s *Session) SendData(label string, data []byte, binary bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, mcu.DataMessage{Label: label, Data: slices.Clone(data), Binary: binary})
	return nil
}

// Sent returns what SendData sent, in order.
func (s *Session) Sent() []mcu.DataMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Caps returns every SetCaps call's caps, in order.
func (s *Session) Caps() []mcu.Caps {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mcu.Caps(nil), s.caps...)
}

// Leave counts the call; the first one takes the session out of its room (the others get RosterLeft)
// and calls OnClosed(nil).
func (s *Session) Leave() {
	s.mu.Lock()
	s.leaves++
	s.mu.Unlock()
	s.c.Remove(s, nil)
}

// Offers returns the offers received.
func (s *Session) Offers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.offers)
}

// Answers returns the answers received.
func (s *Session) Answers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.answers)
}

// Candidates returns the candidates accepted.
func (s *Session) Candidates() []mcu.ICECandidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.candidates)
}

// Muted returns the last SetMuted.
func (s *Session) Muted() (audio, video bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.audioMuted, s.videoMuted
}

// Layout returns the last layout set and how many times SetLayout was called.
func (s *Session) Layout() (mcu.Layout, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.layout, s.layouts
}

// Leaves returns how many times Leave was called.
func (s *Session) Leaves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaves
}
