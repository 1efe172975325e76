package mcu

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/mcu/internal/assembler"
)

// Errors returned by Join and the Participant methods. Check them with errors.Is.
var (
	// ErrRoomFull is returned by Join when the room already has Config.MaxParticipants participants.
	ErrRoomFull = errors.New("mcu: room full")
	// ErrBadName is returned by Join for an empty, overlong or non-UTF-8 room or display name.
	ErrBadName = errors.New("mcu: bad name")
	// ErrClosed is returned after MCU.Close or Participant.Leave.
	ErrClosed = errors.New("mcu: closed")
	// ErrNoCodec is returned by HandleOffer when the offer has no codec the MCU can send or receive.
	ErrNoCodec = errors.New("mcu: no usable codec in offer")
	// ErrTooManyRooms is returned by Join when it would open a room beyond Config.MaxRooms.
	ErrTooManyRooms = errors.New("mcu: too many rooms")
	// ErrServerFull is returned by Join when the server has Config.MaxTotalParticipants participants.
	ErrServerFull = errors.New("mcu: server full")
	// ErrTooManyTracks is returned by HandleOffer for an offer with more than Config.MaxMediaSections
	// audio and video sections.
	ErrTooManyTracks = errors.New("mcu: too many media sections in offer")
	// ErrNegotiationTimeout is the reason a participant is removed when its media has not connected
	// within Config.NegotiationTimeout of joining.
	ErrNegotiationTimeout = errors.New("mcu: media not connected in time")
)

// maxNameLen is the longest room or display name, in bytes.
const maxNameLen = 128

// Params holds what an MCU needs from its owner besides configuration.
type Params struct {
	// Logger receives lifecycle messages, and pion's own logs (pion's Info as Debug); nil discards them.
	Logger *slog.Logger
	// Events receives the lifecycle events of rooms and participants; nil: none.
	Events EventListener
}

// MCU owns the rooms, the shared pion API and the UDP sockets. Create it with New and stop it with Close.
// Its methods are safe for concurrent use.
type MCU struct {
	cfg    Config
	tiers  tierSet // cfg's tiers, computed once
	log    *slog.Logger
	events EventListener // Params.Events, or one that does nothing
	api    *webrtc.API
	stats  counters
	panics panicCounts
	gov    *videoGovernor // the server's video shed level, fed by every room's audio mixer
	// tierFloor is how many tiers below the best every video receiver is held for CPU (the shed levels
	// past the compositor's: shedTierSteps); applyTier reads it.
	tierFloor atomic.Int32
	// encodeSlots bounds the video encodes running at once to the cores Go runs on: encoders beyond
	// that would only queue for the CPU as OS threads, ahead of the audio and network goroutines.
	encodeSlots    chan struct{}
	encodesRunning atomic.Int64
	encodesWaiting atomic.Int64 // encoders now waiting for a slot
	// packets lends the video readers the packets they read into; their assemblers give them back.
	packets assembler.Pool

	muxOnce sync.Once
	muxes   []interface{ Close() error } // the ICE UDP mux (Config.UDPPort) and TCP mux (Config.TCPPort)

	mu     sync.Mutex
	rooms  map[string]*room
	closed bool

	nextID atomic.Uint64

	bweMu sync.Mutex
	bwes  map[string]cc.BandwidthEstimator // by PeerConnection ID, from creation until newParticipant takes it

	wg sync.WaitGroup // removers started by connection failures
}

// New builds the shared pion API from cfg (and opens the single UDP port if cfg.UDPPort is set). It starts
// no goroutine: rooms start theirs on their first Join.
func New(cfg Config, p Params) (*MCU, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &MCU{cfg: cfg, tiers: cfg.tierSet(), log: log, events: p.Events, rooms: make(map[string]*room), bwes: make(map[string]cc.BandwidthEstimator)}
	api, err := m.newAPI()
	if err != nil {
		for _, mux := range m.muxes {
			mux.Close()
		}
		return nil, err
	}
	m.api = api
	m.encodeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))
	m.gov = newVideoGovernor(cfg.NoVideoShedding, len(m.tiers.tiers)-1, m.onShedLevel)
	if m.events == nil {
		m.events = nopEvents{}
	}
	return m, nil
}

// ICEServers returns the STUN/TURN servers clients should use (Config.ICEServers). The slice is the
// caller's. Safe for concurrent use.
func (m *MCU) ICEServers() []ICEServer {
	out := make([]ICEServer, len(m.cfg.ICEServers))
	for i, s := range m.cfg.ICEServers {
		out[i] = ICEServer{URLs: slices.Clone(s.URLs), Username: s.Username, Credential: s.Credential}
	}
	return out
}

// Config returns the configuration the MCU was created with.
func (m *MCU) Config() Config { return m.cfg }

// ValidName reports whether s can name a room or a participant: 1 to 128 bytes of UTF-8 (ErrBadName
// otherwise).
func ValidName(s string) bool {
	return s != "" && len(s) <= maxNameLen && utf8.ValidString(s)
}

// JoinOptions are the less common ways of joining a room. The zero value is an ordinary participant.
type JoinOptions struct {
	// Viewer joins as a watcher of the whole room (WHEP, a streaming or recording tool): it receives the
	// full mix (everyone's voice) and a grid of everyone, but has no tile and is not heard (incoming media
	// is ignored). The others see it in their roster as a viewer (ParticipantInfo.Viewer) unless Hidden.
	// It does count towards Config.MaxParticipants.
	Viewer bool
	// Hidden keeps a viewer out of the others' roster (a recorder, an operator's monitor).
	Hidden bool
	// Kind says how the participant joined, for operators (ParticipantDetail.Kind): "webrtc" when empty.
	Kind string
}

// Join adds a participant called displayName to the room roomName, creating and starting the room on the
// first join. l receives the participant's events (it must not be nil). The participant then negotiates
// with HandleOffer. Join fails with ErrBadName, ErrRoomFull or ErrClosed. Safe for concurrent use.
func (m *MCU) Join(roomName, displayName string, l ParticipantListener) (*Participant, error) {
	return m.JoinWith(roomName, displayName, l, JoinOptions{})
}

// JoinWith is Join with options.
func (m *MCU) JoinWith(roomName, displayName string, l ParticipantListener, o JoinOptions) (*Participant, error) {
	if err := checkJoin(roomName, displayName, l); err != nil {
		return nil, err
	}
	p, err := newParticipant(m, displayName, l)
	if err != nil {
		return nil, fmt.Errorf("join room %q: %w", roomName, err)
	}
	p.viewer = o.Viewer
	p.hidden = o.Viewer && o.Hidden
	if o.Kind != "" {
		p.kind = o.Kind
	}
	if err := m.join(roomName, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Close removes every participant (their listeners get OnClosed with ErrClosed), closes every room and
// waits for all goroutines. It is idempotent and safe for concurrent use.
func (m *MCU) Close() error {
	m.mu.Lock()
	m.closed = true
	var ps []*Participant
	for _, r := range m.rooms {
		ps = append(ps, r.members()...)
	}
	m.mu.Unlock()
	for _, p := range ps {
		p.leave(ErrClosed)
	}
	m.wg.Wait()
	var err error
	m.muxOnce.Do(func() {
		var errs []error
		for _, mux := range m.muxes {
			errs = append(errs, mux.Close())
		}
		err = errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("close ice mux: %w", err)
	}
	return nil
}

// HasRoom reports whether a room of that name is open. Safe for concurrent use.
func (m *MCU) HasRoom(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[name] != nil
}
