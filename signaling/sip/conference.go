package sip

import "github.com/openmcu/mcu/mcu"

// Conference is what the SIP server needs of the MCU: putting a plain-RTP participant into a room.
// *mcu.MCU satisfies it through MCUConference; tests use a fake (siptest.Conference). Implementations
// must be safe for concurrent use.
type Conference interface {
	// JoinRTP adds a plain-RTP participant called name to room with the negotiated media and returns
	// where its media must be sent. l receives its events (and its DTMF digits if it implements
	// mcu.DTMFListener) and must only queue them. Errors wrap mcu.ErrRoomFull, mcu.ErrBadName,
	// mcu.ErrClosed or mcu.ErrNoCodec where they apply.
	JoinRTP(room, name string, l mcu.ParticipantListener, m mcu.RTPMedia) (Call, mcu.RTPLocal, error)
	// RoomExists reports whether room is open now (someone is in it). The server asks before a call
	// when Config.AllowNewRooms is false; the room may still close before the JoinRTP that follows.
	RoomExists(room string) bool
}

// Call is one joined plain-RTP participant, as *mcu.Participant. Its methods must be safe for concurrent
// use. Leave is idempotent and calls the listener's OnClosed(nil) (once, for the first Leave).
type Call interface {
	ID() mcu.ParticipantID
	// UpdateRTP applies a renegotiation (hold, resume, another codec or address) and returns the local
	// addresses, unchanged for a stream that still exists.
	UpdateRTP(m mcu.RTPMedia) (mcu.RTPLocal, error)
	SetMuted(audio, video bool)
	Info() mcu.ParticipantInfo
	Leave()
}

var _ Call = (*mcu.Participant)(nil)

// MCUConference adapts m to Conference. The adapter holds nothing but m.
func MCUConference(m *mcu.MCU) Conference { return mcuConference{m} }

type mcuConference struct{ m *mcu.MCU }

// RoomExists implements Conference with MCU.HasRoom.
func (c mcuConference) RoomExists(room string) bool { return c.m.HasRoom(room) }

func (c mcuConference) JoinRTP(room, name string, l mcu.ParticipantListener, media mcu.RTPMedia) (Call, mcu.RTPLocal, error) {
	p, local, err := c.m.JoinRTP(room, name, l, media)
	if err != nil {
		return nil, mcu.RTPLocal{}, err // a nil *Participant must not become a non-nil Call
	}
	return p, local, nil
}
