package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/mcu"
)

// Timing of the server's own requests.
const (
	byeTimeout         = 4 * time.Second // how long a BYE waits for its answer
	shutdownByeTimeout = 2 * time.Second // the same when the server closes
	cancelTimeout      = 2 * time.Second // how long a CANCEL, and then the 487, are waited for
	maxNameRunes       = 64              // a caller's display name is cut to this
)

// hangupReason says who ends a call, which decides what hangup does.
type hangupReason int

const (
	hangupLocal    hangupReason = iota // Hangup, a missing ACK or a failed negotiation: BYE (or CANCEL), leave
	hangupRemote                       // BYE received: leave
	hangupMCU                          // the MCU removed the participant: BYE
	hangupShutdown                     // Close: BYE (or CANCEL), leave
)

func (r hangupReason) String() string {
	return [...]string{"local", "remote", "mcu", "shutdown"}[r]
}

// callState is a session's progress.
type callState int

const (
	stateRinging callState = iota // the INVITE has no final answer yet
	stateActive                   // a 2xx was sent or received
	stateEnding                   // hangup has begun
)

func (st callState) String() string {
	return [...]string{"ringing", "active", "ending"}[st]
}

// party is one end of a dialog: the URI and display name of its From/To header, and its tag.
type party struct {
	name string
	uri  sip.Uri
	tag  string
}

// session is one SIP call, inbound or outbound, and the participant it put in a room. It is the
// participant's listener. Its dialog fields are set before the session is reachable through the
// server's dialog table (and under mu), and only read afterwards.
type session struct {
	s        *Server
	id       string
	outbound bool
	room     string
	name     string // the participant's display name
	peer     string // the remote URI, for Calls
	started  time.Time
	log      *slog.Logger
	done     chan struct{} // closed when hangup begins
	// src is the peer's IP: the source of an inbound INVITE, the address a dial-out was sent to. It is
	// the media's mcu.RTPMedia.SignalingAddr. perIP: the call counts towards Config.MaxCallsPerIP.
	src   netip.Addr
	perIP bool

	muteMu sync.Mutex // serialises *6 toggles
	// mediaMu serialises the call's UpdateRTP calls; mediaGen counts them (under mediaMu).
	mediaMu  sync.Mutex
	mediaGen int

	mu        sync.Mutex
	state     callState
	call      Call
	localRTP  mcu.RTPLocal
	sdp       origin
	callID    string
	local     party
	remote    party
	target    sip.Uri  // where in-dialog requests go (the remote Contact)
	routes    []string // Route header values, in order
	transport string   // "UDP" or "TCP"
	dest      string   // the address in-dialog requests are sent to: the remote's source address
	viaHost   string   // our host in Via and Contact
	localSeq  uint32
	remoteSeq uint32
	reinvite  bool              // a re-INVITE is being handled
	ackSeq    uint32            // the CSeq of the 2xx waiting for its ACK
	ackCh     chan *sip.Request // non-nil while a 2xx waits for its ACK
	ackOffer  bool              // that 2xx carries our offer: its ACK carries the answer
	lastDigit rune
	closeErr  error                   // why the MCU removed the participant
	chat      *chatMember             // the call in its room's chat (chat.go); nil before the answer
	ring      context.CancelCauseFunc // cancels a ringing dial-out
}

func (s *Server) newSession(outbound bool, room, name, peer string, host netip.Addr) *session {
	c := &session{s: s, id: newID(8), outbound: outbound, room: room, name: name, peer: peer,
		started: time.Now(), done: make(chan struct{})}
	c.log = s.log.With("call", c.id, "room", room)
	c.sdp = origin{sessID: uint64(time.Now().UnixNano()) & (1<<62 - 1), version: 0, host: host}
	c.viaHost = uriHost(host)
	return c
}

// uriHost writes an IP for a SIP URI or Via: IPv6 in brackets.
func uriHost(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.Unmap().String()
}

// contactHeader is our Contact for this call.
func (c *session) contactHeader() *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: url.PathEscape(c.room), Host: c.viaHost, Port: c.s.Port()}
	if c.transport == "TCP" {
		u.UriParams = sip.HeaderParams{}
		u.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u}
}

// nextOrigin returns the o= values for the next SDP the MCU sends in this call.
func (c *session) nextOrigin() origin {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sdp.version++
	return c.sdp
}

func (c *session) getState() callState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// OnICECandidate implements mcu.ParticipantListener; plain RTP has no ICE.
func (c *session) OnICECandidate(mcu.ICECandidate) {}

// OnRoster implements mcu.ParticipantListener; a SIP caller has no roster.
func (c *session) OnRoster(mcu.RosterEvent) {}

// OnClosed implements mcu.ParticipantListener: when the MCU removes the participant (RTP timeout, MCU
// closing), the call is hung up with a BYE.
func (c *session) OnClosed(err error) {
	c.mu.Lock()
	if c.state == stateEnding {
		c.mu.Unlock()
		return
	}
	c.closeErr = err
	c.mu.Unlock()
	if errors.Is(err, mcu.ErrRTPTimeout) {
		c.s.rtpTimeouts.Add(1)
	}
	c.log.Info("participant removed by the mcu", "err", err)
	c.s.spawn(func() { c.hangup(hangupMCU) }) // while closing, Close hangs up itself
}

// OnDTMF implements mcu.DTMFListener (and takes SIP INFO digits): *6 toggles the caller's audio mute.
func (c *session) OnDTMF(digit rune) {
	c.mu.Lock()
	toggle := c.lastDigit == '*' && digit == '6'
	if toggle {
		c.lastDigit = 0
	} else {
		c.lastDigit = digit
	}
	call := c.call
	c.mu.Unlock()
	c.log.Debug("dtmf", "digit", string(digit))
	if !toggle || call == nil {
		return
	}
	c.s.spawn(func() {
		c.muteMu.Lock()
		defer c.muteMu.Unlock()
		info := call.Info()
		call.SetMuted(!info.AudioMuted, info.VideoMuted)
		c.log.Info("dtmf mute toggled", "audio_muted", !info.AudioMuted)
	})
}

// hangup ends the call once: it stops a ringing dial-out, takes the participant out of its room (unless
// the MCU did), sends BYE for an established call (unless the other side sent it) and forgets the call.
// The participant leaves first: a BYE to a peer that is gone (or never was: a forged INVITE that got no
// ACK) waits seconds for its answer.
func (c *session) hangup(reason hangupReason) {
	c.mu.Lock()
	if c.state == stateEnding {
		c.mu.Unlock()
		return
	}
	prev := c.state
	c.state = stateEnding
	close(c.done)
	call, ring, closeErr := c.call, c.ring, c.closeErr
	c.mu.Unlock()
	if ring != nil {
		ring(errCallEnded(reason))
	}
	c.leaveChat()
	if call != nil && reason != hangupMCU {
		call.Leave()
	}
	if prev == stateActive && reason != hangupRemote {
		c.sendBye(reason, closeErr)
	}
	c.s.unregister(c)
	c.log.Info("sip call ended", "reason", reason)
}

func errCallEnded(r hangupReason) error {
	if r == hangupShutdown {
		return ErrServerClosed
	}
	return ErrCallEnded
}

// sendBye sends a BYE in the dialog and waits briefly for its answer.
func (c *session) sendBye(reason hangupReason, closeErr error) {
	req := c.request(sip.BYE)
	switch {
	case reason == hangupMCU && errors.Is(closeErr, mcu.ErrRTPTimeout):
		req.AppendHeader(sip.NewHeader("Reason", `SIP;cause=408;text="RTP timeout"`))
	case reason == hangupShutdown || reason == hangupMCU && errors.Is(closeErr, mcu.ErrClosed):
		req.AppendHeader(sip.NewHeader("Reason", `SIP;cause=503;text="Server shutting down"`))
	}
	timeout := byeTimeout
	if reason == hangupShutdown {
		timeout = shutdownByeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := c.s.do(ctx, req)
	switch {
	case err != nil:
		c.log.Debug("sip bye unanswered", "err", err)
	case res.StatusCode >= 300:
		c.log.Debug("sip bye refused", "status", res.StatusCode)
	}
}

// request builds a request in the dialog (BYE) with the next local CSeq.
func (c *session) request(method sip.RequestMethod) *sip.Request {
	c.mu.Lock()
	c.localSeq++
	seq := c.localSeq
	c.mu.Unlock()
	return c.build(method, seq, c.target)
}

// build writes a request of the dialog: Via, From (us), To (them), Call-ID, CSeq, Route.
func (c *session) build(method sip.RequestMethod, seq uint32, target sip.Uri) *sip.Request {
	req := sip.NewRequest(method, target)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: c.transport,
		Host: c.viaHost, Port: c.s.Port(), Params: sip.HeaderParams{}}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	from := &sip.FromHeader{DisplayName: c.local.name, Address: c.local.uri, Params: sip.HeaderParams{}}
	from.Params.Add("tag", c.local.tag)
	to := &sip.ToHeader{DisplayName: c.remote.name, Address: c.remote.uri, Params: sip.HeaderParams{}}
	if c.remote.tag != "" {
		to.Params.Add("tag", c.remote.tag)
	}
	callID := sip.CallIDHeader(c.callID)
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(via)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&maxFwd)
	for _, r := range c.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", c.s.cfg.UserAgent))
	req.SetBody(nil)
	req.SetTransport(c.transport)
	if len(c.routes) > 0 {
		var rt sip.Uri
		var params sip.HeaderParams
		if _, err := sip.ParseAddressValue(c.routes[0], &rt, &params); err == nil {
			req.SetDestination(rt.HostPort())
		}
	} else if c.dest != "" {
		req.SetDestination(c.dest)
	}
	c.s.setLaddr(req)
	return req
}

// setLaddr makes a UDP request leave from the listening socket, so that answers and the peer's own
// requests come back to it (symmetric signalling through NAT).
func (s *Server) setLaddr(req *sip.Request) {
	s.mu.Lock()
	udp := s.udp
	s.mu.Unlock()
	if udp == nil || !strings.EqualFold(req.Transport(), "UDP") {
		return
	}
	ap := sourceAddr(udp.LocalAddr().String())
	if !ap.IsValid() {
		return
	}
	ip := ap.Addr().AsSlice()
	req.Laddr = sip.Addr{IP: ip, Port: int(ap.Port())}
}

// keepHeaders is a sipgo request option that does nothing: given any option, sipgo sends a request as
// built (build sets every header and the body) instead of adding its own Via, From, To and so on.
func keepHeaders(*sipgo.Client, *sip.Request) error { return nil }

// do sends a request and returns its final response.
func (s *Server) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	return (*s.transact.Load())(ctx, req)
}

// clientTransaction sends a request in a sipgo client transaction and returns its final response.
func (s *Server) clientTransaction(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := s.cli.TransactionRequest(ctx, req, keepHeaders)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("transaction ended without answer")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ack passes the ACK of a 2xx to the session waiting for it.
func (c *session) ack(req *sip.Request) {
	cseq := req.CSeq()
	if cseq == nil {
		return
	}
	c.mu.Lock()
	ch, want := c.ackCh, c.ackSeq
	c.mu.Unlock()
	if ch != nil && cseq.SeqNo == want {
		select {
		case ch <- req:
		default: // a retransmitted ACK
		}
	}
}

// respond2xx sends a 2xx to an INVITE and retransmits it until the ACK comes (RFC 3261 13.3.1.4): it
// returns the ACK, or false after 64*T1 (counted in Stats.AckTimeouts), on hangup or when the server
// closes.
func (c *session) respond2xx(tx sip.ServerTransaction, res *sip.Response, seq uint32, withOffer bool) (*sip.Request, bool) {
	ch := make(chan *sip.Request, 1)
	c.mu.Lock()
	c.ackSeq, c.ackCh, c.ackOffer = seq, ch, withOffer
	c.reinvite = false // the INVITE is answered: the next one may come, once this is acknowledged
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.ackCh == ch {
			c.ackCh = nil
		}
		c.mu.Unlock()
	}()
	if err := tx.Respond(res); err != nil {
		c.log.Debug("sip 2xx not sent", "err", err)
		return nil, false
	}
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(time.Duration(c.s.ackTimeout.Load()))
	defer giveUp.Stop()
	for {
		select {
		case ack := <-ch:
			return ack, true
		case <-retransmit.C:
			if err := tx.Respond(res); err != nil {
				if err := c.s.srv.WriteResponse(res); err != nil { // the transaction ended (Timer L)
					c.log.Debug("sip 2xx retransmission failed", "err", err)
				}
			}
			interval = min(2*interval, sip.T2)
			retransmit.Reset(interval)
		case <-giveUp.C:
			c.s.ackTimeouts.Add(1)
			c.log.Info("sip 2xx never acknowledged: hanging up", "waited", time.Duration(c.s.ackTimeout.Load()))
			return nil, false
		case <-c.done:
			return nil, false
		case <-c.s.ctx.Done():
			return nil, false
		}
	}
}

// media returns m for this call: with the peer's signalling address, from which the MCU accepts media.
func (c *session) media(m mcu.RTPMedia) mcu.RTPMedia {
	m.SignalingAddr = c.src
	return m
}

// updateRTP applies a renegotiation to the participant and keeps its local addresses, which it returns.
// With onlyFirst set it changes nothing if another renegotiation came first.
func (c *session) updateRTP(call Call, m mcu.RTPMedia, onlyFirst bool) (mcu.RTPLocal, error) {
	c.mediaMu.Lock()
	defer c.mediaMu.Unlock()
	c.mu.Lock()
	local := c.localRTP
	c.mu.Unlock()
	if onlyFirst && c.mediaGen > 0 {
		return local, nil
	}
	local, err := call.UpdateRTP(c.media(m))
	if err != nil {
		return mcu.RTPLocal{}, err
	}
	c.mediaGen++
	c.mu.Lock()
	c.localRTP = local
	c.mu.Unlock()
	return local, nil
}

// okResponse is a 200 to an INVITE of this call with an SDP body.
func (c *session) okResponse(req *sip.Request, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", body)
	res.AppendHeader(c.contactHeader())
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Allow", c.s.allowed()))
	res.AppendHeader(sip.NewHeader("Server", c.s.cfg.UserAgent))
	return res
}

// joinStatus maps a JoinRTP (or register) error to a SIP final response and the text of its Warning.
func joinStatus(err error) (int, string, string) {
	switch {
	case errors.Is(err, errTooManyFromIP):
		return sip.StatusBusyHere, "Busy Here", "too many calls from your address"
	case errors.Is(err, errTooManyCalls):
		return sip.StatusServiceUnavailable, "Service Unavailable", "too many calls"
	case errors.Is(err, errClosing), errors.Is(err, mcu.ErrClosed):
		return sip.StatusServiceUnavailable, "Service Unavailable", "server shutting down"
	case errors.Is(err, mcu.ErrBadName):
		return sip.StatusNotFound, "Not Found", "bad room or caller name"
	case errors.Is(err, mcu.ErrRoomFull):
		return sip.StatusBusyHere, "Busy Here", "room full"
	case errors.Is(err, mcu.ErrServerFull):
		return sip.StatusServiceUnavailable, "Service Unavailable", "server full"
	case errors.Is(err, mcu.ErrTooManyRooms):
		return sip.StatusServiceUnavailable, "Service Unavailable", "too many rooms"
	case errors.Is(err, mcu.ErrNoCodec):
		return sip.StatusNotAcceptableHere, "Not Acceptable Here", "no usable codec"
	}
	return sip.StatusInternalServerError, "Server Internal Error", "internal error"
}

// refusal answers req with the response joinStatus gives err: a 503 with Retry-After, and a Warning.
func (s *Server) refusal(tx sip.ServerTransaction, req *sip.Request, err error) int {
	code, reason, text := joinStatus(err)
	hdrs := []sip.Header{warning(399, text)}
	if code == sip.StatusServiceUnavailable {
		hdrs = append(hdrs, retryAfter(30*time.Second))
	}
	s.reply(tx, req, code, reason, hdrs...)
	return code
}

// roomOf is the room an INVITE asks for: the user part of its Request-URI, percent-decoded.
func roomOf(u sip.Uri) (string, bool) {
	r, err := url.PathUnescape(u.User)
	if err != nil || r == "" {
		return "", false
	}
	return r, true
}

// callerName is the participant name of a caller: the From display name, else the From user part.
func callerName(from *sip.FromHeader) string {
	name := cleanName(from.DisplayName)
	if name == "" {
		user, err := url.PathUnescape(from.Address.User)
		if err != nil {
			user = from.Address.User
		}
		name = cleanName(user)
	}
	if name == "" {
		name = "SIP caller"
	}
	return name
}

// cleanName drops quotes, control characters and invalid UTF-8, and cuts to maxNameRunes.
func cleanName(s string) string {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"`))
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if n == maxNameRunes {
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// isSDP reports whether a request's body is SDP (a missing Content-Type is taken as SDP).
func isSDP(req *sip.Request) bool {
	ct := req.ContentType()
	if ct == nil {
		return true
	}
	mt, _, _ := strings.Cut(ct.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/sdp")
}

func headerValues(req *sip.Request, name string) []string {
	hs := req.GetHeaders(name)
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Value())
	}
	return out
}

func txDone(tx sip.ServerTransaction) bool {
	select {
	case <-tx.Done():
		return true
	default:
		return false
	}
}

// warning is a Warning header (RFC 3261 20.43) explaining a refusal.
func warning(code int, text string) sip.Header {
	return sip.NewHeader("Warning", fmt.Sprintf(`%d openmcu "%s"`, code, text))
}

// redirected answers a new call whose room another node serves (Params.Route): 302 with that node's
// Contact (RFC 3261 8.1.3.4: the caller's user agent calls it), or 503 when the room cannot be placed
// now. It reports whether it answered.
func (s *Server) redirected(req *sip.Request, tx sip.ServerTransaction, room string) bool {
	if s.route == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	target, err := s.route(ctx, room)
	switch {
	case err != nil:
		s.log.Info("sip call refused: room not placed", "room", room, "err", err)
		s.reply(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "5"),
			warning(399, "the room cannot be placed now"))
		return true
	case target == "":
		return false
	}
	s.redirects.Add(1)
	u := sip.Uri{Scheme: "sip", User: room, Host: target}
	if h, p, err := net.SplitHostPort(target); err == nil {
		u.Host = strings.Trim(h, "[]")
		u.Port, _ = strconv.Atoi(p)
	}
	s.log.Debug("sip call redirected", "room", room, "to", target)
	s.reply(tx, req, sip.StatusMovedTemporarily, "Moved Temporarily", &sip.ContactHeader{Address: u})
	return true
}

// onInvite handles a new call (or passes a re-INVITE on): the rate limit, authentication, the room, the
// SDP offer, the call limits, the join, and the 200 with the answer. Over UDP, whose source address can be
// forged, the participant joins with its media inactive and gets its negotiated directions only once the
// ACK came back: the ACK carries the To tag of our 200, which only the real source has seen.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReInvite(req, tx)
		return
	}
	src := sourceAddr(req.Source())
	trusted := s.isTrusted(src.Addr())
	if !s.admitInvite(req, tx, src, trusted) {
		return
	}
	room, ok := roomOf(req.Recipient)
	if !ok {
		s.reply(tx, req, sip.StatusNotFound, "Not Found", warning(399, "call sip:ROOM@host"))
		return
	}
	if s.redirected(req, tx, room) {
		return
	}
	off, neg, ok := s.readOffer(req, tx)
	if !ok {
		return
	}
	if !s.cfg.AllowNewRooms && !s.conf.RoomExists(room) {
		s.noRoom.Add(1)
		s.log.Debug("sip caller refused: no such room", "room", room, "source", req.Source())
		s.reply(tx, req, sip.StatusNotFound, "Not Found", warning(399, "no such room"))
		return
	}
	c, inv := s.inboundSession(req, room, src, trusted)
	media := offerMedia(s.cfg.DialVideo)
	confirm := false // the negotiated media waits for the ACK
	if neg != nil {
		media = neg.media
		c.log.Debug("sip offer accepted", "audio", neg.audio >= 0, "video", neg.video >= 0, "max_bitrate", media.MaxBitrate)
		if c.transport != "TCP" {
			media, confirm = onHold(media), true
		}
	}
	call, local, ok := s.joinInvite(c, req, inv, tx, media)
	if !ok {
		return
	}
	s.registerDialog(c, dialogKey(c.callID, c.local.tag, c.remote.tag))
	var body []byte
	if neg != nil {
		body = neg.answer(off, local, c.nextOrigin())
	} else {
		body = offer(local, c.nextOrigin()) // no offer in the INVITE: ours goes in the 200, the answer in the ACK
	}
	c.mu.Lock()
	if c.state == stateRinging {
		c.state = stateActive
	}
	c.mu.Unlock()
	c.log.Info("sip call answered", "name", c.name, "participant", call.ID(), "transport", c.transport)
	c.joinChat(string(call.ID()))
	ack, ok := c.respond2xx(tx, c.okResponse(inv, body), req.CSeq().SeqNo, neg == nil)
	if !ok {
		c.hangup(hangupLocal)
		return
	}
	switch {
	case neg == nil:
		c.applyAnswer(ack)
	case confirm:
		if _, err := c.updateRTP(call, neg.media, true); err != nil {
			c.log.Info("sip media not started after the ack", "err", err)
			c.hangup(hangupLocal)
		}
	}
}

// admitInvite applies the per-source INVITE rate (not to trusted networks) and authentication, and
// checks what a dialog needs (From tag, Contact, CSeq, Call-ID); it has answered a refusal when false.
func (s *Server) admitInvite(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, trusted bool) bool {
	if !trusted && s.invites != nil {
		if ok, wait := s.invites.allow(src.Addr(), time.Now()); !ok {
			s.rateLimited.Add(1)
			s.log.Debug("sip invite refused: rate limit", "source", req.Source())
			s.reply(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", retryAfter(wait),
				warning(399, "too many INVITEs from your address"))
			return false
		}
	}
	if !s.authorize(req, tx, trusted) {
		return false
	}
	from, contact, cseq, callID := req.From(), req.Contact(), req.CSeq(), req.CallID()
	fromTag := ""
	if from != nil {
		fromTag, _ = from.Params.Get("tag")
	}
	if from == nil || contact == nil || cseq == nil || callID == nil || fromTag == "" {
		s.reply(tx, req, sip.StatusBadRequest, "Bad Request", warning(399, "missing From tag, Contact, CSeq or Call-ID"))
		return false
	}
	return true
}

// readOffer reads the INVITE's SDP offer, if any, and negotiates it (neg is nil for an INVITE without
// one: the MCU then offers in its 200); it has answered a refusal when ok is false.
func (s *Server) readOffer(req *sip.Request, tx sip.ServerTransaction) (off description, neg *negotiation, ok bool) {
	body := req.Body()
	if len(body) == 0 {
		return off, nil, true
	}
	if !isSDP(req) {
		s.reply(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
		return off, nil, false
	}
	var err error
	if off, err = parseDescription(body); err != nil {
		s.log.Debug("sip bad sdp", "err", err, "source", req.Source())
		s.reply(tx, req, sip.StatusBadRequest, "Bad Request", warning(399, "malformed SDP"))
		return off, nil, false
	}
	if neg, err = negotiate(off); err != nil {
		s.log.Info("sip caller refused: no acceptable media", "source", req.Source())
		s.reply(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", warning(305, "Incompatible media format"))
		return off, nil, false
	}
	return off, neg, true
}

// inboundSession makes the session of a new inbound call, with its dialog fields from the INVITE, and
// the INVITE as it is answered (with our To tag).
func (s *Server) inboundSession(req *sip.Request, room string, src netip.AddrPort, trusted bool) (*session, *sip.Request) {
	from := req.From()
	fromTag, _ := from.Params.Get("tag")
	c := s.newSession(false, room, callerName(from), from.Address.String(), s.localHost(src.Addr()))
	c.callID, c.transport, c.dest = req.CallID().Value(), strings.ToUpper(req.Transport()), req.Source()
	c.src, c.perIP = src.Addr(), !trusted
	c.remote = party{name: from.DisplayName, uri: from.Address, tag: fromTag}
	c.local = party{uri: req.To().Address, name: req.To().DisplayName, tag: newID(8)}
	c.target = req.Contact().Address
	for _, h := range req.GetHeaders("Record-Route") {
		c.routes = append(c.routes, h.Value())
	}
	c.localSeq = uint32(time.Now().Unix()) & 0xffff
	c.remoteSeq = req.CSeq().SeqNo
	inv := req.Clone()
	inv.To().Params.Add("tag", c.local.tag)
	return c, inv
}

// joinInvite registers the call (the call limits), sends 100 Trying and joins the room. It has answered
// and cleaned up when ok is false: a refusal, or a CANCEL, hangup or Close while joining.
func (s *Server) joinInvite(c *session, req, inv *sip.Request, tx sip.ServerTransaction, media mcu.RTPMedia) (Call, mcu.RTPLocal, bool) {
	if err := s.register(c); err != nil {
		code := s.refusal(tx, req, err)
		s.log.Debug("sip caller refused", "err", err, "status", code, "source", req.Source())
		return nil, mcu.RTPLocal{}, false
	}
	s.reply(tx, req, sip.StatusTrying, "Trying")
	call, local, err := s.conf.JoinRTP(c.room, c.name, c, c.media(media))
	if err != nil {
		s.unregister(c)
		code := s.refusal(tx, inv, err)
		c.log.Info("sip join failed", "err", err, "status", code)
		return nil, mcu.RTPLocal{}, false
	}
	c.mu.Lock()
	ending := c.state == stateEnding
	if !ending {
		c.call, c.localRTP = call, local
	}
	c.mu.Unlock()
	if ending || txDone(tx) || s.ctx.Err() != nil { // CANCEL (sipgo answered 487), hangup or Close
		c.hangup(hangupLocal) // leaves if the participant was stored
		call.Leave()          // idempotent; for a hangup begun before the join returned
		if !txDone(tx) {
			s.reply(tx, inv, sip.StatusRequestTerminated, "Request Terminated")
		}
		c.log.Info("sip call cancelled before the answer")
		return nil, mcu.RTPLocal{}, false
	}
	return call, local, true
}

// onHold returns m with every stream on hold: nothing sent, nothing taken into the room.
func onHold(m mcu.RTPMedia) mcu.RTPMedia {
	if m.Audio != nil {
		a := *m.Audio
		a.Send, a.Receive = false, false
		m.Audio = &a
	}
	if m.Video != nil {
		v := *m.Video
		v.Send, v.Receive = false, false
		m.Video = &v
	}
	return m
}

// authorize checks whether a new INVITE may call: a trusted source may; with Config.Users the caller
// must authenticate (401 challenges, 403 refuses bad credentials); without, Config.RequireAuth refuses
// (403) everyone else. It answers a refusal itself.
func (s *Server) authorize(req *sip.Request, tx sip.ServerTransaction, trusted bool) bool {
	switch {
	case trusted:
		return true
	case s.auth != nil:
		result, user := s.auth.check(string(sip.INVITE), headerValues(req, "Authorization"))
		switch result {
		case authMissing, authStale:
			s.reply(tx, req, sip.StatusUnauthorized, "Unauthorized",
				sip.NewHeader("WWW-Authenticate", s.auth.challenge(result == authStale)))
			return false
		case authFailed:
			s.unauthorized.Add(1)
			s.log.Info("sip caller refused: bad credentials", "user", user, "source", req.Source())
			s.reply(tx, req, sip.StatusForbidden, "Forbidden", warning(399, "bad credentials"))
			return false
		}
		return true
	case s.cfg.RequireAuth:
		s.unauthorized.Add(1)
		s.log.Debug("sip caller refused: authentication required and the source is not trusted", "source", req.Source())
		s.reply(tx, req, sip.StatusForbidden, "Forbidden", warning(399, "authentication required: calls only from trusted networks"))
		return false
	}
	return true
}

// applyAnswer takes the SDP answer an ACK carries (to the MCU's offer in a 2xx) to the participant.
func (c *session) applyAnswer(ack *sip.Request) {
	c.mu.Lock()
	call, local := c.call, c.localRTP
	c.mu.Unlock()
	if len(ack.Body()) == 0 {
		c.log.Info("sip ack without the sdp answer")
		c.hangup(hangupLocal)
		return
	}
	media, err := parseAnswer(ack.Body(), local)
	if err == nil {
		_, err = c.updateRTP(call, media, false)
	}
	if err != nil {
		c.log.Info("sip answer in ack not usable", "err", err)
		c.hangup(hangupLocal)
	}
}

// onReInvite handles an INVITE within a call: hold, resume, a codec or address change, or (without SDP)
// a request for the MCU's offer.
func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := s.dialogOf(req)
	if c == nil {
		s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	seq := req.CSeq().SeqNo // sipgo refuses requests without CSeq
	c.mu.Lock()
	switch {
	case c.state != stateActive:
		c.mu.Unlock()
		s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	case c.reinvite || c.ackCh != nil && c.ackOffer:
		c.mu.Unlock()
		s.reply(tx, req, sip.StatusRequestPending, "Request Pending")
		return
	case seq <= c.remoteSeq:
		c.mu.Unlock()
		s.reply(tx, req, sip.StatusInternalServerError, "Server Internal Error", warning(399, "CSeq out of order"))
		return
	}
	if c.ackCh != nil && seq > c.ackSeq {
		// The INVITE overtook the ACK of our last 2xx (messages are handled concurrently, and UDP
		// reorders): the other side has the 2xx, so take it as acknowledged.
		select {
		case c.ackCh <- req:
		default:
		}
	}
	c.reinvite, c.remoteSeq = true, seq
	call, local := c.call, c.localRTP
	c.mu.Unlock()
	refuse := func(code int, reason string, hdrs ...sip.Header) {
		c.mu.Lock()
		c.reinvite = false
		c.mu.Unlock()
		s.reply(tx, req, code, reason, hdrs...)
	}

	var body []byte
	offerless := len(req.Body()) == 0
	if offerless {
		body = offer(local, c.nextOrigin())
	} else {
		if !isSDP(req) {
			refuse(sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
			return
		}
		off, err := parseDescription(req.Body())
		if err != nil {
			refuse(sip.StatusBadRequest, "Bad Request", warning(399, "malformed SDP"))
			return
		}
		neg, err := negotiate(off)
		if err != nil {
			refuse(sip.StatusNotAcceptableHere, "Not Acceptable Here", warning(305, "Incompatible media format"))
			return
		}
		if local, err = c.updateRTP(call, neg.media, false); err != nil {
			code, reason, text := joinStatus(err)
			c.log.Info("sip re-invite not applied", "err", err)
			refuse(code, reason, warning(399, text))
			return
		}
		c.log.Info("sip re-invite applied", "audio", describeAudio(neg.media.Audio), "video", neg.media.Video != nil)
		body = neg.answer(off, local, c.nextOrigin())
	}
	ack, ok := c.respond2xx(tx, c.okResponse(req, body), seq, offerless)
	if !ok {
		if c.getState() != stateEnding {
			c.hangup(hangupLocal)
		}
		return
	}
	if offerless {
		c.applyAnswer(ack)
	}
}

func describeAudio(a *mcu.RTPAudio) string {
	if a == nil {
		return "none"
	}
	return a.Codec.String() + "/" + directionOf(a.Send, a.Receive).String() + "/" + strconv.Itoa(int(a.PayloadType))
}
