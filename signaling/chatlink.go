package signaling

import (
	"sync"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/chat"
)

// ChatHub is the rooms' chat and file sharing (*chat.Hub): the page's "chat" data channel and SIP
// MESSAGE are its members' connections.
type ChatHub interface {
	Join(room string, m chat.Member, canSend bool)
	Leave(room string, m chat.Member)
	Receive(room string, m chat.Member, data []byte, binary bool)
	Post(room string, m chat.Member, text string) error
}

// chatLink connects one participant's "chat" data channel to the hub: it joins the hub's room when the
// channel opens (its history then arrives), passes the client's messages on, and leaves with the
// participant. Safe for concurrent use.
type chatLink struct {
	hub ChatHub // nil: no chat

	mu      sync.Mutex
	room    string
	member  *sessionMember // set once the session exists
	canSend bool
	joined  bool
	left    bool
}

// sessionMember is a participant as the hub sees it: what it is sent goes out on its data channel.
type sessionMember struct {
	id, name string
	s        Session
}

func (m *sessionMember) ID() string   { return m.id }
func (m *sessionMember) Name() string { return m.name }

// Deliver sends one chat message to the client; a client that does not read gets an error (the hub
// counts it), never a wait.
func (m *sessionMember) Deliver(msg []byte) error { return m.s.SendData(chat.Label, msg, false) }

// bind names the session behind the link, once joined: from then on its channel can join the hub.
func (l *chatLink) bind(room, name string, s Session, canSend bool) {
	if l == nil || l.hub == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.room, l.canSend = room, canSend
	l.member = &sessionMember{id: string(s.ID()), name: name, s: s}
}

// open joins the hub when the participant's chat channel opens.
func (l *chatLink) open(label string) {
	if l == nil || l.hub == nil || label != chat.Label {
		return
	}
	l.mu.Lock()
	m, join := l.member, l.member != nil && !l.joined && !l.left
	l.joined = l.joined || join
	room, canSend := l.room, l.canSend
	l.mu.Unlock()
	if join {
		l.hub.Join(room, m, canSend)
	}
}

// data passes one message of the client's chat channel to the hub.
func (l *chatLink) data(d mcu.DataMessage) {
	if l == nil || l.hub == nil || d.Label != chat.Label {
		return
	}
	l.mu.Lock()
	m, joined, room := l.member, l.joined && !l.left, l.room
	l.mu.Unlock()
	if joined {
		l.hub.Receive(room, m, d.Data, d.Binary)
	}
}

// leave takes the participant out of the hub's room, once.
func (l *chatLink) leave() {
	if l == nil || l.hub == nil {
		return
	}
	l.mu.Lock()
	m, was, room := l.member, l.joined && !l.left, l.room
	l.left = true
	l.mu.Unlock()
	if was {
		l.hub.Leave(room, m)
	}
}
