package mcu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/mcu/internal/latency"
	"github.com/openmcu/mcu/mcu/internal/nackfilter"
	"github.com/openmcu/mcu/mcu/internal/pionlog"
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
}

// Histogram is a snapshot of a latency distribution (Stats.AudioLatency, VideoLatency): Counts[i]
// observations up to Bounds[i], the last count above them all. Plain data.
type Histogram = latency.Histogram

// Stats are counters since the MCU started, plus current sizes. A plain value: a snapshot.
type Stats struct {
	Rooms        int // rooms open now
	Participants int // participants in all rooms now

	VideoFramesIn      uint64 // decoded incoming pictures handed to a compositor
	VideoFramesDropped uint64 // composed pictures an output encoder did not take in time
	VideoFramesOut     uint64 // encoded composed pictures
	AudioPacketsLost   uint64 // incoming audio packets missing in sequence (concealed)
	DecodeErrors       uint64 // incoming frames that failed to decode
	PLIsSent           uint64 // keyframe requests sent to publishers
	KeyframesForced    uint64 // IDRs forced on output encoders (keyframe requests and new receivers)
	WriteErrors        uint64 // samples that failed to go out (closed or unbound tracks)

	AudioEncoders int // audio encoders running now (one per distinct mix and audio class), all rooms
	VideoEncoders int // video encoders running now (one per compositor output and codec), all rooms
	// VideoEncodersByTier counts the running video encoders per tier name, all rooms.
	VideoEncodersByTier map[string]int
	AudioDecoders       int // incoming audio tracks being decoded now
	VideoDecoders       int // incoming video tracks being decoded now

	// Large rooms: the video of a participant visible to nobody is read but not decoded (ingest.go).
	VideoFramesDecoded    uint64 // incoming video frames given to a decoder
	VideoFramesNotDecoded uint64 // incoming video frames skipped: their sender was visible to nobody or had its camera off
	VideoDecodersActive   int    // incoming video tracks whose sender is visible now (VideoDecoders minus the idle)

	// AudioLatency is the latency the mixer adds: from the arrival of an audio packet to the sending of the
	// first mix that contains it (for the longest-waiting voice of each tick).
	AudioLatency Histogram
	// ReceiversByTier counts the participants receiving each tier now, by tier name ("audio-only" for
	// those below the lowest tier).
	ReceiversByTier map[string]int
	// TierChanges counts the tier changes made by bandwidth estimation (automatic, not caps).
	TierChanges uint64
	// NACKsFiltered counts the packets receivers asked to be resent that were not: sent too long ago,
	// already resent twice, or unknown (nackfilter.go).
	NACKsFiltered uint64
	// Plain-RTP participants (SIP calls): RTP packets accepted, dropped (from a wrong address, malformed,
	// of a payload type not negotiated, or too large) and sent, over all their streams.
	RTPPacketsReceived, RTPPacketsDropped, RTPPacketsSent uint64
	// RTPPacketsUnsent counts the plain-RTP packets not sent: nothing had yet come from the peer (strict
	// RTP never sends to an address before it has heard from it).
	RTPPacketsUnsent uint64

	// RoomDetails has one entry per open room, ParticipantDetails one per participant (viewers included),
	// both sorted by room name and then join order.
	RoomDetails        []RoomStats
	ParticipantDetails []ParticipantStats

	// VideoLatency is the latency the compositor and encoder add: from the arrival of the last packet of a
	// picture to the sending of the first composed frame that shows it (for the longest-waiting new
	// picture of each frame).
	VideoLatency Histogram

	// Panics counts the panics recovered, by where: "room" (a room's mixer, compositor or encoder:
	// the room's participants were removed), "ingest", "rtcp", "bwe", "callback" (the participant was
	// removed). Every other room and participant went on.
	Panics map[string]uint64
	// Refusals counts what the admission limits refused, by limit: "rooms" (Config.MaxRooms),
	// "server" (MaxTotalParticipants), "room" (MaxParticipants), "tracks" (MaxMediaSections),
	// "negotiation" (NegotiationTimeout), "input_bitrate" (packets over MaxInputBitrate).
	Refusals map[string]uint64
}

// RoomStats are one room's numbers now. Plain data.
type RoomStats struct {
	Name          string
	Participants  int
	AudioEncoders int // encodes per 20 ms tick: one per distinct (mix, audio class)
	VideoEncoders int
	// VideoEncodersByTier counts the room's video encoders per tier name: one per (view, tier, codec) in use.
	VideoEncodersByTier map[string]int
}

// ParticipantStats are one participant's numbers now. Plain data.
type ParticipantStats struct {
	Room, Name string
	ID         ParticipantID
	Viewer     bool
	// Quality is its downstream link: tier, estimated and sent bitrate, loss, keyframes.
	Quality Quality
}

type counters struct {
	videoFramesIn, videoFramesOut, audioPacketsLost, decodeErrors atomic.Uint64
	plisSent, keyframesForced, writeErrors, videoFramesDropped    atomic.Uint64
	audioDecoders, videoDecoders                                  atomic.Int64
	audioLatency, videoLatency                                    latency.Recorder

	// Large rooms (ingest.go): decoded and skipped video frames, decoders not idle.
	videoFramesDecoded, videoFramesNotDecoded atomic.Uint64
	videoDecodersActive                       atomic.Int64

	tierChanges atomic.Uint64 // bwe.go

	nacksFiltered atomic.Uint64 // nackfilter.go

	// Admission limits (Stats.Refusals).
	refusedRooms, refusedServer, refusedRoom, refusedTracks atomic.Uint64
	refusedNegotiation, refusedInputBitrate                 atomic.Uint64

	// Plain RTP: what the streams of participants who left received, dropped and sent (rtpparticipant.go).
	rtpReceived, rtpDropped, rtpSent, rtpUnsent atomic.Uint64
}

// MCU owns the rooms, the shared pion API and the UDP sockets. Create it with New and stop it with Close.
// Its methods are safe for concurrent use.
type MCU struct {
	cfg    Config
	log    *slog.Logger
	api    *webrtc.API
	stats  counters
	panics panicCounts

	muxOnce sync.Once
	mux     interface{ Close() error } // single-port ICE mux, nil unless Config.UDPPort

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
	m := &MCU{cfg: cfg, log: log, rooms: make(map[string]*room), bwes: make(map[string]cc.BandwidthEstimator)}
	api, err := m.newAPI()
	if err != nil {
		if m.mux != nil {
			m.mux.Close()
		}
		return nil, err
	}
	m.api = api
	return m, nil
}

// H.264 parameters the MCU sends and accepts: Constrained Baseline and Baseline, packetization mode 1.
const (
	h264FmtpCB = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	h264FmtpB  = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"
)

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

func (m *MCU) newAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	codecs := []struct {
		p    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
			PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpCB, RTCPFeedback: videoFeedback},
			PayloadType: 125}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpB, RTCPFeedback: videoFeedback},
			PayloadType: 127}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
			PayloadType: 96}, webrtc.RTPCodecTypeVideo},
	}
	// RTX (RFC 4588) for each video codec: retransmissions on their own SSRC where the client offers it.
	for apt, pt := range map[webrtc.PayloadType]webrtc.PayloadType{125: 107, 127: 108, 96: 97} {
		codecs = append(codecs, struct {
			p    webrtc.RTPCodecParameters
			kind webrtc.RTPCodecType
		}{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", apt)},
			PayloadType: pt}, webrtc.RTPCodecTypeVideo})
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.p, c.kind); err != nil {
			return nil, fmt.Errorf("register codec %s: %w", c.p.MimeType, err)
		}
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI},
		webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register audio level extension: %w", err)
	}
	lf := pionlog.Factory{Log: m.log}
	ir := &interceptor.Registry{}
	// Send-side bandwidth estimation (bwe.go): GCC on TWCC feedback, registered before the NACK responder.
	bwe, err := m.newBWE()
	if err != nil {
		return nil, err
	}
	ir.Add(bwe)
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(me, ir); err != nil {
		return nil, fmt.Errorf("register twcc header extension: %w", err)
	}
	// Registered before pion's defaults, so the NACK responder wraps it and sees NACKs without what is
	// not worth resending (nackfilter.go).
	ir.Add(nackfilter.Factory{Filtered: &m.stats.nacksFiltered})
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, webrtc.WithInterceptorLoggerFactory(lf)); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}

	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetIncludeLoopbackCandidate(m.cfg.IncludeLoopback)
	// Disconnected after 2 s without traffic, failed after 2 s more; the watchdog removes the
	// participant after Config.DisconnectTimeout in either state.
	se.SetICETimeouts(2*time.Second, 2*time.Second, time.Second)
	if len(m.cfg.Interfaces) > 0 {
		allowed := slices.Clone(m.cfg.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(allowed, name) })
	}
	if len(m.cfg.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: slices.Clone(m.cfg.NAT1To1IPs), AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			return nil, fmt.Errorf("nat 1:1 ips: %w", err)
		}
	}
	switch {
	case m.cfg.UDPPort != 0:
		conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: m.cfg.UDPPort})
		if err != nil {
			return nil, fmt.Errorf("listen on udp port %d: %w", m.cfg.UDPPort, err)
		}
		mux := webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), conn)
		m.mux = mux
		se.SetICEUDPMux(mux)
	case m.cfg.UDPPortMin != 0:
		if err := se.SetEphemeralUDPPortRange(m.cfg.UDPPortMin, m.cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp port range: %w", err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
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

func validName(s string) bool {
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
	if err := m.join(roomName, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkJoin checks Join's arguments.
func checkJoin(roomName, displayName string, l ParticipantListener) error {
	if !validName(roomName) {
		return fmt.Errorf("join room %q: %w", roomName, ErrBadName)
	}
	if !validName(displayName) {
		return fmt.Errorf("join room %q as %q: %w", roomName, displayName, ErrBadName)
	}
	if l == nil {
		return fmt.Errorf("join room %q: nil listener", roomName)
	}
	return nil
}

// join makes the new participant p a member of the room roomName, creating and starting the room on the
// first join, and tells the others. On failure p is closed.
func (m *MCU) join(roomName string, p *Participant) error {
	var err error
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		p.discard()
		return fmt.Errorf("join room %q: %w", roomName, ErrClosed)
	}
	if total := m.participantsLocked(); total >= m.cfg.MaxTotalParticipants {
		m.mu.Unlock()
		p.discard()
		m.stats.refusedServer.Add(1)
		return fmt.Errorf("join room %q: %d participants: %w", roomName, total, ErrServerFull)
	}
	r := m.rooms[roomName]
	created := false
	if r == nil {
		if len(m.rooms) >= m.cfg.MaxRooms {
			m.mu.Unlock()
			p.discard()
			m.stats.refusedRooms.Add(1)
			return fmt.Errorf("join room %q: %d rooms open: %w", roomName, len(m.rooms), ErrTooManyRooms)
		}
		if r, err = newRoom(m, roomName); err != nil {
			m.mu.Unlock()
			p.discard()
			return fmt.Errorf("join room %q: %w", roomName, err)
		}
		m.rooms[roomName] = r
		created = true
	}
	others, err := r.addLocked(p)
	if err != nil && created {
		m.removeRoomLocked(r)
	}
	m.mu.Unlock()
	if err != nil {
		p.discard()
		if created {
			r.close()
		}
		if errors.Is(err, ErrRoomFull) {
			m.stats.refusedRoom.Add(1)
		}
		return fmt.Errorf("join room %q: %w", roomName, err)
	}
	r.start()
	if err := r.attach(p); err != nil {
		p.leave(err)
		return fmt.Errorf("join room %q: %w", roomName, err)
	}
	p.armNegotiationTimer()
	r.log.Info("participant joined", "participant", p.id, "name", p.name, "viewer", p.viewer, "rtp", p.rtp != nil)
	r.announceJoin(p, others)
	return nil
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
		if m.mux != nil {
			err = m.mux.Close()
		}
	})
	if err != nil {
		return fmt.Errorf("close udp mux: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (m *MCU) Stats() Stats {
	m.mu.Lock()
	tiers := m.cfg.Tiers()
	s := Stats{Rooms: len(m.rooms), ReceiversByTier: make(map[string]int),
		VideoEncodersByTier: make(map[string]int, len(tiers))}
	for _, t := range tiers {
		s.VideoEncodersByTier[t.Name] = 0 // every tier, even with no room
	}
	rooms := make([]*room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.name, b.name) })
	// Encoder counts are the rooms' sums (a closing room, already forgotten, no longer counts).
	for _, r := range rooms {
		ps := r.members()
		s.Participants += len(ps)
		rs := RoomStats{Name: r.name, Participants: len(ps), AudioEncoders: int(r.audioEncoders.Load()),
			VideoEncodersByTier: make(map[string]int, len(tiers))}
		for i, t := range tiers {
			n := int(r.tierEncoders[i].Load())
			rs.VideoEncoders += n
			rs.VideoEncodersByTier[t.Name] = n
			s.VideoEncodersByTier[t.Name] += n
		}
		s.AudioEncoders += rs.AudioEncoders
		s.VideoEncoders += rs.VideoEncoders
		s.RoomDetails = append(s.RoomDetails, rs)
		for _, p := range ps {
			if p.rtp != nil {
				p.rtp.addTotals(&s)
			}
			q := p.Quality()
			s.ReceiversByTier[q.Tier]++
			s.ParticipantDetails = append(s.ParticipantDetails, ParticipantStats{Room: r.name, Name: p.name, ID: p.id,
				Viewer: p.viewer, Quality: q})
		}
	}
	c := &m.stats
	s.VideoFramesIn = c.videoFramesIn.Load()
	s.VideoFramesDropped = c.videoFramesDropped.Load()
	s.VideoFramesOut = c.videoFramesOut.Load()
	s.AudioPacketsLost = c.audioPacketsLost.Load()
	s.DecodeErrors = c.decodeErrors.Load()
	s.PLIsSent = c.plisSent.Load()
	s.KeyframesForced = c.keyframesForced.Load()
	s.WriteErrors = c.writeErrors.Load()
	s.AudioDecoders = int(c.audioDecoders.Load())
	s.VideoDecoders = int(c.videoDecoders.Load())
	s.VideoFramesDecoded = c.videoFramesDecoded.Load()
	s.VideoFramesNotDecoded = c.videoFramesNotDecoded.Load()
	s.VideoDecodersActive = int(c.videoDecodersActive.Load())
	s.TierChanges = c.tierChanges.Load()
	s.NACKsFiltered = c.nacksFiltered.Load()
	s.RTPPacketsReceived += c.rtpReceived.Load()
	s.RTPPacketsDropped += c.rtpDropped.Load()
	s.RTPPacketsSent += c.rtpSent.Load()
	s.RTPPacketsUnsent += c.rtpUnsent.Load()
	s.AudioLatency = c.audioLatency.Snapshot()
	s.VideoLatency = c.videoLatency.Snapshot()
	s.Panics = m.panics.snapshot()
	s.Refusals = map[string]uint64{"rooms": c.refusedRooms.Load(), "server": c.refusedServer.Load(),
		"room": c.refusedRoom.Load(), "tracks": c.refusedTracks.Load(),
		"negotiation": c.refusedNegotiation.Load(), "input_bitrate": c.refusedInputBitrate.Load()}
	return s
}

// participantsLocked counts the participants of every room. m.mu is held.
func (m *MCU) participantsLocked() int {
	n := 0
	for _, r := range m.rooms {
		n += r.size()
	}
	return n
}

// HasRoom reports whether a room of that name is open. Safe for concurrent use.
func (m *MCU) HasRoom(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[name] != nil
}

// removeRoomLocked forgets r if it is still the room of its name. m.mu is held.
func (m *MCU) removeRoomLocked(r *room) {
	if m.rooms[r.name] == r {
		delete(m.rooms, r.name)
	}
}
