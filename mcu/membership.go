package mcu

// Membership and roster: joining a room, leaving it, and telling the others.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/openmcu/mcu/mixer"
)

// checkJoin checks Join's arguments.
func checkJoin(roomName, displayName string, l ParticipantListener) error {
	if !ValidName(roomName) {
		return fmt.Errorf("join room %q: %w", roomName, ErrBadName)
	}
	if !ValidName(displayName) {
		return fmt.Errorf("join room %q as %q: %w", roomName, displayName, ErrBadName)
	}
	if l == nil {
		return fmt.Errorf("join room %q: nil listener", roomName)
	}
	return nil
}

// join makes the new participant p a member of the room roomName, creating and starting the room on the
// first join (an output or a remote joins only an open room), and tells the others and the forwarders.
// On failure p is closed.
func (m *MCU) join(roomName string, p *Participant) error {
	m.mu.Lock()
	r, created, err := m.admitLocked(roomName, p)
	var others []*Participant
	if err == nil {
		others, err = r.addLocked(p)
		if err != nil && created {
			m.removeRoomLocked(r)
		}
	}
	m.mu.Unlock()
	if err != nil {
		p.discard()
		if created {
			r.close()
		}
		if errors.Is(err, ErrRoomFull) {
			m.stats.refusals.Room.Add(1)
		}
		return fmt.Errorf("join room %q: %w", roomName, err)
	}
	r.start()
	if err := r.attach(p); err != nil {
		p.leave(err)
		return fmt.Errorf("join room %q: %w", roomName, err)
	}
	if p.local() {
		p.armNegotiationTimer()
	}
	r.log.Info("participant joined", "participant", p.id, "name", p.name, "viewer", p.viewer, "transport", fmt.Sprintf("%T", p.t))
	r.announceJoin(p, others)
	r.forwardJoined(p)
	if created {
		m.events.OnRoomStarted(roomName)
	}
	if p.local() {
		m.events.OnParticipantJoined(roomName, p.Detail())
	}
	return nil
}

// admitLocked applies the server's limits to p joining roomName and returns the room, created (not
// started) if p is its first participant. m.mu is held.
func (m *MCU) admitLocked(roomName string, p *Participant) (r *room, created bool, err error) {
	if m.closed {
		return nil, false, ErrClosed
	}
	r = m.rooms[roomName]
	if !p.local() {
		switch {
		case r == nil:
			return nil, false, fmt.Errorf("room not open: %w", ErrNotFound)
		case p.output && r.outputCount() >= m.cfg.MaxOutputs:
			m.stats.refusals.Outputs.Add(1)
			return nil, false, fmt.Errorf("%d outputs: %w", m.cfg.MaxOutputs, ErrTooManyOutputs)
		case p.remote && r.remoteCount() >= m.cfg.MaxRemotes:
			m.stats.refusals.Remotes.Add(1)
			return nil, false, fmt.Errorf("%d remote participants: %w", m.cfg.MaxRemotes, ErrTooManyRemotes)
		}
		return r, false, nil
	}
	if total := m.participantsLocked(); total >= m.cfg.MaxTotalParticipants {
		m.stats.refusals.Server.Add(1)
		return nil, false, fmt.Errorf("%d participants: %w", total, ErrServerFull)
	}
	if r != nil {
		return r, false, nil
	}
	if len(m.rooms) >= m.cfg.MaxRooms {
		m.stats.refusals.Rooms.Add(1)
		return nil, false, fmt.Errorf("%d rooms open: %w", len(m.rooms), ErrTooManyRooms)
	}
	if r, err = newRoom(m, roomName); err != nil {
		return nil, false, err
	}
	m.rooms[roomName] = r
	return r, true, nil
}

// openRooms returns the open rooms, in no order. Safe for concurrent use.
func (m *MCU) openRooms() []*room {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.rooms))
}

// participantsLocked counts the local participants of every room. m.mu is held.
func (m *MCU) participantsLocked() int {
	n := 0
	for _, r := range m.rooms {
		n += r.size()
	}
	return n
}

// removeRoomLocked forgets r if it is still the room of its name. m.mu is held.
func (m *MCU) removeRoomLocked(r *room) {
	if m.rooms[r.name] == r {
		delete(m.rooms, r.name)
	}
}

// size returns the number of local participants (viewers included; outputs and remotes not counted).
func (r *room) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.localsLocked()
}

// outputCount returns the number of outputs (recordings, streams).
func (r *room) outputCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.countLocked(func(p *Participant) bool { return p.output })
}

// remoteCount returns the number of remote participants (JoinRemote).
func (r *room) remoteCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.countLocked(func(p *Participant) bool { return p.remote })
}

func (r *room) localsLocked() int { return r.countLocked((*Participant).local) }

func (r *room) countLocked(f func(*Participant) bool) int {
	n := 0
	for _, p := range r.byID {
		if f(p) {
			n++
		}
	}
	return n
}

// local reports whether the participant is a person connected to this server: not an output, not a
// remote. Only they count towards the participant limits, and only they keep a room open.
func (p *Participant) local() bool { return !p.output && !p.remote }

// addLocked makes p a member and returns the other members. m.mu is held.
func (r *room) addLocked(p *Participant) ([]*Participant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if p.local() && r.localsLocked() >= r.m.cfg.MaxParticipants {
		return nil, ErrRoomFull
	}
	others := slices.Clone(r.order)
	r.byID[p.id] = p
	r.order = append(r.order, p)
	r.publishLocked()
	p.r = r
	p.log = r.log.With("participant", p.id)
	p.joinedAt = time.Now()
	p.layout = r.layout
	return others, nil
}

func (r *room) publishLocked() {
	snap := make(map[ParticipantID]*Participant, len(r.byID))
	for id, p := range r.byID {
		snap[id] = p
	}
	r.snapshot.Store(&snap)
}

// members returns the members in join order.
func (r *room) members() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// attach makes p a source and listener of the mixer and a source of the compositor. It becomes a
// receiver of the compositor (applyTier) once its media is connected, so that a participant that never
// connects costs no encode. A viewer is only a listener and a receiver: it hears the full mix and sees
// everyone. A remote is only a source: the server it is connected to mixes and composes for it.
func (r *room) attach(p *Participant) error {
	if !p.viewer {
		src, err := r.audio.AddSource(p.id)
		if err != nil {
			return fmt.Errorf("add audio source: %w", err)
		}
		p.audioIn = src
	}
	if !p.remote {
		if err := r.audio.AddListener(p.id); err != nil {
			return fmt.Errorf("add audio listener: %w", err)
		}
	}
	if !p.viewer {
		r.video.AddSource(p.id, p.name)
	}
	return nil
}

// receiverOptions is what the compositor draws for a receiver with layout l on tier i of Config.Tiers.
func (r *room) receiverOptions(l mixer.Layout, i int) mixer.ReceiverOptions {
	t := r.m.tiers.tiers[i]
	return mixer.ReceiverOptions{Width: t.Width, Height: t.Height, FrameRate: t.FrameRate, Layout: l}
}

// remove takes p out of the room and the mixers. It returns the remaining members and whether the room is
// now empty of local participants, in which case it is closed for joins and forgotten by the MCU: the
// caller must end the outputs and remotes (the only remaining members) and close it.
func (r *room) remove(p *Participant) (others []*Participant, empty bool) {
	r.screenMu.Lock()
	r.m.mu.Lock()
	r.mu.Lock()
	if r.byID[p.id] == p {
		delete(r.byID, p.id)
		r.order = slices.DeleteFunc(r.order, func(q *Participant) bool { return q == p })
		r.publishLocked()
	}
	others = slices.Clone(r.order)
	empty = r.localsLocked() == 0 && !r.closed // outputs and remotes end with the room
	presented := r.presenter == p
	if presented {
		r.presenter = nil
	}
	if empty {
		r.closed = true
		r.m.removeRoomLocked(r)
	}
	r.mu.Unlock()
	r.m.mu.Unlock()
	r.audio.RemoveSource(p.id)
	r.audio.RemoveListener(p.id)
	r.video.RemoveReceiver(p.id)
	r.video.RemoveSource(p.id)
	if presented {
		r.video.RemoveSource(p.screenID())
	}
	r.screenMu.Unlock()
	if presented {
		r.roomStateChanged()
	}
	return others, empty
}

// announceJoin tells the others about p (unless p is hidden), and p about the others (but the hidden)
// and whether the room is recorded or streamed.
func (r *room) announceJoin(p *Participant, others []*Participant) {
	info := p.Info()
	for _, o := range others {
		if !p.hidden {
			o.listener.OnRoster(RosterEvent{Type: RosterJoined, Participant: info})
		}
		if !o.hidden {
			p.listener.OnRoster(RosterEvent{Type: RosterJoined, Participant: o.Info()})
		}
	}
	if st := r.state(); st != (RoomState{}) && !p.output {
		p.listener.OnRoster(RosterEvent{Type: RosterRoom, Room: st})
	}
}

// state returns whether the room is recorded or streamed now.
func (r *room) state() RoomState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var st RoomState
	for _, p := range r.byID {
		st.Recording = st.Recording || p.kind == kindRecording
		st.Streaming = st.Streaming || p.kind == kindStream
	}
	if p := r.presenter; p != nil {
		st.Presenter, st.PresenterName = p.id, p.name
	}
	return st
}

// roomStateChanged tells every participant the room's state after an output started or ended, if it
// changed.
func (r *room) roomStateChanged() {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	st := r.state()
	r.mu.Lock()
	changed := st != r.told
	r.told = st
	r.mu.Unlock()
	if !changed {
		return
	}
	for _, o := range r.members() {
		if !o.output {
			o.listener.OnRoster(RosterEvent{Type: RosterRoom, Room: st})
		}
	}
}

// broadcast sends e to every member but the one it is about; nothing is told about a hidden viewer.
func (r *room) broadcast(e RosterEvent) {
	if p := (*r.snapshot.Load())[e.Participant.ID]; p != nil && p.hidden {
		return
	}
	for _, o := range r.members() {
		if o.id != e.Participant.ID {
			o.listener.OnRoster(e)
		}
	}
}

// OnSpeakingChanged tells the others and moves the speakers to the front of the compositor's ranking.
func (l audioListener) OnSpeakingChanged(changes []mixer.SpeakingChange) {
	r := l.r
	members := *r.snapshot.Load()
	for _, c := range changes {
		p := members[c.ID]
		if p == nil {
			continue
		}
		p.speaking.Store(c.Speaking)
		r.broadcast(RosterEvent{Type: RosterSpeaking, Participant: p.Info()})
	}
	r.video.SetSpeakers(r.audio.ActiveSpeakers())
}
