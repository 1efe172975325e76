package signaling

import "github.com/openmcu/mcu/mcu"

// Conference is what the signalling needs of the MCU: joining rooms and the ICE servers to hand out.
// *mcu.MCU satisfies it through MCUConference; tests use a fake (signalingtest.Conference).
// Implementations must be safe for concurrent use.
type Conference interface {
	// Join adds a participant called name to room. l receives its events and must only queue them; the
	// roster events about the members already in the room may arrive before Join returns. With
	// o.Viewer it is a viewer (WHEP, /watch, a token without the publish grant): it receives the full mix
	// and a grid of everyone, has no tile and is not heard; the others see it in their roster as a viewer
	// unless o.Hidden. Errors wrap mcu.ErrRoomFull, mcu.ErrServerFull, mcu.ErrTooManyRooms,
	// mcu.ErrBadName or mcu.ErrClosed where they apply.
	Join(room, name string, l mcu.ParticipantListener, o mcu.JoinOptions) (Session, error)
	// ICEServers returns the STUN/TURN servers for clients; the slice is the caller's.
	ICEServers() []mcu.ICEServer
}

// Session is one joined participant, as *mcu.Participant. Its methods must be safe for concurrent use.
// HandleOffer errors wrap mcu.ErrNoCodec or mcu.ErrClosed where they apply; Leave is idempotent and
// calls the listener's OnClosed(nil).
type Session interface {
	ID() mcu.ParticipantID
	HandleOffer(offer string) (answer string, err error)
	HandleAnswer(answer string) error
	AddICECandidate(c mcu.ICECandidate) error
	SetMuted(audio, video bool)
	SetLayout(l mcu.Layout) error
	SetCaps(c mcu.Caps) error
	// ShareScreen presents the participant's video track in the MediaStream stream as its screen;
	// StopScreen ends it (mcu.Participant.ShareScreen).
	ShareScreen(stream string) error
	StopScreen()
	// SetPin shows participant id large for this participant ("" unpins).
	SetPin(id mcu.ParticipantID) error
	// SendData sends one message on the client's data channel label (mcu.Participant.SendData).
	SendData(label string, data []byte, binary bool) error
	Leave()
}

var _ Session = (*mcu.Participant)(nil)

// MCUConference adapts m to Conference. The adapter holds nothing but m.
func MCUConference(m *mcu.MCU) Conference { return mcuConference{m} }

type mcuConference struct{ m *mcu.MCU }

func (c mcuConference) Join(room, name string, l mcu.ParticipantListener, o mcu.JoinOptions) (Session, error) {
	p, err := c.m.JoinWith(room, name, l, o)
	if err != nil {
		return nil, err // a nil *Participant must not become a non-nil Session
	}
	return p, nil
}

func (c mcuConference) ICEServers() []mcu.ICEServer { return c.m.ICEServers() }
