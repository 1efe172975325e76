// Package siptest holds a fake of the MCU for the tests of package sip: a Conference that records the
// plain-RTP participants joined through it and their renegotiations, without any media.
package siptest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/sip"
)

var _ sip.Conference = (*Conference)(nil)

// Conference is a fake sip.Conference. The zero value is ready; its methods are safe for concurrent use.
type Conference struct {
	mu      sync.Mutex
	calls   []*Call
	rooms   map[string]bool // opened by OpenRoom
	joinErr error
	gate    chan struct{}
	joined  chan *Call
}

// OpenRoom makes RoomExists(room) true whoever is in it.
func (c *Conference) OpenRoom(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rooms == nil {
		c.rooms = make(map[string]bool)
	}
	c.rooms[room] = true
}

// RoomExists reports whether room was opened with OpenRoom or has a call that has not left.
func (c *Conference) RoomExists(room string) bool {
	c.mu.Lock()
	calls := slices.Clone(c.calls)
	open := c.rooms[room]
	c.mu.Unlock()
	return open || slices.ContainsFunc(calls, func(call *Call) bool { return call.Room == room && !call.Left() })
}

// SetJoinError makes every later JoinRTP fail with err (nil: succeed again).
func (c *Conference) SetJoinError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.joinErr = err
}

// SetGate makes every later JoinRTP wait until gate is closed (nil: do not wait).
func (c *Conference) SetGate(gate chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = gate
}

// Joined returns a channel that receives every Call as JoinRTP returns it (buffered; a full buffer
// drops).
func (c *Conference) Joined() <-chan *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.joined == nil {
		c.joined = make(chan *Call, 16)
	}
	return c.joined
}

// Calls returns every call joined so far, in order.
func (c *Conference) Calls() []*Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// JoinRTP records the participant and returns local addresses on 127.0.0.1: audio on 40000+4n, video
// on 40002+4n for the n-th call, for the streams media has.
func (c *Conference) JoinRTP(room, name string, l mcu.ParticipantListener, media mcu.RTPMedia) (sip.Call, mcu.RTPLocal, error) {
	c.mu.Lock()
	gate, err := c.gate, c.joinErr
	c.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return nil, mcu.RTPLocal{}, fmt.Errorf("fake join: %w", err)
	}
	if room == "" || name == "" {
		return nil, mcu.RTPLocal{}, fmt.Errorf("fake join: %w", mcu.ErrBadName)
	}
	c.mu.Lock()
	n := len(c.calls)
	call := &Call{id: mcu.ParticipantID(fmt.Sprintf("p%d", n+1)), Room: room, Name: name, Listener: l,
		base: uint16(40000 + 4*n)}
	call.media = append(call.media, media)
	c.calls = append(c.calls, call)
	if c.joined == nil {
		c.joined = make(chan *Call, 16)
	}
	joined := c.joined
	c.mu.Unlock()
	select {
	case joined <- call:
	default:
	}
	return call, call.localFor(media), nil
}

// Call is a fake joined participant. Its methods are safe for concurrent use.
type Call struct {
	id       mcu.ParticipantID
	Room     string
	Name     string
	Listener mcu.ParticipantListener
	base     uint16

	mu         sync.Mutex
	media      []mcu.RTPMedia
	audioMuted bool
	videoMuted bool
	left       bool
	updateErr  error
}

func (c *Call) localFor(m mcu.RTPMedia) mcu.RTPLocal {
	var l mcu.RTPLocal
	lo := netip.MustParseAddr("127.0.0.1")
	if m.Audio != nil {
		l.Audio = netip.AddrPortFrom(lo, c.base)
	}
	if m.Video != nil {
		l.Video = netip.AddrPortFrom(lo, c.base+2)
	}
	return l
}

// ID implements sip.Call.
func (c *Call) ID() mcu.ParticipantID { return c.id }

// UpdateRTP records the media (unless SetUpdateError) and returns the local addresses.
func (c *Call) UpdateRTP(m mcu.RTPMedia) (mcu.RTPLocal, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left {
		return mcu.RTPLocal{}, mcu.ErrClosed
	}
	if c.updateErr != nil {
		return mcu.RTPLocal{}, c.updateErr
	}
	c.media = append(c.media, m)
	return c.localFor(m), nil
}

// SetUpdateError makes later UpdateRTP calls fail with err.
func (c *Call) SetUpdateError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.updateErr = err
}

// SetMuted implements sip.Call.
func (c *Call) SetMuted(audio, video bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.audioMuted, c.videoMuted = audio, video
}

// Info implements sip.Call.
func (c *Call) Info() mcu.ParticipantInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return mcu.ParticipantInfo{ID: c.id, Name: c.Name, AudioMuted: c.audioMuted, VideoMuted: c.videoMuted}
}

// Leave implements sip.Call: the first call tells the listener OnClosed(nil).
func (c *Call) Leave() { c.remove(nil) }

// Remove simulates the MCU removing the participant (an RTP timeout, the MCU closing): the listener
// gets OnClosed(err).
func (c *Call) Remove(err error) { c.remove(err) }

func (c *Call) remove(err error) {
	c.mu.Lock()
	was := c.left
	c.left = true
	c.mu.Unlock()
	if !was {
		c.Listener.OnClosed(err)
	}
}

// Left reports whether the participant left (Leave or Remove).
func (c *Call) Left() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.left
}

// LastMedia returns the media the participant has now: of the last UpdateRTP, else of the join.
func (c *Call) LastMedia() mcu.RTPMedia {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media[len(c.media)-1]
}

// Media returns the media of the join followed by those of each UpdateRTP.
func (c *Call) Media() []mcu.RTPMedia {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.media)
}

// Muted returns the mute state set through SetMuted.
func (c *Call) Muted() (audio, video bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.audioMuted, c.videoMuted
}

// ErrFake is an error for SetJoinError and SetUpdateError that wraps nothing.
var ErrFake = errors.New("siptest: fake failure")
