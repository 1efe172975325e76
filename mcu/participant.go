package mcu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/mixer"
)

// ParticipantID names a participant; it is unique within an MCU. It is the mixer's participant ID.
type ParticipantID = mixer.ParticipantID

// ParticipantInfo is what the others see of a participant. It is plain data.
type ParticipantInfo struct {
	ID         ParticipantID `json:"id"`
	Name       string        `json:"name"`
	AudioMuted bool          `json:"audio_muted"`
	VideoMuted bool          `json:"video_muted"`
	Speaking   bool          `json:"speaking"`
	// Viewer: it watches (WHEP, /watch) and is not seen or heard in the room.
	Viewer bool `json:"viewer"`
}

// RosterEventType says what happened to a participant.
type RosterEventType int

// Roster events.
const (
	// RosterJoined: the participant is in the room (also sent, once per member, to a new participant).
	RosterJoined RosterEventType = iota + 1
	// RosterLeft: the participant left or was removed.
	RosterLeft
	// RosterSpeaking: the participant started or stopped speaking (Participant.Speaking).
	RosterSpeaking
	// RosterMuted: the participant muted or unmuted audio or video.
	RosterMuted
	// RosterRoom: the room started or stopped being recorded or streamed (RosterEvent.Room; no
	// Participant). Also sent to a new participant when the room is recorded or streamed already.
	RosterRoom
)

// String returns "joined", "left", "speaking", "muted" or "room".
func (t RosterEventType) String() string {
	switch t {
	case RosterJoined:
		return "joined"
	case RosterLeft:
		return "left"
	case RosterSpeaking:
		return "speaking"
	case RosterMuted:
		return "muted"
	case RosterRoom:
		return "room"
	}
	return fmt.Sprintf("RosterEventType(%d)", int(t))
}

// RosterEvent tells a participant about another member of its room, or (RosterRoom) about the room.
type RosterEvent struct {
	Type        RosterEventType
	Participant ParticipantInfo
	Room        RoomState // RosterRoom only
}

// RoomState is what every participant is told about its room: whether it is being recorded or streamed
// out, and who presents. Plain data.
type RoomState struct {
	Recording bool `json:"recording"`
	Streaming bool `json:"streaming"`
	// Presenter is the participant who shares its screen now (ShareScreen), PresenterName its name;
	// empty when nobody presents.
	Presenter     ParticipantID `json:"presenter,omitempty"`
	PresenterName string        `json:"presenter_name,omitempty"`
}

// ParticipantListener receives one participant's events. Its methods are called from various goroutines
// (pion's, the room's mixer, the caller of Join or Leave), never under an MCU lock, possibly concurrently;
// they must be safe for concurrent use and return quickly (queue, do not write to a socket).
type ParticipantListener interface {
	// OnICECandidate receives a local candidate gathered after HandleOffer's answer was produced; send it
	// to the client. Candidates gathered before are already in the answer.
	OnICECandidate(c ICECandidate)
	// OnRoster receives the joins, leaves, speaking and mute changes of the room's other members.
	OnRoster(e RosterEvent)
	// OnClosed is called once when the participant has been removed: err is nil after Leave, ErrClosed
	// after MCU.Close, and describes the failure when the connection failed or stayed disconnected.
	OnClosed(err error)
}

// Participant is one member of a room, whatever carries its media: a WebRTC PeerConnection (MCU.Join) or
// plain RTP (MCU.JoinRTP). Remove it with Leave. Its methods are safe for concurrent use.
type Participant struct {
	m        *MCU
	r        *room // set by room.addLocked before Join returns
	id       ParticipantID
	name     string
	log      *slog.Logger
	listener ParticipantListener
	viewer   bool   // JoinOptions.Viewer; set before the participant is shared
	hidden   bool   // JoinOptions.Hidden (viewers only): not in the others' roster
	kind     string // JoinOptions.Kind; "sip" for JoinRTP; "recording" or "stream" for an Output; "remote"
	output   bool   // an Output: not a person (no limits, events or roster of its own; see output.go)
	// remote: a participant of another server (JoinRemote, remote.go): a source of the mixers, never a
	// listener or receiver; not forwarded; outside this server's participant limits and events.
	remote   bool
	joinedAt time.Time // set by room.addLocked

	t       transport          // how its media reaches its peer; set before the participant is shared
	audioIn *mixer.AudioSource // set by room.attach before Join returns

	feed       atomic.Pointer[output] // the compositor output whose encoders feed this participant
	audioMuted atomic.Bool
	videoMuted atomic.Bool
	speaking   atomic.Bool
	stopping   atomic.Bool // no more writes

	negMu sync.Mutex // serialises negotiations

	mu       sync.Mutex
	closing  bool
	removing bool
	negTimer *time.Timer // Config.NegotiationTimeout, from joining until the media is up
	layout   mixer.Layout
	pin      ParticipantID // SetPin: shown large for this participant; "" none
	screen   screenShare   // ShareScreen (screen.go)
	caps     Caps          // set by SetCaps
	sdpCaps  Caps          // from the last offer's b=AS / b=TIAS
	estCaps  Caps          // from bandwidth estimation (runBWE)
	quality  Quality       // kept by runBWE

	audioLoss audioLoss // what the listener reports losing of its audio
	// Keyframes: PLI/FIR received from the participant, and IDRs forced on its encoder at its request
	// (kfPending: a request not served yet).
	keyframeRequests, keyframesForced atomic.Uint64
	kfPending                         atomic.Bool
	framesDecoded                     atomic.Uint64 // incoming video frames given to the decoder
	// kfWanted: a link asked for a keyframe of the camera (MCU.RequestKeyframe); its reader sends a PLI.
	kfWanted atomic.Bool

	tierMu sync.Mutex   // serialises applyTier
	tier   atomic.Int32 // index in Config.Tiers of the video received; -1: audio only

	sentBytes atomic.Uint64 // audio and video payload written

	wg        sync.WaitGroup // the transport's goroutines: track readers, RTCP readers, BWE
	leaveOne  sync.Once
	left      chan struct{} // closed when leaving starts
	leaveDone chan struct{} // closed when leaving is over
}

// newMember returns a participant, not yet in a room, with the next ID and no transport.
func (m *MCU) newMember(name string, l ParticipantListener) *Participant {
	id := ParticipantID(fmt.Sprintf("p%d", m.nextID.Add(1)))
	return &Participant{m: m, id: id, name: name, kind: "webrtc", log: m.log.With("participant", id), listener: l,
		left: make(chan struct{}), leaveDone: make(chan struct{})}
}

// ID returns the participant's ID, unique within the MCU. Safe for concurrent use.
func (p *Participant) ID() ParticipantID { return p.id }

// Name returns the display name given to Join. Safe for concurrent use.
func (p *Participant) Name() string { return p.name }

// Info returns what the others see of the participant now. Safe for concurrent use.
func (p *Participant) Info() ParticipantInfo {
	return ParticipantInfo{ID: p.id, Name: p.name, AudioMuted: p.audioMuted.Load(),
		VideoMuted: p.videoMuted.Load(), Speaking: p.speaking.Load(), Viewer: p.viewer}
}

// mediaUp reports whether the participant's media flows, so that encoding for it is worth it.
func (p *Participant) mediaUp() bool { return p.t.mediaUp() }

// armNegotiationTimer starts the countdown to Config.NegotiationTimeout for a participant that has just
// joined and whose media is not up yet; mediaConnected stops it.
func (p *Participant) armNegotiationTimer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing || p.mediaUp() {
		return
	}
	d := p.m.cfg.NegotiationTimeout
	p.negTimer = time.AfterFunc(d, func() {
		if p.mediaUp() {
			return
		}
		p.m.stats.refusals.Negotiation.Add(1)
		p.removeAsync(fmt.Errorf("%w: not connected %v after joining", ErrNegotiationTimeout, d))
	})
}

// mediaConnected is called by the transport once, when its media first flows: the participant becomes
// a receiver of the compositor (and of the audio mix), and its first picture is an IDR.
func (p *Participant) mediaConnected() {
	p.mu.Lock()
	if p.negTimer != nil {
		p.negTimer.Stop()
		p.negTimer = nil
	}
	p.mu.Unlock()
	if err := p.applyTier("connected"); err != nil {
		p.removeAsync(err)
	}
}

// SetMuted stops (or resumes) the participant's audio and video going into the room, as if their
// microphone or camera were off: the others hear silence and see a placeholder tile. The others get a
// RosterMuted event if anything changed. Safe for concurrent use.
func (p *Participant) SetMuted(audio, video bool) {
	a := p.audioMuted.Swap(audio) != audio
	v := p.videoMuted.Swap(video) != video
	if !a && !v {
		return
	}
	if v && video && p.r != nil {
		p.r.video.ClearPicture(p.id) // the placeholder instead of the last picture, in the same place
	}
	p.log.Info("mute changed", "audio", audio, "video", video)
	p.r.broadcast(RosterEvent{Type: RosterMuted, Participant: p.Info()})
	p.r.forwardChanged(p)
}

// SetLayout changes how the participant's picture is arranged. Safe for concurrent use.
func (p *Participant) SetLayout(l Layout) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return fmt.Errorf("set layout: %w", ErrClosed)
	}
	p.layout = l
	p.mu.Unlock()
	if err := p.applyTier("layout"); err != nil {
		return fmt.Errorf("set layout %s: %w", l, err)
	}
	return nil
}

// SetCaps sets the participant's own limits on the video it receives (a low-bandwidth option, a
// low-power device); they combine with b=AS / b=TIAS from its SDP, the tightest winning. The participant
// moves at once to the best tier that fits, or to audio only when none does. Safe for concurrent use.
func (p *Participant) SetCaps(c Caps) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return fmt.Errorf("set caps: %w", ErrClosed)
	}
	p.caps = c
	p.mu.Unlock()
	if err := p.applyTier("caps"); err != nil {
		return fmt.Errorf("set caps: %w", err)
	}
	return nil
}

// audioClass is how the participant's audio is encoded: its tier and its reported loss pick the Opus
// bitrate and FEC. Called on the mixer goroutine every tick; cheap.
func (p *Participant) audioClass() audioClass {
	if c := p.t.audioCodec(); c != 0 && c != Opus {
		return audioClass{codec: c}
	}
	return audioClassFor(p.m.cfg, int(p.tier.Load()), p.audioLoss.get())
}

// Tier returns the video tier the participant receives, and false when it receives audio only. Safe for
// concurrent use.
func (p *Participant) Tier() (Tier, bool) {
	i := int(p.tier.Load())
	if i < 0 {
		return Tier{}, false
	}
	return p.m.tiers.tiers[i], true
}

// applyTier puts the participant on the tier its caps allow (its own, its SDP's and the bandwidth
// estimate's, the tightest winning) and, unless it is an output, the server's CPU allows
// (MCU.tierFloor), with its layout: a compositor receiver of that size and rate, or none (audio only).
// reason is logged when the tier changes.
func (p *Participant) applyTier(reason string) error {
	p.tierMu.Lock()
	defer p.tierMu.Unlock()
	p.mu.Lock()
	caps, layout, pin, closing := p.caps.merge(p.sdpCaps).merge(p.estCaps), p.layout, p.pin, p.closing
	p.mu.Unlock()
	if closing || p.r == nil {
		return nil
	}
	i := p.m.tiers.fit(caps)
	if i >= 0 && !p.output {
		// Shedding video for CPU holds receivers some tiers down, never below the lowest (MCU.tierFloor).
		// Not a recording or a live stream: its picture size is fixed for the file or the platform.
		i = min(max(i, int(p.m.tierFloor.Load())), len(p.m.tiers.tiers)-1)
	}
	if old := p.tier.Swap(int32(i)); old != int32(i) {
		p.log.Info("tier changed", "tier", p.tierName(i), "from", p.tierName(int(old)), "max_bitrate", caps.MaxBitrate,
			"reason", reason)
	}
	if i < 0 || !p.mediaUp() || p.t.videoEncoding().none() {
		// Audio only (by tier, or a phone that takes no video, or holds it), or not connected yet: nothing
		// is composed for it.
		p.r.video.RemoveReceiver(p.id)
		return nil
	}
	opts := p.r.receiverOptions(layout, i)
	opts.Pin = pin
	return p.r.video.AddReceiver(p.id, opts)
}

func (p *Participant) tierName(i int) string {
	if i < 0 {
		return "audio-only"
	}
	return p.m.tiers.tiers[i].Name
}

// Leave removes the participant from its room, closes its connection and waits for its goroutines; the
// last Leave of a room closes the room. The others get RosterLeft and the listener OnClosed(nil). It is
// idempotent and safe for concurrent use.
func (p *Participant) Leave() { p.leave(nil) }

func (p *Participant) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// leave does the work of Leave once; other callers wait until it is done.
func (p *Participant) leave(reason error) {
	first := false
	p.leaveOne.Do(func() {
		first = true
		p.mu.Lock()
		p.closing = true
		if p.negTimer != nil {
			p.negTimer.Stop()
		}
		p.mu.Unlock()
		close(p.left)
	})
	if !first {
		<-p.leaveDone
		return
	}
	defer close(p.leaveDone)
	p.stopping.Store(true)
	if p.r == nil {
		p.closeTransport()
		return
	}
	others, empty := p.r.remove(p)
	p.closeTransport()
	p.r.forwardGone(p) // its readers have ended: nothing more is forwarded
	if reason != nil && !errors.Is(reason, ErrClosed) {
		p.log.Warn("participant removed", "err", reason)
	} else {
		p.log.Info("participant left")
	}
	info := p.Info()
	for _, o := range others {
		if !p.hidden {
			o.listener.OnRoster(RosterEvent{Type: RosterLeft, Participant: info})
		}
	}
	p.listener.OnClosed(reason)
	switch {
	case p.output:
		p.r.roomStateChanged()
	case !p.remote: // the server it is connected to reports a remote
		p.m.events.OnParticipantLeft(p.r.name, p.Detail(), reason)
	}
	if empty {
		for _, o := range others { // only outputs and remotes are left: they end with the room
			o.leave(nil)
		}
		p.r.close()
		p.m.events.OnRoomFinished(p.r.name)
	}
}

// discard closes a participant that never became a member of a room (Join failed).
func (p *Participant) discard() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.closeTransport()
}

// closeTransport closes the transport, which ends its goroutines, and waits for them.
func (p *Participant) closeTransport() {
	p.t.close()
	p.wg.Wait()
}

// removeAsync removes the participant from a pion callback or timer, on a goroutine of its own (Leave
// waits for pion's goroutines, so it cannot run on them).
func (p *Participant) removeAsync(reason error) {
	p.mu.Lock()
	if p.closing || p.removing {
		p.mu.Unlock()
		return
	}
	p.removing = true
	p.m.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.m.wg.Done()
		defer p.m.catch(panicCallback, p.log, nil)
		p.leave(reason)
	}()
}

// onKeyframeRequest takes a PLI or FIR from the participant: it is counted, and asks its encoder for an
// IDR (coalesced per Config.KeyframeInterval; the output counts the IDR as forced for the participant).
func (p *Participant) onKeyframeRequest() {
	p.keyframeRequests.Add(1)
	p.kfPending.Store(true)
	p.requestKeyframe(false)
}

// requestKeyframe asks the encoder now feeding the participant for an IDR.
func (p *Participant) requestKeyframe(urgent bool) {
	if o := p.feed.Load(); o != nil {
		o.requestKeyframe(urgent)
	}
}

// writeAudio sends one encoded frame of the participant's mix to its peer.
func (p *Participant) writeAudio(payload []byte) {
	if !p.stopping.Load() && p.t.writeAudio(payload) {
		p.sentBytes.Add(uint64(len(payload)))
	}
}

// videoEncoding returns what the participant's peer receives: the zero value for no video.
func (p *Participant) videoEncoding() videoEncoding { return p.t.videoEncoding() }

// writeVideo sends one encoded picture to the participant's peer.
func (p *Participant) writeVideo(frame []byte, d time.Duration) {
	if !p.stopping.Load() && p.t.writeVideo(frame, d) {
		p.sentBytes.Add(uint64(len(frame)))
	}
}
