package mcu

import "time"

// EventListener receives the MCU's lifecycle events: what webhooks report and an operators' API
// follows. Its methods are called from various goroutines, never under an MCU lock, and must return
// quickly (queue, do not send a request). Params.Events; nil: no events.
type EventListener interface {
	// OnRoomStarted: the first participant joined room.
	OnRoomStarted(room string)
	// OnRoomFinished: the last participant left room, which closed.
	OnRoomFinished(room string)
	// OnParticipantJoined: p joined room.
	OnParticipantJoined(room string, p ParticipantDetail)
	// OnParticipantLeft: p left room (reason is nil after Leave, else why it was removed).
	OnParticipantLeft(room string, p ParticipantDetail, reason error)
}

// ParticipantDetail is what an operator sees of a participant. It is plain data.
type ParticipantDetail struct {
	ParticipantInfo
	// Kind is how it joined: JoinOptions.Kind ("webrtc", "whip", "whep", "sip", ...), or "remote" for a
	// participant of another server (MCU.JoinRemote; the EventListener is not told about those).
	Kind string `json:"kind"`
	// Hidden: a viewer left out of the others' roster (a recorder).
	Hidden bool `json:"hidden"`
	// Tier is the video tier it receives ("audio-only" below the lowest; "" for a remote, which receives
	// nothing here).
	Tier     string    `json:"tier"`
	JoinedAt time.Time `json:"joined_at"`
}

// Detail returns what an operator sees of the participant now. Safe for concurrent use.
func (p *Participant) Detail() ParticipantDetail {
	d := ParticipantDetail{ParticipantInfo: p.Info(), Kind: p.kind, Hidden: p.hidden,
		Tier: p.tierName(int(p.tier.Load())), JoinedAt: p.joinedAt}
	if p.remote {
		d.Tier = ""
	}
	return d
}

// nopEvents is the EventListener of an MCU without one.
type nopEvents struct{}

func (nopEvents) OnRoomStarted(string)                               {}
func (nopEvents) OnRoomFinished(string)                              {}
func (nopEvents) OnParticipantJoined(string, ParticipantDetail)      {}
func (nopEvents) OnParticipantLeft(string, ParticipantDetail, error) {}
