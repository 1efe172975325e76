package mcu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"golang.org/x/time/rate"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mixer"
)

// ParticipantID names a participant; it is unique within an MCU. It is the mixer's participant ID.
type ParticipantID = mixer.ParticipantID

// gatherTimeout bounds how long HandleOffer waits for the server's candidates to be gathered into the
// answer; later candidates are trickled through ParticipantListener.OnICECandidate.
const gatherTimeout = 2 * time.Second

// ICECandidate is one ICE candidate, like the browser's RTCIceCandidateInit. It is plain data.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

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
)

// String returns "joined", "left", "speaking" or "muted".
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
	}
	return fmt.Sprintf("RosterEventType(%d)", int(t))
}

// RosterEvent tells a participant about another member of its room.
type RosterEvent struct {
	Type        RosterEventType
	Participant ParticipantInfo
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

// Participant is one member of a room with its PeerConnection. Create it with MCU.Join; remove it with
// Leave. Its methods are safe for concurrent use.
type Participant struct {
	m        *MCU
	r        *room // set by room.addLocked before Join returns
	id       ParticipantID
	name     string
	log      *slog.Logger
	listener ParticipantListener
	viewer   bool // JoinOptions.Viewer; set before the participant is shared
	hidden   bool // JoinOptions.Hidden (viewers only): not in the others' roster

	pc  *webrtc.PeerConnection // nil for a plain-RTP participant
	rtp *rtpPeer               // the plain-RTP transport; nil for a WebRTC participant
	// The outgoing tracks, created by the first offer (which decides the video codec); nil before.
	outAudio   atomic.Pointer[webrtc.TrackLocalStaticSample]
	outVideo   atomic.Pointer[webrtc.TrackLocalStaticSample]
	videoCodec atomic.Int32       // codec.VideoCodec of outVideo; 0 before the first offer
	audioIn    *mixer.AudioSource // set by room.attach before Join returns

	out        atomic.Pointer[output] // the compositor output feeding this participant
	audioMuted atomic.Bool
	videoMuted atomic.Bool
	speaking   atomic.Bool
	stopping   atomic.Bool // no more writes
	connected  atomic.Bool // a WebRTC participant's connection reached "connected" once

	// inLimit polices what the participant sends (Config.MaxInputBitrate), in bytes; shared by its
	// inbound track readers.
	inLimit *rate.Limiter

	negMu sync.Mutex // serialises negotiations

	mu        sync.Mutex
	closing   bool
	removing  bool
	answered  bool
	discTimer *time.Timer
	negTimer  *time.Timer // Config.NegotiationTimeout, from joining until connected
	layout    mixer.Layout
	caps      Caps    // set by SetCaps
	sdpCaps   Caps    // from the last offer's b=AS / b=TIAS
	estCaps   Caps    // from bandwidth estimation (runBWE)
	quality   Quality // kept by runBWE

	audioLoss audioLoss // what the listener reports losing of its audio
	// Keyframes: PLI/FIR received from the participant, and IDRs forced on its encoder at its request
	// (kfPending: a request not served yet).
	keyframeRequests, keyframesForced atomic.Uint64
	kfPending                         atomic.Bool
	framesDecoded                     atomic.Uint64 // incoming video frames given to the decoder

	tierMu sync.Mutex   // serialises applyTier
	tier   atomic.Int32 // index in Config.Tiers of the video received; -1: audio only

	bwe       cc.BandwidthEstimator // this connection's GCC, nil if none; read by runBWE
	sentBytes atomic.Uint64         // audio and video payload written

	wg        sync.WaitGroup // track readers, RTCP readers
	leaveOne  sync.Once
	left      chan struct{} // closed when leaving starts
	leaveDone chan struct{} // closed when leaving is over
}

// newParticipant returns a WebRTC participant with its PeerConnection.
func newParticipant(m *MCU, name string, l ParticipantListener) (*Participant, error) {
	p := m.newMember(name, l)
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	p.pc = pc
	p.bwe = m.takeEstimator(pc.ID())
	burst := m.cfg.MaxInputBitrate / 8
	p.inLimit = rate.NewLimiter(rate.Limit(burst), burst)
	pc.OnICECandidate(p.onICECandidate)
	pc.OnConnectionStateChange(p.onConnectionState)
	pc.OnTrack(p.onTrack)
	return p, nil
}

// newMember returns a participant, not yet in a room, with the next ID and no transport.
func (m *MCU) newMember(name string, l ParticipantListener) *Participant {
	id := ParticipantID(fmt.Sprintf("p%d", m.nextID.Add(1)))
	return &Participant{m: m, id: id, name: name, log: m.log.With("participant", id), listener: l,
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

// mediaUp reports whether the participant's media flows, so that encoding for it is worth it: a WebRTC
// participant once its connection has been up; a plain-RTP one always.
func (p *Participant) mediaUp() bool { return p.pc == nil || p.connected.Load() }

// armNegotiationTimer starts the countdown to Config.NegotiationTimeout for a WebRTC participant that has
// just joined; reaching "connected" stops it.
func (p *Participant) armNegotiationTimer() {
	if p.pc == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing || p.connected.Load() {
		return
	}
	d := p.m.cfg.NegotiationTimeout
	p.negTimer = time.AfterFunc(d, func() {
		if p.connected.Load() {
			return
		}
		p.m.stats.refusedNegotiation.Add(1)
		p.removeAsync(fmt.Errorf("%w: not connected %v after joining", ErrNegotiationTimeout, d))
	})
}

// HandleOffer applies the client's offer (sendrecv, sendonly or recvonly audio and video; also a re-offer
// on the same connection) and returns the server's answer, which carries the candidates gathered within a
// short timeout. The first offer decides the video the participant receives: H.264 when offered, VP8
// otherwise; an offer with video but neither gets ErrNoCodec. Safe for concurrent use.
func (p *Participant) HandleOffer(offer string) (string, error) {
	if p.pc == nil {
		return "", fmt.Errorf("handle offer: %w", errNotWebRTC)
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosing() {
		return "", fmt.Errorf("handle offer: %w", ErrClosed)
	}
	if err := p.checkSections(offer); err != nil {
		return "", fmt.Errorf("handle offer: %w", err)
	}
	if p.outVideo.Load() == nil {
		if err := p.addTracks(offer); err != nil {
			return "", fmt.Errorf("handle offer: %w", err)
		}
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("handle offer: set remote description: %w", err)
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("handle offer: create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("handle offer: set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		p.log.Warn("answering before ice gathering completed", "timeout", gatherTimeout)
	case <-p.left:
		return "", fmt.Errorf("handle offer: %w", ErrClosed)
	}
	p.mu.Lock()
	p.answered = true
	p.sdpCaps = sdpCaps(offer)
	p.mu.Unlock()
	if err := p.applyTier("offer"); err != nil {
		return "", fmt.Errorf("handle offer: %w", err)
	}
	local := p.pc.LocalDescription()
	if local == nil {
		return "", fmt.Errorf("handle offer: no local description: %w", ErrClosed)
	}
	p.log.Debug("answered offer")
	return local.SDP, nil
}

// addTracks creates the participant's outgoing audio and video tracks, with the video codec chosen from
// the offer, and starts their RTCP readers. Called with negMu held, before the first offer is applied, so
// pion pairs the tracks with the offer's audio and video sections.
func (p *Participant) addTracks(offer string) error {
	vc, err := chooseVideoCodec(offer)
	if err != nil {
		return err
	}
	stream := "mcu-" + string(p.id)
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", stream)
	if err != nil {
		return fmt.Errorf("new audio track: %w", err)
	}
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpCB}
	if vc == codec.VP8 {
		vcap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	}
	video, err := webrtc.NewTrackLocalStaticSample(vcap, "video", stream)
	if err != nil {
		return fmt.Errorf("new video track: %w", err)
	}
	audioSender, err := p.pc.AddTrack(audio)
	if err != nil {
		return fmt.Errorf("add audio track: %w", err)
	}
	videoSender, err := p.pc.AddTrack(video)
	if err != nil {
		return fmt.Errorf("add video track: %w", err)
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	p.wg.Add(2)
	if p.bwe != nil {
		p.wg.Add(1)
		go p.runBWE(p.bwe)
	}
	p.mu.Unlock()
	go p.readRTCP(audioSender, false)
	go p.readRTCP(videoSender, true)
	p.outAudio.Store(audio)
	p.videoCodec.Store(int32(vc))
	p.outVideo.Store(video)
	p.requestKeyframe(true)
	return nil
}

// checkSections refuses an offer with more audio and video sections than Config.MaxMediaSections: each
// would be a transceiver, and an inbound track to read.
func (p *Participant) checkSections(offer string) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return fmt.Errorf("parse offer: %w", err)
	}
	n := 0
	for _, md := range sd.MediaDescriptions {
		if k := md.MediaName.Media; k == "audio" || k == "video" {
			n++
		}
	}
	if n > p.m.cfg.MaxMediaSections {
		p.m.stats.refusedTracks.Add(1)
		return fmt.Errorf("%d audio and video sections, at most %d: %w", n, p.m.cfg.MaxMediaSections, ErrTooManyTracks)
	}
	return nil
}

// chooseVideoCodec picks what the participant receives: H.264 when the offer has it, VP8 otherwise. An
// offer without video gets H.264 (its track simply stays unbound). An offer that does not parse is an
// error, so a broken offer never fixes the codec.
func chooseVideoCodec(offer string) (codec.VideoCodec, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return 0, fmt.Errorf("parse offer: %w", err)
	}
	hasVideo, hasH264, hasVP8 := false, false, false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		hasVideo = true
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			v := strings.ToUpper(a.Value)
			hasH264 = hasH264 || strings.Contains(v, " H264/90000")
			hasVP8 = hasVP8 || strings.Contains(v, " VP8/90000")
		}
	}
	switch {
	case hasH264 || !hasVideo:
		return codec.H264, nil
	case hasVP8:
		return codec.VP8, nil
	}
	return 0, fmt.Errorf("video offered without H.264 or VP8: %w", ErrNoCodec)
}

// HandleAnswer applies the client's answer to a server offer. The MCU does not renegotiate on its own
// yet, so this only serves a signalling layer that makes the server offer. Safe for concurrent use.
func (p *Participant) HandleAnswer(answer string) error {
	if p.pc == nil {
		return fmt.Errorf("handle answer: %w", errNotWebRTC)
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosing() {
		return fmt.Errorf("handle answer: %w", ErrClosed)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("handle answer: %w", err)
	}
	return nil
}

// AddICECandidate adds a candidate trickled by the client. Safe for concurrent use.
func (p *Participant) AddICECandidate(c ICECandidate) error {
	if p.pc == nil {
		return fmt.Errorf("add ice candidate: %w", errNotWebRTC)
	}
	if p.isClosing() {
		return fmt.Errorf("add ice candidate: %w", ErrClosed)
	}
	if err := p.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
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
	if p.rtp != nil {
		return p.rtpAudioClass()
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
	return p.m.cfg.Tiers()[i], true
}

// applyTier puts the participant on the tier its caps allow (its own, its SDP's and the bandwidth
// estimate's, the tightest winning), with its layout: a compositor receiver of that size and rate, or
// none (audio only). reason is logged when the tier changes.
func (p *Participant) applyTier(reason string) error {
	p.tierMu.Lock()
	defer p.tierMu.Unlock()
	p.mu.Lock()
	caps, layout, closing := p.caps.merge(p.sdpCaps).merge(p.estCaps), p.layout, p.closing
	p.mu.Unlock()
	if closing || p.r == nil {
		return nil
	}
	i := p.m.cfg.tierFor(caps)
	if old := p.tier.Swap(int32(i)); old != int32(i) {
		p.log.Info("tier changed", "tier", p.tierName(i), "from", p.tierName(int(old)), "max_bitrate", caps.MaxBitrate,
			"reason", reason)
	}
	if i < 0 || !p.mediaUp() {
		p.r.video.RemoveReceiver(p.id) // audio only, or not connected yet
		return nil
	}
	return p.r.video.AddReceiver(p.id, p.r.receiverOptions(layout, i))
}

func (p *Participant) tierName(i int) string {
	if i < 0 {
		return "audio-only"
	}
	return p.m.cfg.Tiers()[i].Name
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
		if p.discTimer != nil {
			p.discTimer.Stop()
		}
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
		p.closePC()
		return
	}
	others, empty := p.r.remove(p)
	p.closePC()
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
	if empty {
		p.r.close()
	}
}

// discard closes a participant that never became a member of a room (Join failed).
func (p *Participant) discard() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.closePC()
}

// closePC closes the connection, which ends the track and RTCP readers, and waits for them.
func (p *Participant) closePC() {
	if p.rtp != nil {
		p.rtp.close()
		r, d, n, u := p.rtp.totals()
		p.m.stats.rtpReceived.Add(r)
		p.m.stats.rtpDropped.Add(d)
		p.m.stats.rtpSent.Add(n)
		p.m.stats.rtpUnsent.Add(u)
	} else if err := p.pc.Close(); err != nil {
		p.log.Debug("close peer connection", "err", err)
	}
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

func (p *Participant) onConnectionState(s webrtc.PeerConnectionState) {
	defer p.m.catch(panicCallback, p.log, p.removeAsync)
	p.log.Debug("connection state", "state", s)
	switch s {
	case webrtc.PeerConnectionStateConnected:
		p.mu.Lock()
		if p.discTimer != nil {
			p.discTimer.Stop()
			p.discTimer = nil
		}
		if p.negTimer != nil {
			p.negTimer.Stop()
			p.negTimer = nil
		}
		p.mu.Unlock()
		if !p.connected.Swap(true) {
			// Now a receiver of the compositor (and of the audio mix): its first picture is an IDR.
			if err := p.applyTier("connected"); err != nil {
				p.removeAsync(err)
				return
			}
		}
		p.requestKeyframe(true)
	case webrtc.PeerConnectionStateDisconnected:
		p.mu.Lock()
		if p.discTimer == nil && !p.closing {
			d := p.m.cfg.DisconnectTimeout
			p.discTimer = time.AfterFunc(d, func() {
				p.removeAsync(fmt.Errorf("connection disconnected for %v", d))
			})
		}
		p.mu.Unlock()
	case webrtc.PeerConnectionStateFailed:
		p.removeAsync(errors.New("connection failed"))
	case webrtc.PeerConnectionStateClosed:
		p.removeAsync(errors.New("connection closed by the peer"))
	}
}

func (p *Participant) onICECandidate(c *webrtc.ICECandidate) {
	defer p.m.catch(panicCallback, p.log, p.removeAsync)
	if c == nil {
		return
	}
	p.mu.Lock()
	deliver := p.answered && !p.closing
	p.mu.Unlock()
	if !deliver {
		return // it is in the answer
	}
	init := c.ToJSON()
	p.listener.OnICECandidate(ICECandidate{Candidate: init.Candidate, SDPMid: init.SDPMid,
		SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment})
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
	if o := p.out.Load(); o != nil {
		o.requestKeyframe(urgent)
	}
}

// readRTCP reads a sender's RTCP (which runs pion's interceptors) and turns PLI and FIR into keyframe
// requests.
func (p *Participant) readRTCP(s *webrtc.RTPSender, video bool) {
	defer p.wg.Done()
	defer p.m.catch(panicRTCP, p.log, p.removeAsync)
	var ssrc uint32
	if enc := s.GetParameters().Encodings; len(enc) > 0 {
		ssrc = uint32(enc[0].SSRC)
	}
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if video && hasKeyframeRequest(pkts) {
			p.onKeyframeRequest()
		}
		if !video {
			p.audioLoss.observe(pkts, ssrc)
		}
	}
}

func (p *Participant) writeAudio(payload []byte) {
	if p.rtp != nil {
		if !p.stopping.Load() {
			p.writeRTPAudio(payload)
		}
		return
	}
	p.write(p.outAudio.Load(), media.Sample{Data: payload, Duration: 20 * time.Millisecond})
}

// wantsVideo returns the codec the participant receives, or 0 before its first offer.
func (p *Participant) wantsVideo() codec.VideoCodec { return codec.VideoCodec(p.videoCodec.Load()) }

func (p *Participant) writeVideo(frame []byte, d time.Duration) {
	if p.rtp != nil {
		if !p.stopping.Load() {
			p.writeRTPVideo(frame, d)
		}
		return
	}
	p.write(p.outVideo.Load(), media.Sample{Data: frame, Duration: d})
}

func (p *Participant) write(t *webrtc.TrackLocalStaticSample, s media.Sample) {
	if t == nil || p.stopping.Load() {
		return
	}
	if err := t.WriteSample(s); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		p.m.stats.writeErrors.Add(1)
		return
	}
	p.sentBytes.Add(uint64(len(s.Data)))
}
