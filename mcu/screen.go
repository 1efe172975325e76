package mcu

// Screens and layouts: a participant's shared screen is a second video source (the compositor's screen,
// shown large in every view but the presenter's: the presentation layout), one presenter per room at a
// time; and each receiver's choice of layout or pinned participant.

import (
	"fmt"

	"github.com/openmcu/mcu/mixer"
)

// ScreenAny, given to ShareScreen, makes every video track of the participant its screen: a publisher
// that presents and has no camera (a WHIP publisher with ?screen=1, OBS).
const ScreenAny = "*"

// screenShare is what a participant shares: the MediaStream ID of its screen track, and whether it
// presents now. Guarded by Participant.mu.
type screenShare struct {
	stream     string // "" before the first ShareScreen
	presenting bool
	cameras    int // video tracks taken as the camera (a second one is ignored)
}

// screenID is the compositor source of the participant's screen.
func (p *Participant) screenID() mixer.ParticipantID { return p.id + "/screen" }

// ShareScreen presents the participant's screen to the room: its incoming video track in the MediaStream
// streamID (the msid the client gave it; ScreenAny: every video track) is decoded at up to
// Config.MaxInputWidth x MaxInputHeight and shown large, letterboxed, in every view but the participant's
// own, with the others in a strip (mixer.Presentation), until StopScreen or it leaves. One participant
// presents at a time: a share takes over from the one before. Everyone is told (RosterRoom, with
// RoomState.Presenter). It fails for a viewer, and for a remote participant (screens are not forwarded
// between servers yet). Safe for concurrent use.
func (p *Participant) ShareScreen(streamID string) error {
	if p.viewer || p.remote {
		return fmt.Errorf("share screen: a viewer or remote has no screen here: %w", ErrBadName)
	}
	if streamID == "" {
		return fmt.Errorf("share screen: no stream id: %w", ErrBadName)
	}
	r := p.r
	if r == nil {
		return fmt.Errorf("share screen: %w", ErrClosed)
	}
	// One share or stop at a time per room, compositor included: two shares at once could otherwise
	// leave the first one's screen presented under the second's name.
	r.screenMu.Lock()
	r.mu.Lock()
	if r.byID[p.id] != p { // left (or is leaving): never a presenter after its removal
		r.mu.Unlock()
		r.screenMu.Unlock()
		return fmt.Errorf("share screen: %w", ErrClosed)
	}
	old := r.presenter
	r.presenter = p
	r.mu.Unlock()
	p.mu.Lock()
	p.screen.stream, p.screen.presenting = streamID, true
	p.mu.Unlock()
	if old != nil && old != p {
		old.endScreen()
		old.log.Info("presentation taken over", "by", p.id)
	}
	if old != p {
		r.video.AddScreen(p.screenID(), p.id, p.name)
	}
	r.screenMu.Unlock()
	// The screen's reader asks the client for a keyframe when it starts decoding (readVideo).
	p.log.Info("presenting", "stream", streamID)
	r.roomStateChanged()
	return nil
}

// StopScreen ends the participant's presentation, if it presents: every view returns to its layout.
// Safe for concurrent use.
func (p *Participant) StopScreen() {
	r := p.r
	if r == nil {
		return
	}
	r.screenMu.Lock()
	r.mu.Lock()
	was := r.presenter == p
	if was {
		r.presenter = nil
	}
	r.mu.Unlock()
	if was {
		p.endScreen()
	}
	r.screenMu.Unlock()
	if !was {
		return
	}
	p.log.Info("presentation stopped")
	r.roomStateChanged()
}

// endScreen stops showing and decoding the participant's screen.
func (p *Participant) endScreen() {
	p.mu.Lock()
	p.screen.presenting = false
	p.mu.Unlock()
	p.r.video.RemoveSource(p.screenID())
}

// presenting reports whether the participant presents its screen now.
func (p *Participant) presenting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screen.presenting
}

// videoTargetOf decides where an incoming video track in the MediaStream streamID goes; first says it
// is the first video section of the client's offer. The first is the camera, unless ShareScreen named
// its stream (or ScreenAny: a publisher whose only video is a screen); any later one is a screen, shown
// only while ShareScreen names it (a client may add it before saying so, or keep it while not
// presenting). false: a second camera track, ignored.
func (p *Participant) videoTargetOf(streamID string, first bool) (videoTarget, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	named := func() bool { s := p.screen.stream; return s == ScreenAny || (s != "" && s == streamID) }
	if !first || named() {
		screen := videoTarget{id: p.screenID(), screen: true, off: func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return !p.screen.presenting || !named()
		}}
		return screen, true
	}
	if p.screen.cameras > 0 {
		return videoTarget{}, false
	}
	p.screen.cameras++
	return p.camera(), true
}

// SetPin pins participant id for this participant: it is shown large, the others in a strip, whatever
// the layout or a presentation (mixer.ReceiverOptions.Pin); "" unpins. Safe for concurrent use.
func (p *Participant) SetPin(id ParticipantID) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return fmt.Errorf("pin: %w", ErrClosed)
	}
	p.pin = id
	p.mu.Unlock()
	return p.applyTier("pin")
}
