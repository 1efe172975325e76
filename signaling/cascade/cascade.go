// Package cascade is the network link that carries one room between two MCU servers (cascading, see
// the mcu package): each side forwards its local participants' original RTP (mcu.Forward) to the other,
// which feeds it into remote participants (mcu.JoinRemote).
//
// A link is one pion PeerConnection with two data channels and no media sections:
//
//   - "cascade" (reliable, ordered) carries JSON control messages (Message): a participant announced or
//     changed, a stream started, a participant gone, a keyframe request, bye.
//   - "media" (unordered, partially reliable: a message is retransmitted for at most MediaLifetime)
//     carries the RTP packets, each behind a 5-byte header: kind, the sender's number for the
//     participant and the stream's generation (the one its "stream" message announced).
//
// Carrying RTP on a data channel rather than on media tracks means no renegotiation, no payload types or
// SSRCs to map, no SRTP replay window broken by several participants' sequence numbers on one track,
// and a packet that names its own participant and stream, so it can never be fed into the wrong
// decoder, whatever the order in which control and media arrive (a packet of a stream not yet announced
// is dropped and counted; the receiving decoder asks for a keyframe). What it gives up is pion's
// GCC/TWCC and NACK interceptors: SCTP's own congestion control paces the link and MediaLifetime
// bounds retransmission.
//
// The SDP offer and answer are exchanged through a Signaler (the HTTP endpoint between nodes is not
// part of this package); candidates are gathered before the offer and the answer are sent (no trickle).
package cascade

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu"
)

// Signaler carries the link's SDP offer to the other server and returns its answer (the other server
// calls Accept with the offer). Exchange must return when ctx is done.
type Signaler interface {
	Exchange(ctx context.Context, offer string) (answer string, err error)
}

// SignalerFunc adapts a function to Signaler.
type SignalerFunc func(ctx context.Context, offer string) (string, error)

// Exchange calls f.
func (f SignalerFunc) Exchange(ctx context.Context, offer string) (string, error) {
	return f(ctx, offer)
}

// Defaults of Config.
const (
	// DefaultMaxParticipants is how many participants the other side may announce on a link.
	DefaultMaxParticipants = 64
	// DefaultMediaLifetime is how long a media message is retransmitted before it is given up.
	DefaultMediaLifetime = 200 * time.Millisecond
)

// Queue sizes. Control messages are few (a handful per participant); a full control queue means the
// link is stuck and it is closed. Media is dropped (the newest packet) when its queue is full.
const (
	controlQueue = 1024
	mediaQueue   = 1024
	inboxQueue   = 256
	// maxBuffered is how many bytes may wait in the media channel's SCTP buffer before packets are
	// dropped instead of sent.
	maxBuffered = 1 << 20
	// mediaHeader is the size of a media message's header: kind, participant number, generation.
	mediaHeader = 5
	// maxControl is the largest control message taken; a longer one is dropped unread.
	maxControl = 4096
	// maxOrigin bounds the Origin of a participant kept for the logs.
	maxOrigin = 64
	// pingInterval is how often each side measures the link's round trip ("ping").
	pingInterval = time.Second
	// visibilityInterval is how often a side checks which of the other side's cameras it shows, and
	// tells the other side to pause or resume those whose state changed.
	visibilityInterval = 250 * time.Millisecond
)

// ICE timeouts of a link: a dead server is noticed within linkFailed (pion's defaults, 5 s and 25 s,
// would leave its participants in the other server's grid for half a minute).
const (
	linkDisconnected = 2 * time.Second
	linkFailed       = 5 * time.Second
	linkKeepalive    = 500 * time.Millisecond
)

// Config is a link's network settings. The zero value gathers candidates on every interface, without
// loopback, and uses the defaults above. Apart from Logger it is plain data.
type Config struct {
	// Interfaces restricts ICE candidates to these interfaces (for example "lo"); empty means all.
	Interfaces []string
	// IncludeLoopback gathers loopback candidates (two servers on one host, tests).
	IncludeLoopback bool
	// PortMin and PortMax bound the link's UDP ports (both 0: any), like the server's other peers'.
	PortMin, PortMax uint16
	// NAT1To1IPs are the public IPs of a server behind a 1:1 NAT, offered as host candidates.
	NAT1To1IPs []string
	// ICEServers are the STUN/TURN servers of the PeerConnection.
	ICEServers []webrtc.ICEServer
	// MaxParticipants bounds the participants the other side may announce (default
	// DefaultMaxParticipants); more are ignored and counted (Stats.Rejected).
	MaxParticipants int
	// MediaLifetime bounds the retransmission of a media message (default DefaultMediaLifetime).
	MediaLifetime time.Duration
	// Logger receives the link's lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// Stats are a link's counters. Plain data.
type Stats struct {
	// PacketsSent and PacketsReceived count RTP packets over the media channel.
	PacketsSent, PacketsReceived uint64
	// PacketsDropped counts the packets dropped: a full queue or SCTP buffer on the way out, or on the
	// way in a packet of no known participant or stream, or one that does not parse.
	PacketsDropped uint64
	// BadMessages counts the control messages that were dropped: not JSON, of an unknown type, or
	// naming no known participant.
	BadMessages uint64
	// Rejected counts the participants announced beyond Config.MaxParticipants, or that JoinRemote
	// refused.
	Rejected uint64
	// KeyframeRequests counts the keyframe requests sent to the other side.
	KeyframeRequests uint64
	// BytesSent and BytesReceived count the media messages' bytes (RTP and the 5-byte header; not
	// SCTP, DTLS, UDP and IP overheads): the link's media bitrate.
	BytesSent, BytesReceived uint64
	// RTT is the round trip of the link's control channel, last measured (0 before the first): a
	// packet's trip from one server to the other takes about half of it.
	RTT time.Duration
	// Panics counts the panics recovered while handling the other side's messages (each ends the link).
	Panics uint64
	// PacketsPruned counts the video packets not sent because the other side shows that camera in no
	// picture ("pause"); Paused is how many of this side's cameras are paused now.
	PacketsPruned uint64
	Paused        int
}

// Add adds o's counters to s, for totals over several links (RTT and Paused, which are not counters,
// are left as they are).
func (s *Stats) Add(o Stats) {
	s.PacketsSent += o.PacketsSent
	s.PacketsReceived += o.PacketsReceived
	s.PacketsDropped += o.PacketsDropped
	s.PacketsPruned += o.PacketsPruned
	s.BadMessages += o.BadMessages
	s.Rejected += o.Rejected
	s.KeyframeRequests += o.KeyframeRequests
	s.BytesSent += o.BytesSent
	s.BytesReceived += o.BytesReceived
	s.Panics += o.Panics
}

// Message is a control message on the "cascade" data channel, JSON-encoded. Plain data.
type Message struct {
	// Type is "participant" (announced, or its mute state changed), "stream" (a stream starts: the
	// packets of generation Gen are of codec VideoCodec or AudioCodec), "gone", "keyframe" (the
	// receiver asks for a keyframe of participant ID's camera), "pause" and "resume" (the receiver shows
	// participant ID's camera in no picture, or does again: its video stops, or comes back with a
	// keyframe), "ping" and "pong" (a round trip: the pong carries the ping's T back) or "bye" (the link
	// closes).
	Type string `json:"type"`
	// ID is the sender's number for the participant (for "keyframe", "pause" and "resume", the number
	// the other side gave).
	ID uint16 `json:"id,omitempty"`
	// Origin is the participant's ID on its own server (for logs).
	Origin     string `json:"origin,omitempty"`
	Name       string `json:"name,omitempty"`
	AudioMuted bool   `json:"audioMuted,omitempty"`
	VideoMuted bool   `json:"videoMuted,omitempty"`
	// Kind is "audio" or "video".
	Kind       string           `json:"kind,omitempty"`
	VideoCodec codec.VideoCodec `json:"videoCodec,omitempty"`
	AudioCodec mcu.AudioCodec   `json:"audioCodec,omitempty"`
	Gen        uint16           `json:"gen,omitempty"`
	// T is the sender's clock of a ping, in nanoseconds, returned by the pong.
	T int64 `json:"t,omitempty"`
}

// Media kinds on the wire (the first byte of a media message).
const (
	wireAudio = 1
	wireVideo = 2
)

// ErrClosed is returned by Run once the link is closed.
var ErrClosed = errors.New("cascade: link closed")

// Link carries one room between this server and another. Create it with Dial (the side that offers)
// or Accept (the side that answers), then call Run; Close ends it. On both sides the link forwards the
// room's local participants once its channels are open, and stands in for the other side's with
// remote participants, which leave when the link ends. Its methods are safe for concurrent use.
type Link struct {
	m    *mcu.MCU
	room string
	cfg  Config
	log  *slog.Logger
	pc   *webrtc.PeerConnection
	ctl  *webrtc.DataChannel
	med  *webrtc.DataChannel

	opened  chan struct{} // closed when both channels are open
	openN   atomic.Int32
	peerEnd chan struct{} // closed when the other side is gone (bye, channel closed, PC failed)
	endOnce sync.Once

	out   chan []byte // control messages to send
	media chan []byte // media messages to send
	inbox chan []byte // control messages received

	closing   chan struct{}
	closeOnce sync.Once
	runDone   chan struct{}
	running   atomic.Bool

	// Sending side: the numbers and stream generations of the local participants (Forwarder).
	smu     sync.Mutex
	next    uint16
	local   map[mcu.ParticipantID]*localPart
	byNum   map[uint16]mcu.ParticipantID
	stopFwd func()

	// Receiving side: the other side's participants by its numbers. Written by Run's goroutine only;
	// read by the media callback under rmu.
	rmu     sync.RWMutex
	remotes map[uint16]*remotePart

	sent, received, dropped, bad, rejected, keyframes atomic.Uint64
	bytesSent, bytesReceived, panics, pruned          atomic.Uint64
	rtt                                               atomic.Int64 // nanoseconds
	epoch                                             time.Time    // the clock of pings (monotonic)
}

// localPart is a forwarded local participant.
type localPart struct {
	num    uint16
	gen    [3]uint16 // by wire kind: the current stream's generation (0: none yet)
	paused bool      // the other side shows its camera nowhere: its video is not sent
}

// remotePart is a participant of the other side.
type remotePart struct {
	r      *mcu.Remote
	num    uint16
	gen    [3]atomic.Uint32 // by wire kind: the generation started (0: none yet)
	paused bool             // this side asked the other to pause its camera (Run's goroutine only)
}

// Dial offers a link for room on m to another server through signal and returns it once the answer is
// set; call Run to run it. The room need not be open yet (Run forwards it).
func Dial(ctx context.Context, m *mcu.MCU, room string, cfg Config, signal Signaler) (*Link, error) {
	l, err := newLink(m, room, cfg)
	if err != nil {
		return nil, err
	}
	answer, err := func() (string, error) {
		offer, err := l.pc.CreateOffer(nil)
		if err != nil {
			return "", fmt.Errorf("create offer: %w", err)
		}
		gathered := webrtc.GatheringCompletePromise(l.pc)
		if err := l.pc.SetLocalDescription(offer); err != nil {
			return "", fmt.Errorf("set offer: %w", err)
		}
		select {
		case <-gathered:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		answer, err := signal.Exchange(ctx, l.pc.LocalDescription().SDP)
		if err != nil {
			return "", fmt.Errorf("exchange: %w", err)
		}
		return answer, nil
	}()
	if err == nil {
		err = l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	}
	if err != nil {
		_ = l.pc.Close()
		return nil, fmt.Errorf("dial cascade link for room %q: %w", room, err)
	}
	return l, nil
}

// Accept answers the offer of another server's Dial for room on m: it returns the link (call Run) and
// the answer to send back.
func Accept(ctx context.Context, m *mcu.MCU, room string, cfg Config, offer string) (*Link, string, error) {
	l, err := newLink(m, room, cfg)
	if err != nil {
		return nil, "", err
	}
	answer, err := func() (string, error) {
		if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
			return "", fmt.Errorf("set offer: %w", err)
		}
		answer, err := l.pc.CreateAnswer(nil)
		if err != nil {
			return "", fmt.Errorf("create answer: %w", err)
		}
		gathered := webrtc.GatheringCompletePromise(l.pc)
		if err := l.pc.SetLocalDescription(answer); err != nil {
			return "", fmt.Errorf("set answer: %w", err)
		}
		select {
		case <-gathered:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return l.pc.LocalDescription().SDP, nil
	}()
	if err != nil {
		_ = l.pc.Close()
		return nil, "", fmt.Errorf("accept cascade link for room %q: %w", room, err)
	}
	return l, answer, nil
}

// newLink creates the PeerConnection and its two pre-negotiated data channels.
func newLink(m *mcu.MCU, room string, cfg Config) (*Link, error) {
	if cfg.MaxParticipants <= 0 {
		cfg.MaxParticipants = DefaultMaxParticipants
	}
	cfg.MaxParticipants = min(cfg.MaxParticipants, 1<<15)
	if cfg.MediaLifetime <= 0 {
		cfg.MediaLifetime = DefaultMediaLifetime
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Link{m: m, room: room, cfg: cfg, log: log.With("room", room, "component", "cascade"), epoch: time.Now(),
		opened: make(chan struct{}), peerEnd: make(chan struct{}), closing: make(chan struct{}),
		runDone: make(chan struct{}),
		out:     make(chan []byte, controlQueue), media: make(chan []byte, mediaQueue), inbox: make(chan []byte, inboxQueue),
		local: make(map[mcu.ParticipantID]*localPart), byNum: make(map[uint16]mcu.ParticipantID),
		remotes: make(map[uint16]*remotePart)}

	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICETimeouts(linkDisconnected, linkFailed, linkKeepalive)
	if cfg.PortMin != 0 || cfg.PortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return nil, fmt.Errorf("cascade: UDP port range: %w", err)
		}
	}
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	if len(cfg.Interfaces) > 0 {
		allowed := slices.Clone(cfg.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(allowed, name) })
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: cfg.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	l.pc = pc
	negotiated := true
	ordered := false
	lifetime := uint16(min(cfg.MediaLifetime.Milliseconds(), 65535))
	var ctlID, medID uint16 = 0, 1
	l.ctl, err = pc.CreateDataChannel("cascade", &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &ctlID})
	if err == nil {
		l.med, err = pc.CreateDataChannel("media", &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &medID,
			Ordered: &ordered, MaxPacketLifeTime: &lifetime})
	}
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("create data channel: %w", err)
	}
	for _, dc := range []*webrtc.DataChannel{l.ctl, l.med} {
		dc.OnOpen(func() {
			if l.openN.Add(1) == 2 {
				close(l.opened)
			}
		})
		dc.OnClose(l.peerGone)
	}
	l.ctl.OnMessage(func(msg webrtc.DataChannelMessage) {
		if len(msg.Data) > maxControl {
			l.bad.Add(1)
			return
		}
		select {
		case l.inbox <- msg.Data:
		default:
			l.bad.Add(1) // a flood of control messages: dropped
		}
	})
	l.med.OnMessage(func(msg webrtc.DataChannelMessage) {
		defer l.recoverPanic("media")
		l.receiveMedia(msg.Data)
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			l.peerGone()
		}
	})
	return l, nil
}

// peerGone notes that the other side is gone.
func (l *Link) peerGone() { l.endOnce.Do(func() { close(l.peerEnd) }) }

// recoverPanic, deferred, turns a panic while handling the other side's input into the end of this link
// alone: logged with its stack, counted, and the link closes as if the other side had gone.
func (l *Link) recoverPanic(where string) {
	if v := recover(); v != nil {
		l.panics.Add(1)
		l.log.Error("cascade link: panic: closing the link", "in", where, "panic", v, "stack", string(debug.Stack()))
		l.peerGone()
	}
}

// Run runs the link until ctx is done, Close is called or the other side goes: it waits for the
// channels to open, forwards the room's local participants (the room must be open by then) and feeds
// the other side's into remote participants. When it returns the forwarding has stopped, the remotes
// have left and the PeerConnection is closed. It returns nil after Close or when the other side said
// bye, ctx.Err(), ErrClosed if Run was called before, or why the link failed.
func (l *Link) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return ErrClosed
	}
	defer close(l.runDone)
	var wg sync.WaitGroup
	stopWriter := make(chan struct{})
	defer func() {
		l.shutdown()
		close(stopWriter)
		wg.Wait()
	}()

	select {
	case <-l.opened:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.closing:
		return nil
	case <-l.peerEnd:
		return errors.New("cascade: the other side went before the link opened")
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.write(stopWriter)
	}()
	stop, err := l.m.Forward(l.room, forwarder{l})
	if err != nil {
		return fmt.Errorf("cascade: %w", err)
	}
	l.smu.Lock()
	l.stopFwd = stop
	l.smu.Unlock()
	l.log.Info("cascade link up")
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	visibility := time.NewTicker(visibilityInterval)
	defer visibility.Stop()
	l.sendControl(Message{Type: "ping", T: int64(time.Since(l.epoch))})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ping.C:
			l.sendControl(Message{Type: "ping", T: int64(time.Since(l.epoch))})
		case <-visibility.C:
			l.checkVisibility()
		case <-l.closing:
			l.sendBye()
			return nil
		case <-l.peerEnd:
			l.log.Info("cascade link: the other side went")
			return nil
		case data := <-l.inbox:
			bye, err := l.handleSafely(data)
			if err != nil {
				return err
			}
			if bye {
				return nil
			}
		}
	}
}

// Close ends the link: the other side is told (bye), the forwarding stops, the remotes leave and the
// PeerConnection closes. It waits for Run if it is running. Idempotent.
func (l *Link) Close() error {
	l.closeOnce.Do(func() { close(l.closing) })
	if l.running.CompareAndSwap(false, true) { // Run never ran: nothing but the PeerConnection
		close(l.runDone)
		return l.pc.Close()
	}
	<-l.runDone
	return nil
}

// Stats returns the link's counters now.
func (l *Link) Stats() Stats {
	return Stats{PacketsSent: l.sent.Load(), PacketsReceived: l.received.Load(), PacketsDropped: l.dropped.Load(),
		BadMessages: l.bad.Load(), Rejected: l.rejected.Load(), KeyframeRequests: l.keyframes.Load(),
		BytesSent: l.bytesSent.Load(), BytesReceived: l.bytesReceived.Load(), RTT: time.Duration(l.rtt.Load()),
		Panics: l.panics.Load(), PacketsPruned: l.pruned.Load(), Paused: l.paused()}
}

// paused counts the local cameras the other side paused.
func (l *Link) paused() int {
	l.smu.Lock()
	defer l.smu.Unlock()
	n := 0
	for _, lp := range l.local {
		if lp.paused {
			n++
		}
	}
	return n
}

// checkVisibility asks the other side to pause the cameras of its participants that this side shows in
// no picture, and to resume those it shows again. Run's goroutine.
func (l *Link) checkVisibility() {
	l.rmu.RLock()
	rs := make([]*remotePart, 0, len(l.remotes))
	for _, rp := range l.remotes {
		rs = append(rs, rp)
	}
	l.rmu.RUnlock()
	for _, rp := range rs {
		if hidden := !rp.r.Visible(); hidden != rp.paused {
			rp.paused = hidden
			t := "resume"
			if hidden {
				t = "pause"
			}
			l.sendControl(Message{Type: t, ID: rp.num})
		}
	}
}

// shutdown stops the forwarding, makes the remotes leave and closes the PeerConnection. Run's goroutine.
func (l *Link) shutdown() {
	l.smu.Lock()
	stop := l.stopFwd
	l.stopFwd = nil
	l.smu.Unlock()
	if stop != nil {
		stop()
	}
	l.rmu.Lock()
	rs := make([]*remotePart, 0, len(l.remotes))
	for _, rp := range l.remotes {
		rs = append(rs, rp)
	}
	clear(l.remotes)
	l.rmu.Unlock()
	for _, rp := range rs {
		rp.r.Leave()
	}
	if err := l.pc.Close(); err != nil {
		l.log.Warn("close peer connection", "err", err)
	}
	l.log.Info("cascade link closed", "stats", l.Stats())
}

// sendBye tells the other side the link closes, and lets the message leave (briefly).
func (l *Link) sendBye() {
	b, _ := json.Marshal(Message{Type: "bye"})
	if l.ctl.Send(b) != nil {
		return
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for range 20 {
		if l.ctl.BufferedAmount() == 0 {
			return
		}
		<-t.C
	}
}

// write sends the queued control and media messages until stop is closed. Control goes first.
func (l *Link) write(stop <-chan struct{}) {
	for {
		select {
		case b := <-l.out:
			if err := l.ctl.Send(b); err != nil {
				l.log.Debug("send control", "err", err)
			}
			continue
		default:
		}
		select {
		case <-stop:
			return
		case b := <-l.out:
			if err := l.ctl.Send(b); err != nil {
				l.log.Debug("send control", "err", err)
			}
		case b := <-l.media:
			if l.med.BufferedAmount() > maxBuffered {
				l.dropped.Add(1)
				continue
			}
			if err := l.med.Send(b); err != nil {
				l.dropped.Add(1)
				continue
			}
			l.sent.Add(1)
			l.bytesSent.Add(uint64(len(b)))
		}
	}
}

// sendControl queues a control message; a control queue that is full means the link is stuck: it ends.
func (l *Link) sendControl(msg Message) {
	b, err := json.Marshal(msg)
	if err != nil {
		return
	}
	select {
	case l.out <- b:
	default:
		l.log.Error("cascade control queue full: closing the link")
		l.peerGone()
	}
}

// handleSafely is handle with a panic turned into an error that ends the link.
func (l *Link) handleSafely(data []byte) (bye bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			l.panics.Add(1)
			l.log.Error("cascade link: panic: closing the link", "in", "control", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("cascade: panic handling a control message: %v", v)
		}
	}()
	return l.handle(data), nil
}

// handle applies one control message from the other side; true if it said bye. Run's goroutine.
func (l *Link) handle(data []byte) (bye bool) {
	var msg Message
	if err := json.Unmarshal(data, &msg); err != nil {
		l.bad.Add(1)
		return false
	}
	switch msg.Type {
	case "participant":
		l.participant(msg)
	case "stream":
		l.stream(msg)
	case "gone":
		l.rmu.Lock()
		rp := l.remotes[msg.ID]
		delete(l.remotes, msg.ID)
		l.rmu.Unlock()
		if rp == nil {
			l.bad.Add(1)
			return false
		}
		rp.r.Leave()
	case "keyframe":
		l.smu.Lock()
		id, ok := l.byNum[msg.ID]
		l.smu.Unlock()
		if !ok {
			l.bad.Add(1)
			return false
		}
		_ = l.m.RequestKeyframe(l.room, id) // it may have left meanwhile
	case "pause", "resume":
		pause := msg.Type == "pause"
		l.smu.Lock()
		id, ok := l.byNum[msg.ID]
		changed := ok && l.local[id].paused != pause
		if changed {
			l.local[id].paused = pause
		}
		l.smu.Unlock()
		if !ok {
			l.bad.Add(1)
			return false
		}
		if changed && !pause {
			_ = l.m.RequestKeyframe(l.room, id) // a decodable picture at once
		}
	case "ping":
		l.sendControl(Message{Type: "pong", T: msg.T})
	case "pong":
		rtt := time.Since(l.epoch) - time.Duration(msg.T)
		if msg.T <= 0 || rtt < 0 || rtt > time.Minute {
			l.bad.Add(1) // not a pong of ours
			return false
		}
		l.rtt.Store(int64(rtt))
	case "bye":
		l.log.Info("cascade link: the other side said bye")
		return true
	default:
		l.bad.Add(1)
	}
	return false
}

// participant joins a remote for a newly announced participant, or applies its mute state.
func (l *Link) participant(msg Message) {
	l.rmu.RLock()
	rp := l.remotes[msg.ID]
	n := len(l.remotes)
	l.rmu.RUnlock()
	if rp != nil {
		rp.r.SetMuted(msg.AudioMuted, msg.VideoMuted)
		return
	}
	if n >= l.cfg.MaxParticipants {
		l.rejected.Add(1)
		return
	}
	if len(msg.Origin) > maxOrigin {
		msg.Origin = msg.Origin[:maxOrigin]
	}
	rp = &remotePart{num: msg.ID}
	num := msg.ID
	r, err := l.m.JoinRemote(l.room, msg.Name, mcu.RemoteOptions{AudioMuted: msg.AudioMuted, VideoMuted: msg.VideoMuted,
		OnKeyframeNeeded: func() {
			l.keyframes.Add(1)
			l.sendControl(Message{Type: "keyframe", ID: num})
		}})
	if err != nil {
		l.rejected.Add(1)
		l.log.Warn("join remote", "name", msg.Name, "origin", msg.Origin, "err", err)
		return
	}
	rp.r = r
	l.rmu.Lock()
	l.remotes[msg.ID] = rp
	l.rmu.Unlock()
	l.log.Info("remote participant joined", "name", msg.Name, "origin", msg.Origin, "id", r.ID())
}

// stream starts a new stream of a remote: the packets of its generation are accepted from now on.
func (l *Link) stream(msg Message) {
	l.rmu.RLock()
	rp := l.remotes[msg.ID]
	l.rmu.RUnlock()
	if rp == nil || msg.Gen == 0 {
		l.bad.Add(1)
		return
	}
	var err error
	var k int
	switch msg.Kind {
	case "video":
		k, err = wireVideo, rp.r.StartVideo(msg.VideoCodec)
	case "audio":
		k, err = wireAudio, rp.r.StartAudio(msg.AudioCodec)
	default:
		l.bad.Add(1)
		return
	}
	if err != nil {
		l.bad.Add(1)
		rp.gen[k].Store(0) // its packets are dropped until a stream that can be decoded
		return
	}
	rp.gen[k].Store(uint32(msg.Gen))
}

// receiveMedia feeds one media message into its remote. It is pion's callback: it never blocks. It
// keeps data (the packet's payload points into it, queued for the remote's reader): pion hands each
// message over in a slice of its own, so no copy is made here.
func (l *Link) receiveMedia(data []byte) {
	if len(data) <= mediaHeader || (data[0] != wireAudio && data[0] != wireVideo) {
		l.dropped.Add(1)
		return
	}
	k := int(data[0])
	num, gen := binary.BigEndian.Uint16(data[1:3]), binary.BigEndian.Uint16(data[3:5])
	l.rmu.RLock()
	rp := l.remotes[num]
	l.rmu.RUnlock()
	if rp == nil || gen == 0 || rp.gen[k].Load() != uint32(gen) {
		l.dropped.Add(1)
		return
	}
	pkt := &rtp.Packet{}
	if err := pkt.Unmarshal(data[mediaHeader:]); err != nil {
		l.dropped.Add(1)
		return
	}
	l.received.Add(1)
	l.bytesReceived.Add(uint64(len(data)))
	if k == wireVideo {
		_ = rp.r.WriteVideoRTP(pkt)
	} else {
		_ = rp.r.WriteAudioRTP(pkt)
	}
}

// forwarder is the link's mcu.Forwarder: it only queues.
type forwarder struct{ l *Link }

// OnParticipant numbers a new participant and announces it, or its new mute state.
func (f forwarder) OnParticipant(p mcu.ParticipantInfo) {
	l := f.l
	l.smu.Lock()
	lp := l.local[p.ID]
	if lp == nil {
		l.next++
		if l.next == 0 {
			l.next = 1
		}
		lp = &localPart{num: l.next}
		l.local[p.ID] = lp
		l.byNum[lp.num] = p.ID
	}
	num := lp.num
	l.smu.Unlock()
	l.sendControl(Message{Type: "participant", ID: num, Origin: string(p.ID), Name: p.Name,
		AudioMuted: p.AudioMuted, VideoMuted: p.VideoMuted})
}

// OnStream announces a new stream generation.
func (f forwarder) OnStream(s mcu.ForwardedStream) {
	l := f.l
	k, kind := wireAudio, "audio"
	if s.Kind == mcu.MediaVideo {
		k, kind = wireVideo, "video"
	}
	l.smu.Lock()
	lp := l.local[s.Participant]
	if lp == nil {
		l.smu.Unlock()
		return
	}
	lp.gen[k]++
	if lp.gen[k] == 0 {
		lp.gen[k] = 1
	}
	num, gen := lp.num, lp.gen[k]
	l.smu.Unlock()
	l.sendControl(Message{Type: "stream", ID: num, Kind: kind, VideoCodec: s.VideoCodec, AudioCodec: s.AudioCodec, Gen: gen})
}

// OnRTP queues one packet, or drops it if the queue is full.
func (f forwarder) OnRTP(id mcu.ParticipantID, kind mcu.MediaKind, pkt *rtp.Packet) {
	l := f.l
	k := wireAudio
	if kind == mcu.MediaVideo {
		k = wireVideo
	}
	l.smu.Lock()
	lp := l.local[id]
	var num, gen uint16
	var paused bool
	if lp != nil {
		num, gen, paused = lp.num, lp.gen[k], lp.paused && k == wireVideo
	}
	l.smu.Unlock()
	if paused {
		l.pruned.Add(1)
		return
	}
	if lp == nil || gen == 0 {
		l.dropped.Add(1)
		return
	}
	b := make([]byte, mediaHeader+pkt.MarshalSize())
	b[0] = byte(k)
	binary.BigEndian.PutUint16(b[1:3], num)
	binary.BigEndian.PutUint16(b[3:5], gen)
	if _, err := pkt.MarshalTo(b[mediaHeader:]); err != nil {
		l.dropped.Add(1)
		return
	}
	select {
	case l.media <- b:
	default:
		l.dropped.Add(1)
	}
}

// OnParticipantGone announces that a participant left.
func (f forwarder) OnParticipantGone(id mcu.ParticipantID) {
	l := f.l
	l.smu.Lock()
	lp := l.local[id]
	delete(l.local, id)
	if lp != nil {
		delete(l.byNum, lp.num)
	}
	l.smu.Unlock()
	if lp != nil {
		l.sendControl(Message{Type: "gone", ID: lp.num})
	}
}
