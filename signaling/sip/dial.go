package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/mcu"
)

// Errors of Dial and Hangup. Check them with errors.Is.
var (
	// ErrBadURI: the URI to call is not a sip: URI with a host, or asks for a transport not served.
	ErrBadURI = errors.New("sip: bad uri")
	// ErrNoSuchCall: Hangup of an unknown (or already ended) call.
	ErrNoSuchCall = errors.New("sip: no such call")
	// ErrCallEnded: a ringing dial-out was hung up (Hangup) before it was answered.
	ErrCallEnded = errors.New("sip: call ended")
	// ErrNoAnswer: a dial-out rang for Config.RingTimeout without an answer.
	ErrNoAnswer = errors.New("sip: no answer")
	// ErrTooManyCalls: a Dial while Config.MaxCalls calls run.
	ErrTooManyCalls = errors.New("sip: too many calls")
)

// StatusError is returned by Dial when the callee refuses the call with a final SIP response.
type StatusError struct {
	Code   int
	Reason string
}

// Error returns "sip: call refused: CODE REASON".
func (e *StatusError) Error() string {
	return fmt.Sprintf("sip: call refused: %d %s", e.Code, e.Reason)
}

// CallInfo describes one call of the server. It is plain data.
type CallInfo struct {
	ID          string            `json:"id"`
	Direction   string            `json:"direction"` // "inbound" or "outbound"
	Room        string            `json:"room"`
	Name        string            `json:"name"`  // the participant's name in the room
	Peer        string            `json:"peer"`  // the remote SIP URI
	State       string            `json:"state"` // "ringing", "active" or "ending"
	Participant mcu.ParticipantID `json:"participant,omitempty"`
	Started     time.Time         `json:"started"`
}

// Calls lists the server's calls, oldest first.
func (s *Server) Calls() []CallInfo {
	s.mu.Lock()
	calls := make([]*session, 0, len(s.sessions))
	for _, c := range s.sessions {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		info := CallInfo{ID: c.id, Direction: "inbound", Room: c.room, Name: c.name, Peer: c.peer, Started: c.started}
		if c.outbound {
			info.Direction = "outbound"
		}
		c.mu.Lock()
		info.State = c.state.String()
		call := c.call
		c.mu.Unlock()
		if call != nil {
			info.Participant = call.ID()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b CallInfo) int { return a.Started.Compare(b.Started) })
	return out
}

// Hangup ends a call: BYE for an answered one, CANCEL for a ringing dial-out. It returns once the BYE is
// answered (or after a few seconds).
func (s *Server) Hangup(id string) error {
	s.mu.Lock()
	c := s.sessions[id]
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrServerClosed
	}
	if c == nil {
		return ErrNoSuchCall
	}
	c.hangup(hangupLocal)
	return nil
}

// parseDialURI checks a URI to call and returns it with its transport ("UDP" or "TCP").
func (s *Server) parseDialURI(uri string) (sip.Uri, string, error) {
	var u sip.Uri
	if len(uri) > 1024 || strings.ContainsAny(uri, "\r\n\x00") {
		return u, "", fmt.Errorf("%w: %q", ErrBadURI, uri)
	}
	if err := sip.ParseUri(uri, &u); err != nil {
		return u, "", fmt.Errorf("%w %q: %w", ErrBadURI, uri, err)
	}
	if !strings.EqualFold(u.Scheme, "sip") || u.Host == "" || u.Wildcard {
		return u, "", fmt.Errorf("%w %q: want sip:user@host", ErrBadURI, uri)
	}
	transport := "udp"
	if !s.cfg.serves("udp") {
		transport = "tcp"
	}
	if t, ok := u.UriParams.Get("transport"); ok {
		transport = strings.ToLower(t)
	}
	if !s.cfg.serves(transport) {
		return u, "", fmt.Errorf("%w %q: transport %s not served", ErrBadURI, uri, transport)
	}
	return u, strings.ToUpper(transport), nil
}

// Dial calls uri (sip:user@host[:port][;transport=tcp]) into room: it joins a participant for the callee,
// sends an INVITE with the MCU's offer and returns the call's ID once the callee answers. It fails with
// ErrBadURI, the JoinRTP errors (mcu.ErrBadName, mcu.ErrRoomFull…), a *StatusError when the callee
// refuses, ErrNoAnswer after Config.RingTimeout, ErrCallEnded when hung up while ringing, ctx's error,
// or ErrServerClosed. Cancelling ctx while it rings sends a CANCEL.
func (s *Server) Dial(ctx context.Context, uri, room string) (string, error) {
	u, transport, err := s.parseDialURI(uri)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	started, closing := s.started, s.closing
	s.mu.Unlock()
	if closing {
		return "", ErrServerClosed
	}
	if !started {
		return "", errors.New("sip: server not started")
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Host)
		if lerr != nil || len(ips) == 0 {
			return "", fmt.Errorf("sip: resolve %s: %w", u.Host, lerr)
		}
		ip = ips[0]
	}
	ip = ip.Unmap()
	name := cleanName(u.User)
	if unescaped, err := url.PathUnescape(u.User); err == nil {
		name = cleanName(unescaped)
	}
	if name == "" {
		name = cleanName(u.Host)
	}

	c := s.newSession(true, room, name, u.String(), s.localHost(ip))
	c.src = ip
	c.callID = newID(16)
	c.transport = transport
	c.dest = netip.AddrPortFrom(ip, uint16(port)).String()
	c.local = party{name: room, uri: sip.Uri{Scheme: "sip", User: url.PathEscape(room), Host: c.viaHost}, tag: newID(8)}
	to := u
	to.UriParams, to.Headers = nil, nil
	c.remote = party{uri: to}
	c.target = u
	c.localSeq = 1

	ringCtx, ring := context.WithCancelCause(ctx)
	defer ring(nil)
	ringCtx, stopTimer := context.WithTimeoutCause(ringCtx, s.cfg.RingTimeout, ErrNoAnswer)
	defer stopTimer()
	stopClose := context.AfterFunc(s.ctx, func() { ring(ErrServerClosed) })
	defer stopClose()
	c.ring = ring
	switch err := s.register(c); {
	case errors.Is(err, errTooManyCalls):
		return "", ErrTooManyCalls
	case err != nil:
		return "", ErrServerClosed
	}

	call, local, err := s.conf.JoinRTP(room, name, c, c.media(offerMedia(s.cfg.DialVideo)))
	if err != nil {
		s.unregister(c)
		return "", fmt.Errorf("sip: join %s: %w", room, err)
	}
	c.mu.Lock()
	ending := c.state == stateEnding
	if !ending {
		c.call, c.localRTP = call, local
	}
	c.mu.Unlock()
	if ending {
		call.Leave()
		return "", ErrCallEnded
	}
	inv := c.build(sip.INVITE, 1, c.target)
	inv.AppendHeader(c.contactHeader())
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.AppendHeader(sip.NewHeader("Allow", c.s.allowed()))
	inv.SetBody(offer(local, c.nextOrigin()))
	c.log.Info("sip dialing", "uri", u.String(), "transport", transport)

	res, err := s.invite(ringCtx, c, inv)
	if err != nil {
		if ringCtx.Err() != nil {
			err = context.Cause(ringCtx) // ErrNoAnswer, ErrCallEnded, ErrServerClosed or ctx's
		}
		c.hangup(hangupLocal)
		c.log.Info("sip dial failed", "err", err)
		return "", err
	}
	if err := c.established(); err != nil {
		return "", err
	}
	media, err := parseAnswer(res.Body(), local)
	if err == nil {
		_, err = c.updateRTP(call, media, false)
	}
	if err != nil {
		c.log.Info("sip answer not usable", "err", err)
		c.hangup(hangupLocal)
		return "", fmt.Errorf("sip: answer of %s: %w", uri, err)
	}
	c.log.Info("sip call answered", "name", name, "participant", call.ID(), "audio", describeAudio(media.Audio),
		"video", media.Video != nil)
	c.joinChat(string(call.ID()))
	return c.id, nil
}

// invite sends the INVITE and waits for its final response: a 2xx, or an error (*StatusError for a
// refusal). When ctx ends while it rings it sends a CANCEL.
func (s *Server) invite(ctx context.Context, c *session, inv *sip.Request) (*sip.Response, error) {
	tx, err := s.cli.TransactionRequest(ctx, inv, keepHeaders)
	if err != nil {
		return nil, fmt.Errorf("sip: send invite: %w", err)
	}
	provisional := false
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				provisional = provisional || res.StatusCode > 100
				c.log.Debug("sip provisional", "status", res.StatusCode)
			case res.IsSuccess():
				c.ackOn2xx(tx, inv, res)
				return res, nil
			default:
				tx.Terminate()
				return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason}
			}
		case <-tx.Done():
			err := tx.Err()
			if err == nil {
				err = errors.New("invite transaction ended")
			}
			return nil, fmt.Errorf("sip: invite: %w", err)
		case <-ctx.Done():
			s.cancelInvite(c, tx, inv, provisional)
			return nil, ctx.Err()
		}
	}
}

// cancelInvite sends a CANCEL for a ringing INVITE (RFC 3261 9.1) and waits briefly for the 487; a 2xx
// that crosses the CANCEL is acknowledged and hung up with a BYE.
func (s *Server) cancelInvite(c *session, tx sip.ClientTransaction, inv *sip.Request, provisional bool) {
	defer tx.Terminate()
	wait := time.NewTimer(cancelTimeout)
	defer wait.Stop()
	for !provisional { // a CANCEL may only follow a provisional response
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				provisional = true
				continue
			}
			if res.IsSuccess() {
				c.byeAfter2xx(tx, inv, res)
			}
			return
		case <-tx.Done():
			return
		case <-wait.C:
			return
		}
	}
	cancel := sip.NewRequest(sip.CANCEL, inv.Recipient)
	cancel.AppendHeader(sip.HeaderClone(inv.Via()))
	for _, name := range []string{"From", "To", "Call-ID", "Max-Forwards", "Route"} {
		for _, h := range inv.GetHeaders(name) {
			cancel.AppendHeader(sip.HeaderClone(h))
		}
	}
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	cancel.SetBody(nil)
	cancel.SetTransport(inv.Transport())
	cancel.SetDestination(inv.Destination())
	cancel.Laddr = inv.Laddr
	ctx, stop := context.WithTimeout(context.Background(), cancelTimeout)
	defer stop()
	if _, err := s.do(ctx, cancel); err != nil {
		c.log.Debug("sip cancel unanswered", "err", err)
		return
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if res.IsSuccess() {
				c.byeAfter2xx(tx, inv, res)
			}
			return
		case <-tx.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// byeAfter2xx ends a call answered after the MCU gave up on it.
func (c *session) byeAfter2xx(tx sip.ClientTransaction, inv *sip.Request, res *sip.Response) {
	c.ackOn2xx(tx, inv, res)
	c.sendBye(hangupLocal, nil)
}

// setDialog takes the dialog's remote half from the 2xx to our INVITE.
func (c *session) setDialog(inv *sip.Request, res *sip.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if to := res.To(); to != nil {
		c.remote.tag, _ = to.Params.Get("tag")
		c.remote.name = to.DisplayName
	}
	if ct := res.Contact(); ct != nil {
		c.target = ct.Address
	}
	rrs := res.GetHeaders("Record-Route")
	c.routes = c.routes[:0]
	for i := len(rrs) - 1; i >= 0; i-- {
		c.routes = append(c.routes, rrs[i].Value())
	}
	if src := res.Source(); src != "" && c.transport == "UDP" {
		c.dest = src
	}
	c.localSeq = max(c.localSeq, inv.CSeq().SeqNo)
}

// established makes an answered dial-out (its dialog set by ackOn2xx) an active call reachable by its
// dialog.
func (c *session) established() error {
	c.mu.Lock()
	ending := c.state == stateEnding
	if !ending {
		c.state = stateActive
	}
	c.mu.Unlock()
	if ending { // hung up as the 2xx arrived
		c.sendBye(hangupLocal, nil)
		return ErrCallEnded
	}
	c.s.registerDialog(c, dialogKey(c.callID, c.local.tag, c.remote.tag))
	return nil
}

// ackOn2xx acknowledges a 2xx to our INVITE, and its retransmissions.
func (c *session) ackOn2xx(tx sip.ClientTransaction, inv *sip.Request, res *sip.Response) {
	c.setDialog(inv, res)
	ack := c.build(sip.ACK, inv.CSeq().SeqNo, c.target)
	send := func() {
		if err := c.s.cli.WriteRequest(ack.Clone(), keepHeaders); err != nil {
			c.log.Debug("sip ack not sent", "err", err)
		}
	}
	send()
	tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			send()
		}
	})
}
