package mcu

// The WebRTC transport: a participant on one pion PeerConnection (the page, WHIP, WHEP), its negotiation,
// its outgoing tracks and their RTCP, and the ingest of its incoming tracks.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"golang.org/x/time/rate"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/mcu/internal/assembler"
	"github.com/openmcu/mcu/mcu/internal/nackfilter"
	"github.com/openmcu/mcu/mcu/internal/pionlog"
)

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
	history := m.tiers.nackHistory()
	ir.Add(nackfilter.Factory{Filtered: &m.stats.NACKsFiltered, History: history})
	// The NACK responder keeps only the packets of each outgoing video stream that the filter would let
	// it resend (about a second's), not pion's 1024: their copies were most of the server's Go heap.
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(me, ir, webrtc.WithInterceptorLoggerFactory(lf),
		webrtc.WithNackResponderOptions(nack.ResponderSize(uint16(history)))); err != nil {
		return nil, fmt.Errorf("register interceptors: %w", err)
	}

	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetIncludeLoopbackCandidate(m.cfg.IncludeLoopback)
	// No mDNS, as SFUs run: the server's candidates are addresses, and a client's .local ones are dropped
	// (mdns.go). pion's default (query only) opened four multicast sockets and a reader goroutine per
	// PeerConnection, each parsing every mDNS packet on the LAN.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
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
		m.muxes = append(m.muxes, mux)
		se.SetICEUDPMux(mux)
	case m.cfg.UDPPortMin != 0:
		if err := se.SetEphemeralUDPPortRange(m.cfg.UDPPortMin, m.cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp port range: %w", err)
		}
	}
	if m.cfg.TCPPort != 0 {
		// ICE over TCP (RFC 6544, passive candidates): a client that reaches the server on TCP but not UDP
		// connects without a relay.
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{Port: m.cfg.TCPPort})
		if err != nil {
			return nil, fmt.Errorf("listen on tcp port %d: %w", m.cfg.TCPPort, err)
		}
		mux := webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), ln, 64)
		m.muxes = append(m.muxes, mux)
		se.SetICETCPMux(mux)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
			webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

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

// rtcpReadBuffer holds any RTCP compound packet of one datagram.
const rtcpReadBuffer = 1500

// webrtcTransport is a participant's PeerConnection: it negotiates (HandleOffer), sends the
// participant's mix and picture on two outgoing tracks, reads their RTCP (keyframe requests, audio loss)
// and its incoming tracks (onTrack), and runs its bandwidth estimation. Safe for concurrent use.
type webrtcTransport struct {
	p       *Participant
	pc      *webrtc.PeerConnection
	bwe     cc.BandwidthEstimator // this connection's GCC, nil if none; read by runBWE
	inLimit *rate.Limiter         // polices what the peer sends (Config.MaxInputBitrate), in bytes

	// The outgoing tracks, created by the first offer (which decides the video codec); nil before.
	outAudio  atomic.Pointer[webrtc.TrackLocalStaticSample]
	outVideo  atomic.Pointer[videoTrack]
	codec     atomic.Int32 // codec.VideoCodec of outVideo; 0 before the first offer
	connected atomic.Bool  // the connection reached "connected" once

	data dataChannels // the client's data channels (data.go)

	mu        sync.Mutex
	answered  bool        // an answer was sent: later candidates are trickled
	discTimer *time.Timer // Config.DisconnectTimeout, while disconnected
}

// newParticipant returns a WebRTC participant with its PeerConnection.
func newParticipant(m *MCU, name string, l ParticipantListener) (*Participant, error) {
	p := m.newMember(name, l)
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	burst := m.cfg.MaxInputBitrate / 8
	w := &webrtcTransport{p: p, pc: pc, bwe: m.takeEstimator(pc.ID()), inLimit: rate.NewLimiter(rate.Limit(burst), burst)}
	p.t = w
	pc.OnICECandidate(w.onICECandidate)
	pc.OnConnectionStateChange(w.onConnectionState)
	pc.OnTrack(w.onTrack)
	pc.OnDataChannel(w.onDataChannel)
	return p, nil
}

// webrtcOf returns p's WebRTC transport, or an error for another kind of participant.
func webrtcOf(p *Participant, op string) (*webrtcTransport, error) {
	w, ok := p.t.(*webrtcTransport)
	if !ok {
		return nil, fmt.Errorf("%s: %w", op, errNotWebRTC)
	}
	return w, nil
}

// HandleOffer applies the client's offer (sendrecv, sendonly or recvonly audio and video; also a re-offer
// on the same connection) and returns the server's answer, which carries the candidates gathered within a
// short timeout. The first offer decides the video the participant receives: H.264 when offered, VP8
// otherwise; an offer with video but neither gets ErrNoCodec, one with more than
// Config.MaxMediaSections audio and video sections ErrTooManyTracks. It fails for a plain-RTP
// participant. Safe for concurrent use.
func (p *Participant) HandleOffer(offer string) (string, error) {
	w, err := webrtcOf(p, "handle offer")
	if err != nil {
		return "", err
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosing() {
		return "", fmt.Errorf("handle offer: %w", ErrClosed)
	}
	if err := p.checkSections(offer); err != nil {
		return "", fmt.Errorf("handle offer: %w", err)
	}
	if w.outVideo.Load() == nil {
		if err := w.addTracks(offer); err != nil {
			return "", fmt.Errorf("handle offer: %w", err)
		}
	}
	desc, dropped := withoutMDNSCandidates(offer)
	if dropped > 0 {
		p.log.Debug("mdns candidates dropped", "count", dropped)
	}
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: desc}); err != nil {
		return "", fmt.Errorf("handle offer: set remote description: %w", err)
	}
	answer, err := w.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("handle offer: create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(w.pc)
	if err := w.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("handle offer: set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		p.log.Warn("answering before ice gathering completed", "timeout", gatherTimeout)
	case <-p.left:
		return "", fmt.Errorf("handle offer: %w", ErrClosed)
	}
	w.mu.Lock()
	w.answered = true
	w.mu.Unlock()
	p.mu.Lock()
	p.sdpCaps = sdpCaps(offer)
	p.mu.Unlock()
	if err := p.applyTier("offer"); err != nil {
		return "", fmt.Errorf("handle offer: %w", err)
	}
	local := w.pc.LocalDescription()
	if local == nil {
		return "", fmt.Errorf("handle offer: no local description: %w", ErrClosed)
	}
	p.log.Debug("answered offer")
	return local.SDP, nil
}

// addTracks creates the participant's outgoing audio and video tracks, with the video codec chosen from
// the offer, and starts their RTCP readers and the bandwidth estimation. Called with negMu held, before
// the first offer is applied, so pion pairs the tracks with the offer's audio and video sections.
func (w *webrtcTransport) addTracks(offer string) error {
	p := w.p
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
	video, err := newVideoTrack(vc, vcap, stream)
	if err != nil {
		return err
	}
	audioSender, err := w.pc.AddTrack(audio)
	if err != nil {
		return fmt.Errorf("add audio track: %w", err)
	}
	videoSender, err := w.pc.AddTrack(video.local())
	if err != nil {
		return fmt.Errorf("add video track: %w", err)
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	p.wg.Add(2)
	if w.bwe != nil {
		p.wg.Add(1)
		go p.runBWE(w.bwe)
	}
	p.mu.Unlock()
	go w.readRTCP(audioSender, false)
	go w.readRTCP(videoSender, true)
	w.outAudio.Store(audio)
	w.codec.Store(int32(vc))
	w.outVideo.Store(video)
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
		p.m.stats.refusals.Tracks.Add(1)
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
// yet, so this only serves a signalling layer that makes the server offer. It fails for a plain-RTP
// participant. Safe for concurrent use.
func (p *Participant) HandleAnswer(answer string) error {
	w, err := webrtcOf(p, "handle answer")
	if err != nil {
		return err
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosing() {
		return fmt.Errorf("handle answer: %w", ErrClosed)
	}
	desc, _ := withoutMDNSCandidates(answer)
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: desc}); err != nil {
		return fmt.Errorf("handle answer: %w", err)
	}
	return nil
}

// AddICECandidate adds a candidate trickled by the client; one that names its address by mDNS (.local)
// is ignored (the server learns that address from the client's checks). It fails for a plain-RTP
// participant. Safe for concurrent use.
func (p *Participant) AddICECandidate(c ICECandidate) error {
	w, err := webrtcOf(p, "add ice candidate")
	if err != nil {
		return err
	}
	if p.isClosing() {
		return fmt.Errorf("add ice candidate: %w", ErrClosed)
	}
	if isMDNSCandidate(c.Candidate) {
		return nil // not needed (mdns.go)
	}
	if err := w.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
}

// onConnectionState follows the connection: connected makes the participant a receiver (mediaConnected);
// disconnected for Config.DisconnectTimeout, failed or closed removes it.
func (w *webrtcTransport) onConnectionState(s webrtc.PeerConnectionState) {
	p := w.p
	defer p.m.catch(panicCallback, p.log, p.removeAsync)
	p.log.Debug("connection state", "state", s)
	switch s {
	case webrtc.PeerConnectionStateConnected:
		w.mu.Lock()
		if w.discTimer != nil {
			w.discTimer.Stop()
			w.discTimer = nil
		}
		w.mu.Unlock()
		if !w.connected.Swap(true) {
			p.mediaConnected()
		}
		p.requestKeyframe(true)
	case webrtc.PeerConnectionStateDisconnected:
		if p.isClosing() {
			return
		}
		w.mu.Lock()
		if w.discTimer == nil {
			d := p.m.cfg.DisconnectTimeout
			w.discTimer = time.AfterFunc(d, func() {
				p.removeAsync(fmt.Errorf("connection disconnected for %v", d))
			})
		}
		w.mu.Unlock()
	case webrtc.PeerConnectionStateFailed:
		p.removeAsync(errors.New("connection failed"))
	case webrtc.PeerConnectionStateClosed:
		p.removeAsync(errors.New("connection closed by the peer"))
	}
}

// onICECandidate trickles the candidates gathered after the answer was sent (those before are in it).
func (w *webrtcTransport) onICECandidate(c *webrtc.ICECandidate) {
	p := w.p
	defer p.m.catch(panicCallback, p.log, p.removeAsync)
	if c == nil {
		return
	}
	w.mu.Lock()
	deliver := w.answered
	w.mu.Unlock()
	if !deliver || p.isClosing() {
		return // it is in the answer
	}
	init := c.ToJSON()
	p.listener.OnICECandidate(ICECandidate{Candidate: init.Candidate, SDPMid: init.SDPMid,
		SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment})
}

// readRTCP reads a sender's RTCP (which runs pion's interceptors) and turns PLI and FIR into keyframe
// requests, and receiver reports about the audio into the audio class's loss.
func (w *webrtcTransport) readRTCP(s *webrtc.RTPSender, video bool) {
	p := w.p
	defer p.wg.Done()
	defer p.m.catch(panicRTCP, p.log, p.removeAsync)
	var ssrc uint32
	if enc := s.GetParameters().Encodings; len(enc) > 0 {
		ssrc = uint32(enc[0].SSRC)
	}
	buf := make([]byte, rtcpReadBuffer) // reused: ReadRTCP would allocate one per packet
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue // counted nowhere: pion's interceptors have seen it already
		}
		if video && hasKeyframeRequest(pkts) {
			p.onKeyframeRequest()
		}
		if !video {
			p.audioLoss.observe(pkts, ssrc)
		}
	}
}

// hasKeyframeRequest reports whether pkts hold a PLI or a FIR.
func hasKeyframeRequest(pkts []rtcp.Packet) bool {
	for _, pk := range pkts {
		switch pk.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}

func (w *webrtcTransport) writeAudio(payload []byte) bool {
	return w.write(w.outAudio.Load(), media.Sample{Data: payload, Duration: 20 * time.Millisecond})
}

func (w *webrtcTransport) writeVideo(frame []byte, d time.Duration) bool {
	v := w.outVideo.Load()
	if v == nil {
		return false
	}
	return w.wrote(v.write(frame, d))
}

func (w *webrtcTransport) write(t *webrtc.TrackLocalStaticSample, s media.Sample) bool {
	if t == nil {
		return false
	}
	return w.wrote(t.WriteSample(s))
}

// wrote reports whether a write succeeded, counting an error other than a closed connection's.
func (w *webrtcTransport) wrote(err error) bool {
	if err != nil {
		if !errors.Is(err, io.ErrClosedPipe) {
			w.p.m.stats.WriteErrors.Add(1)
		}
		return false
	}
	return true
}

// videoEncoding is what the outgoing video track carries: H.264 or VP8 (the first offer chose), or
// nothing before it.
func (w *webrtcTransport) videoEncoding() videoEncoding {
	return videoEncoding{codec: codec.VideoCodec(w.codec.Load())}
}

// audioCodec is Opus: 0, the participant's class by tier and loss.
func (w *webrtcTransport) audioCodec() AudioCodec { return 0 }

// mediaUp reports whether the connection has been up: before, encoding for it is wasted.
func (w *webrtcTransport) mediaUp() bool { return w.connected.Load() }

// addStats counts the participant's route (Stats.ParticipantsByRoute) once its connection has a selected
// candidate pair; its traffic is in pion's interceptors, not in Stats.
func (w *webrtcTransport) addStats(s *Stats) {
	if route := w.route(); route != "" {
		s.ParticipantsByRoute[route]++
	}
}

// route is how the client's media reaches the server: "relay" when the client's side of the selected
// candidate pair is a TURN relay, else "udp" or "tcp"; "" before a pair is selected.
//
// It asks nothing before the connection has been connected: pion's GetSelectedCandidatePair reads the
// ICE transport's gatherer without the lock that Start writes it under (a data race -race reported from
// the metrics scraping a participant still negotiating); once connected, Start is long done and
// happened before (the state callback that set connected runs after it).
func (w *webrtcTransport) route() string {
	if !w.connected.Load() {
		return ""
	}
	for _, tr := range w.pc.GetTransceivers() {
		if tr.Receiver() == nil {
			continue
		}
		dtls := tr.Receiver().Transport()
		if dtls == nil {
			continue
		}
		pair, err := dtls.ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil || pair.Remote == nil {
			continue
		}
		switch {
		case pair.Remote.Typ == webrtc.ICECandidateTypeRelay:
			return "relay"
		case pair.Remote.Protocol == webrtc.ICEProtocolTCP:
			return "tcp"
		}
		return "udp"
	}
	return ""
}

// close stops the disconnect timer and closes the connection, which ends the track and RTCP readers and
// the bandwidth estimation (the participant waits for them). It waits, up to closeWait, for pion's own
// goroutines to end too (GracefulClose: also when pion began closing itself, the peer having gone,
// where Close would return at once), so that a participant that left leaves nothing of pion running.
func (w *webrtcTransport) close() {
	w.mu.Lock()
	if w.discTimer != nil {
		w.discTimer.Stop()
	}
	w.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- w.pc.GracefulClose() }()
	select {
	case err := <-done:
		if err != nil {
			w.p.log.Debug("close peer connection", "err", err)
		}
	case <-time.After(closeWait):
		w.p.log.Warn("peer connection still closing: not waiting longer", "after", closeWait)
	}
}

// closeWait bounds how long a leaving WebRTC participant waits for pion to finish closing.
const closeWait = 2 * time.Second

// firstVideo reports whether recv belongs to the first video transceiver of the connection (the first
// video section of the client's offer: its camera).
// The order of the transceivers is not that of the offer: the server's own sendonly video (a WHIP
// publisher's answer has one) comes first, and pion gives a sendonly offer section a transceiver of its
// own, so the section's mid is compared with the offer's.
func (w *webrtcTransport) firstVideo(recv *webrtc.RTPReceiver) bool {
	mid := ""
	for _, tr := range w.pc.GetTransceivers() {
		if tr.Receiver() == recv {
			mid = tr.Mid()
			break
		}
	}
	rd := w.pc.RemoteDescription()
	if rd == nil || mid == "" {
		return true
	}
	// Not rd.Unmarshal: it caches the parse in pion's own description, which pion reads concurrently.
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(rd.SDP); err != nil {
		return true
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "video" {
			first, _ := md.Attribute("mid")
			return first == mid
		}
	}
	return true
}

// onTrack runs on its own pion goroutine for each incoming track and reads it until the connection
// closes: the ingest of a WebRTC participant.
func (w *webrtcTransport) onTrack(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	p := w.p
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	defer p.m.catch(panicIngest, p.log, p.removeAsync)
	if p.viewer {
		p.log.Debug("ignoring a viewer's inbound track", "track", t.ID())
		return // pion drops what nobody reads
	}
	mime := strings.ToLower(t.Codec().MimeType)
	log := p.log.With("track", t.ID(), "ssrc", uint32(t.SSRC()), "codec", mime)
	log.Info("inbound track started")
	defer log.Info("inbound track ended")
	readRTP := func(pkt *rtp.Packet, buf []byte) (time.Time, error) {
		for {
			n, _, err := t.Read(buf)
			if err != nil {
				return time.Time{}, err
			}
			now := time.Now()
			if !w.inLimit.AllowN(now, n) { // over Config.MaxInputBitrate: dropped like a lost packet
				p.m.stats.refusals.InputBitrate.Add(1)
				continue
			}
			return now, pkt.Unmarshal(buf[:n])
		}
	}
	ssrc := uint32(t.SSRC())
	pli := func() error {
		return w.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
	to := p.camera()
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		var ok bool
		if to, ok = p.videoTargetOf(t.StreamID(), w.firstVideo(recv)); !ok {
			log.Info("ignoring a second camera track")
			return
		}
		log = log.With("screen", to.screen)
	}
	switch mime {
	case strings.ToLower(webrtc.MimeTypeOpus):
		dec, err := opus.NewDecoder()
		if err != nil {
			p.log.Error("new opus decoder", "err", err)
			return
		}
		defer dec.Close()
		p.readAudio(readRTP, dec, nil, p.audioTap(Opus))
	case strings.ToLower(webrtc.MimeTypeH264):
		p.readVideo(readRTP, pli, codec.H264, &assembler.H264{}, to)
	case strings.ToLower(webrtc.MimeTypeVP8):
		p.readVideo(readRTP, pli, codec.VP8, &codecs.VP8Packet{}, to)
	default:
		log.Warn("unsupported inbound codec")
	}
}
