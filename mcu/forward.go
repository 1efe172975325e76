package mcu

// Forwarding: the other half of cascading (remote.go is the first). A Forwarder registered on a room
// gets, for every local participant, its joining, its mute changes, the start of each of its incoming
// streams and a copy of every RTP packet of them as ingest reads it (before decoding), and its leaving:
// what a link to another server sends over, so that the other server decodes the original camera and
// voice once and composes and mixes them itself (no nested grids, no second encode). The packets are
// copied by the track readers (ingest.go calls streamTap.packet); nothing else in the media path changes.

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
)

// MediaKind is audio or video.
type MediaKind int

// Media kinds.
const (
	MediaAudio MediaKind = iota + 1
	MediaVideo
)

// String returns "audio" or "video".
func (k MediaKind) String() string {
	switch k {
	case MediaAudio:
		return "audio"
	case MediaVideo:
		return "video"
	}
	return fmt.Sprintf("MediaKind(%d)", int(k))
}

// ForwardedStream describes one incoming stream of a forwarded participant: what the packets that
// Forwarder.OnRTP hands over for (Participant, Kind) are, until the next OnStream for them. Plain data.
type ForwardedStream struct {
	Participant ParticipantID
	Kind        MediaKind
	// VideoCodec is the codec of a video stream: codec.H264 or codec.VP8 (RemoteOptions.VideoCodec on
	// the other side).
	VideoCodec codec.VideoCodec
	// AudioCodec is the codec of an audio stream: Opus from WebRTC; Opus, PCMU, PCMA or G722 from plain
	// RTP, whose G.711 and G.722 packets are forwarded as the MCU decodes them, in 20 ms frames
	// (RemoteOptions.AudioCodec on the other side).
	AudioCodec AudioCodec
}

// Forwarder receives a room's local participants and their original media, for a link to another
// server that holds the same room (MCU.Forward). Local participants are those connected to this MCU and
// seen in the room: not viewers, not recordings or streams, and never remote participants (MCU.JoinRemote),
// so that what a server receives from a link never goes back over a link.
//
// For each participant the calls come in this order: OnParticipant, then for each of its streams
// OnStream and that stream's OnRTP packets, and finally OnParticipantGone, after which nothing more
// comes about it. OnParticipant, OnStream and OnParticipantGone are made one at a time for a forwarder.
// No method may block: OnRTP and OnStream are called from the streams' own track reader goroutines
// (concurrently, for OnRTP), which also feed the room, and OnParticipant from whoever changed a mute;
// the forwarder queues (bounded queues that drop) and does its I/O elsewhere. No method may call
// the stop function Forward returned (it waits for calls in progress), and none is called once stop has
// returned.
type Forwarder interface {
	// OnParticipant announces a local participant (when Forward is called, or when it joins later), and
	// again whenever its mute state changes: what ParticipantInfo says is now true (RemoteOptions and
	// Remote.SetMuted on the other side). Speaking is not forwarded: each server detects it in the
	// voices it mixes.
	OnParticipant(p ParticipantInfo)
	// OnStream announces that one of the participant's streams starts, before its first packet; again
	// when it restarts (a new track, another codec) or resumes after a mute, after which the packets are
	// of the new stream, whose sequence numbers need not follow the old one's (Remote.StartVideo,
	// Remote.StartAudio on the other side). A stream already running when Forward was called is
	// announced with its next packet.
	OnStream(s ForwardedStream)
	// OnRTP shows one packet of a stream, as it arrived (after the MCU's input policing, and for plain
	// RTP its 20 ms framing). The packet is the track reader's own and valid only during the call: a
	// forwarder that keeps it keeps pkt.Clone() (a network link serialises it at once and needs no copy).
	// Packets of a kind the participant has muted (Participant.SetMuted) are not forwarded.
	OnRTP(id ParticipantID, kind MediaKind, pkt *rtp.Packet)
	// OnParticipantGone says the participant left, once all its streams have ended.
	OnParticipantGone(id ParticipantID)
}

// errNilForwarder is returned by Forward without a Forwarder.
var errNilForwarder = errors.New("forward: nil forwarder")

// Forward registers f to receive the local participants of room roomName and their original media (see
// Forwarder): those present are announced before Forward returns, on the caller's goroutine; later ones
// as they join. It fails with an error wrapping ErrNotFound for a room that is not open. Calling stop ends
// the forwarding: it waits for the calls to f in progress, and none follows. Forwarding also ends when
// the room closes (every local participant has left, and f was told). stop is idempotent. Each forwarder
// costs a copy of every packet of the room's local participants. Safe for concurrent use.
//
// Every local camera is forwarded, whether or not the other server shows it (pruning by visibility there
// is not done yet); screens are not forwarded.
func (m *MCU) Forward(roomName string, f Forwarder) (stop func(), err error) {
	if f == nil {
		return nil, errNilForwarder
	}
	r := m.room(roomName)
	if r == nil {
		return nil, fmt.Errorf("forward room %q: %w", roomName, ErrNotFound)
	}
	fw := &forwarding{r: r, f: f, announced: make(map[ParticipantID]bool)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("forward room %q: %w", roomName, ErrNotFound)
	}
	list := append(slices.Clone(r.forwarders()), fw)
	r.forwards.Store(&list)
	members := slices.Clone(r.order)
	r.mu.Unlock()
	for _, p := range members {
		if p.forwarded() {
			fw.announce(p)
		}
	}
	r.log.Info("forwarding started", "forwarders", len(list))
	return fw.stop, nil
}

// RequestKeyframe asks local participant id of room roomName for a keyframe of its camera (a PLI),
// rate-limited like the MCU's own requests (one per pliInterval for a track): a link calls it when the
// other server's decoder of the participant starts or loses its references (RemoteOptions.OnKeyframeNeeded
// there). It fails with an error wrapping ErrNotFound for a room or local participant (one a Forwarder
// is told about) that does not exist. Safe for concurrent use.
func (m *MCU) RequestKeyframe(roomName string, id ParticipantID) error {
	p, err := m.Participant(roomName, id)
	if err != nil {
		return fmt.Errorf("request keyframe: %w", err)
	}
	if !p.forwarded() {
		return fmt.Errorf("request keyframe: %s is not a local participant: %w", id, ErrNotFound)
	}
	p.kfWanted.Store(true)
	return nil
}

// forwarding is one Forwarder registered on a room.
type forwarding struct {
	r    *room
	f    Forwarder
	once sync.Once

	// ctl serialises the calls of OnParticipant, OnStream and OnParticipantGone (one at a time, in
	// order for each participant), and is held across them: it is never taken with an MCU, room or
	// participant lock held, and the forwarder's methods must not call stop.
	ctl       sync.Mutex
	announced map[ParticipantID]bool // told OnParticipant, not yet OnParticipantGone
	stopped   bool
	// live is held for reading across each OnRTP; stop takes it to wait for the calls in progress.
	live       sync.RWMutex
	rtpStopped bool // guarded by live
}

// forwarders returns the room's forwarders now (a copy-on-write list, replaced under r.mu).
func (r *room) forwarders() []*forwarding {
	if l := r.forwards.Load(); l != nil {
		return *l
	}
	return nil
}

// forwarded reports whether the participant's media goes to the room's forwarders: a local participant
// seen in the room (not a viewer, an output or a remote).
func (p *Participant) forwarded() bool { return !p.viewer && !p.output && !p.remote }

// stop takes the forwarder off its room and waits for the calls in progress.
func (fw *forwarding) stop() {
	fw.once.Do(func() {
		r := fw.r
		r.mu.Lock()
		list := slices.DeleteFunc(slices.Clone(r.forwarders()), func(o *forwarding) bool { return o == fw })
		r.forwards.Store(&list)
		r.mu.Unlock()
		fw.ctl.Lock() // after the control call in progress
		fw.stopped = true
		fw.ctl.Unlock()
		fw.live.Lock() // after the OnRTP calls in progress
		fw.rtpStopped = true
		fw.live.Unlock()
		r.log.Info("forwarding stopped", "forwarders", len(list))
	})
}

// announceLocked tells the forwarder about p unless it knows it already; false if p is leaving. ctl is
// held.
func (fw *forwarding) announceLocked(p *Participant) bool {
	if fw.announced[p.id] {
		return true
	}
	select {
	case <-p.left:
		return false // its OnParticipantGone may have been sent already
	default:
	}
	fw.announced[p.id] = true
	fw.f.OnParticipant(p.Info())
	return true
}

// announce tells the forwarder about p, once.
func (fw *forwarding) announce(p *Participant) {
	fw.ctl.Lock()
	defer fw.ctl.Unlock()
	if !fw.stopped {
		fw.announceLocked(p)
	}
}

// changed tells the forwarder p's new state, if it knows p.
func (fw *forwarding) changed(p *Participant) {
	fw.ctl.Lock()
	defer fw.ctl.Unlock()
	if !fw.stopped && fw.announced[p.id] {
		fw.f.OnParticipant(p.Info())
	}
}

// gone tells the forwarder that p left, if it knows p.
func (fw *forwarding) gone(p *Participant) {
	fw.ctl.Lock()
	defer fw.ctl.Unlock()
	if fw.announced[p.id] {
		delete(fw.announced, p.id)
		if !fw.stopped {
			fw.f.OnParticipantGone(p.id)
		}
	}
}

// stream announces a stream of p (and p first if need be); false if the forwarder stopped or p is
// leaving.
func (fw *forwarding) stream(p *Participant, s ForwardedStream) bool {
	fw.ctl.Lock()
	defer fw.ctl.Unlock()
	if fw.stopped || !fw.announceLocked(p) {
		return false
	}
	fw.f.OnStream(s)
	return true
}

// rtp hands one packet over, unless the forwarder stopped.
func (fw *forwarding) rtp(id ParticipantID, kind MediaKind, pkt *rtp.Packet) {
	fw.live.RLock()
	defer fw.live.RUnlock()
	if !fw.rtpStopped {
		fw.f.OnRTP(id, kind, pkt)
	}
}

// forwardJoined announces a participant who just joined to the room's forwarders.
func (r *room) forwardJoined(p *Participant) {
	if !p.forwarded() {
		return
	}
	for _, fw := range r.forwarders() {
		fw.announce(p)
	}
}

// forwardChanged tells the room's forwarders a participant's new mute state.
func (r *room) forwardChanged(p *Participant) {
	if !p.forwarded() {
		return
	}
	for _, fw := range r.forwarders() {
		fw.changed(p)
	}
}

// forwardGone tells the room's forwarders that a participant left. Called once its readers have ended.
func (r *room) forwardGone(p *Participant) {
	if !p.forwarded() {
		return
	}
	for _, fw := range r.forwarders() {
		fw.gone(p)
	}
}

// streamTap hands the packets of one incoming stream to the room's forwarders. It belongs to the
// stream's reader goroutine; a nil *streamTap forwards nothing.
type streamTap struct {
	p      *Participant
	s      ForwardedStream
	muted  *atomic.Bool // the participant's mute flag of this kind
	list   *[]*forwarding
	told   []*forwarding // those of list told about this stream (OnStream)
	paused bool          // muted since the last OnStream: it is announced again when it resumes
}

// audioTap returns the tap of an incoming audio stream in codec c, or nil if the participant is not
// forwarded.
func (p *Participant) audioTap(c AudioCodec) *streamTap {
	if !p.forwarded() {
		return nil
	}
	return &streamTap{p: p, s: ForwardedStream{Participant: p.id, Kind: MediaAudio, AudioCodec: c}, muted: &p.audioMuted}
}

// videoTap returns the tap of an incoming video stream in codec c going to target to, or nil if it is not
// forwarded (the participant is not, or the stream is its screen).
func (p *Participant) videoTap(c codec.VideoCodec, to videoTarget) *streamTap {
	if !p.forwarded() || to.screen {
		return nil
	}
	return &streamTap{p: p, s: ForwardedStream{Participant: p.id, Kind: MediaVideo, VideoCodec: c}, muted: &p.videoMuted}
}

// packet lends pkt to every forwarder of the room (for the OnRTP call), announcing the stream first to those new
// to it. A muted stream's packets are not forwarded; when it resumes it is announced again as a new
// stream, since its sequence numbers jumped. A newly told forwarder of video gets a keyframe soon: its
// decoder on the other side starts.
func (t *streamTap) packet(pkt *rtp.Packet) {
	if t == nil {
		return
	}
	list := t.p.r.forwards.Load()
	if list != t.list {
		t.list = list
		t.told = slices.DeleteFunc(t.told, func(fw *forwarding) bool { return list == nil || !slices.Contains(*list, fw) })
	}
	if list == nil {
		return
	}
	muted := t.muted.Load()
	switch {
	case muted:
		t.paused = true
	case t.paused:
		t.paused = false
		t.told = t.told[:0]
	}
	for _, fw := range *list {
		if !slices.Contains(t.told, fw) {
			if !fw.stream(t.p, t.s) {
				continue
			}
			t.told = append(t.told, fw)
			if t.s.Kind == MediaVideo {
				t.p.kfWanted.Store(true)
			}
		}
		if !muted {
			fw.rtp(t.s.Participant, t.s.Kind, pkt)
		}
	}
}
