// Package chattest has fakes for tests of package chat and of the adapters that use it.
package chattest

import (
	"errors"
	"slices"
	"sync"
)

// ErrBehind is what a failing Member's Deliver returns.
var ErrBehind = errors.New("chattest: client behind")

// Member is a fake chat.Member that records the messages it is given. Safe for concurrent use.
type Member struct {
	id, name string

	mu      sync.Mutex
	msgs    [][]byte
	failing bool
}

// NewMember returns a Member called name with the given ID.
func NewMember(id, name string) *Member { return &Member{id: id, name: name} }

// ID implements chat.Member.
func (m *Member) ID() string { return m.id }

// Name implements chat.Member.
func (m *Member) Name() string { return m.name }

// Deliver implements chat.Member: it keeps a copy of msg, or returns ErrBehind while failing.
func (m *Member) Deliver(msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return ErrBehind
	}
	m.msgs = append(m.msgs, slices.Clone(msg))
	return nil
}

// SetFailing makes Deliver refuse messages (true) or take them again.
func (m *Member) SetFailing(failing bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = failing
}

// Messages returns the messages delivered so far, oldest first.
func (m *Member) Messages() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// Take returns the messages delivered since the last Take, oldest first, and forgets them.
func (m *Member) Take() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	msgs := m.msgs
	m.msgs = nil
	return msgs
}
