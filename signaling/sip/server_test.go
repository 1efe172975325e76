package sip_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	sipsig "github.com/openmcu/mcu/signaling/sip"
	"github.com/openmcu/mcu/signaling/sip/siptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger shows the server's logs with -v and SIP_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("SIP_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// harness is a SIP server on 127.0.0.1 (UDP and TCP on a free port) in front of a fake conference.
type harness struct {
	conf *siptest.Conference
	srv  *sipsig.Server
	port int
}

func newHarness(t *testing.T, edit func(*sipsig.Config)) *harness {
	t.Helper()
	cfg := sipsig.DefaultConfig()
	cfg.Host, cfg.Port = "127.0.0.1", 0
	cfg.RingTimeout = 5 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	conf := &siptest.Conference{}
	s, err := sipsig.New(cfg, sipsig.Params{Conference: conf, Logger: testLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{conf: conf, srv: s, port: s.Port()}
}

// phone is a SIP user agent built on sipgo for the tests: it calls the server, answers its calls and
// collects the BYEs it gets. It listens on UDP (and TCP) on 127.0.0.1.
type phone struct {
	t         *testing.T
	transport string // "udp" or "tcp"
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	port      int
	byes      chan *sip.Request
	dialogs   *sipgo.DialogServerCache // the calls it answers
	wg        sync.WaitGroup

	mu       sync.Mutex
	onInvite func(req *sip.Request, tx sip.ServerTransaction)
}

// phone starts a phone for calls to h; its cleanup closes h first, so that h's BYEs reach it.
func (h *harness) phone(t *testing.T, transport string) *phone {
	t.Helper()
	p := newPhone(t, transport)
	t.Cleanup(func() { h.srv.Close() })
	return p
}

func newPhone(t *testing.T, transport string) *phone {
	t.Helper()
	quiet := testLogger().With("side", "phone")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testphone"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, transport: transport, ua: ua, byes: make(chan *sip.Request, 8)}
	var udp net.PacketConn
	var tcp net.Listener
	for attempt := 0; tcp == nil; attempt++ { // the same free port for UDP and TCP
		if udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		p.port = udp.LocalAddr().(*net.UDPAddr).Port
		if tcp, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.port)); err != nil {
			udp.Close()
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	opts := []sipgo.ClientOption{sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet)}
	if transport == "udp" {
		opts = append(opts, sipgo.WithClientConnectionAddr(udp.LocalAddr().String()))
	}
	if p.cli, err = sipgo.NewClient(ua, opts...); err != nil {
		t.Fatal(err)
	}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case p.byes <- req:
		default:
		}
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	p.dialogs = sipgo.NewDialogServerCache(p.cli, p.contact())
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { p.dialogs.ReadAck(req, tx) })
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		h := p.onInvite
		p.mu.Unlock()
		if h == nil {
			tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil))
			return
		}
		h(req, tx)
	})
	p.wg.Add(2)
	go func() { defer p.wg.Done(); srv.ServeUDP(udp) }()
	go func() { defer p.wg.Done(); srv.ServeTCP(tcp) }()
	codectest.Eventually(t, 5*time.Second, "the phone listens", func() bool {
		_, err := ua.TransportLayer().GetConnection("udp", udp.LocalAddr().String())
		return err == nil
	})
	t.Cleanup(func() {
		udp.Close()
		tcp.Close()
		ua.Close()
		p.wg.Wait()
	})
	return p
}

func (p *phone) setOnInvite(h func(req *sip.Request, tx sip.ServerTransaction)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onInvite = h
}

func (p *phone) uri(user string) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: p.port}
	if p.transport == "tcp" {
		u.UriParams = sip.HeaderParams{}
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

func (p *phone) contact() sip.ContactHeader {
	return sip.ContactHeader{Address: p.uri("alice")}
}

// invite starts a call to room at h with the given SDP (none if empty) and returns the dialog once the
// INVITE is sent.
func (p *phone) invite(ctx context.Context, h *harness, room, sdp string) *sipgo.DialogClientSession {
	p.t.Helper()
	dlg, err := p.writeInvite(ctx, h, room, sdp)
	if err != nil {
		p.t.Fatalf("INVITE sip:%s: %v", room, err)
	}
	return dlg
}

func (p *phone) writeInvite(ctx context.Context, h *harness, room, sdp string) (*sipgo.DialogClientSession, error) {
	to := sip.Uri{Scheme: "sip", User: room, Host: "127.0.0.1", Port: h.port}
	if p.transport == "tcp" {
		to.UriParams = sip.HeaderParams{}
		to.UriParams.Add("transport", "tcp")
	}
	req := sip.NewRequest(sip.INVITE, to)
	from := &sip.FromHeader{DisplayName: "Alice Liddell", Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1"},
		Params: sip.HeaderParams{}}
	from.Params.Add("tag", sip.GenerateTagN(12))
	req.AppendHeader(from)
	if sdp != "" {
		req.SetBody([]byte(sdp))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	dua := &sipgo.DialogUA{Client: p.cli, ContactHDR: p.contact()}
	return dua.WriteInvite(ctx, req)
}

// call makes a call and acknowledges the answer; it fails the test unless the server answers 200.
func (p *phone) call(h *harness, room, sdp string) (*sipgo.DialogClientSession, *siptest.Call) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, room, sdp)
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		p.t.Fatalf("call sip:%s over %s: %v", room, p.transport, err)
	}
	if err := dlg.Ack(ctx); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	p.t.Cleanup(func() { dlg.Close() })
	select {
	case c := <-h.conf.Joined():
		return dlg, c
	case <-ctx.Done():
		p.t.Fatal("no participant joined")
		return nil, nil
	}
}

// refused makes a call that the server must refuse, and returns the status code.
func (p *phone) refused(h *harness, room, sdp string, auth sipgo.AnswerOptions) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, room, sdp)
	defer dlg.Close()
	err := dlg.WaitAnswer(ctx, auth)
	var de *sipgo.ErrDialogResponse
	if !errors.As(err, &de) {
		p.t.Fatalf("call sip:%s: err = %v, want a refusal", room, err)
	}
	return de.Res.StatusCode
}

// reinvite sends an INVITE in the dialog and acknowledges a 2xx; it returns the final response.
func (p *phone) reinvite(dlg *sipgo.DialogClientSession, sdp string) *sip.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	target := dlg.InviteResponse.Contact().Address
	req := sip.NewRequest(sip.INVITE, target)
	if sdp != "" {
		req.SetBody([]byte(sdp))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	res, err := dlg.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("re-INVITE: %v", err)
	}
	if res.IsSuccess() {
		if err := dlg.WriteAck(ctx, sip.NewRequest(sip.ACK, target)); err != nil {
			p.t.Fatalf("ACK of re-INVITE: %v", err)
		}
	}
	return res
}

// send writes a request outside any dialog and returns the final response.
func (p *phone) send(h *harness, method sip.RequestMethod, user string) *sip.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	to := sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: h.port}
	if p.transport == "tcp" {
		to.UriParams = sip.HeaderParams{}
		to.UriParams.Add("transport", "tcp")
	}
	res, err := p.cli.Do(ctx, sip.NewRequest(method, to))
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	return res
}

func (p *phone) expectBye(what string) *sip.Request {
	p.t.Helper()
	select {
	case bye := <-p.byes:
		return bye
	case <-time.After(5 * time.Second):
		p.t.Fatalf("no BYE %s", what)
		return nil
	}
}

// offerSDP is a phone's offer with the given m= lines, audio from 127.0.0.1:4000.
func offerSDP(lines ...string) string {
	head := []string{"v=0", "o=alice 1 1 IN IP4 127.0.0.1", "s=call", "c=IN IP4 127.0.0.1", "t=0 0"}
	return strings.Join(append(head, lines...), "\r\n") + "\r\n"
}

var pcmuOnly = offerSDP("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-16", "a=sendrecv")

func hasLine(sdp, line string) bool { return strings.Contains(sdp, line+"\r\n") }

func TestCallPCMUAndBye(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			h := newHarness(t, nil)
			p := h.phone(t, transport)
			dlg, call := p.call(h, "r", pcmuOnly)

			ans := string(dlg.InviteResponse.Body())
			for _, want := range []string{"m=audio 40000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "c=IN IP4 127.0.0.1", "a=sendrecv"} {
				if !hasLine(ans, want) {
					t.Errorf("answer lacks %q:\n%s", want, ans)
				}
			}
			if ct := dlg.InviteResponse.ContentType(); ct == nil || ct.Value() != "application/sdp" {
				t.Errorf("answer Content-Type = %v", ct)
			}
			if call.Room != "r" || call.Name != "Alice Liddell" {
				t.Errorf("joined %q as %q, want room r as Alice Liddell", call.Room, call.Name)
			}
			// Over UDP the media starts once the ACK came (its source is then known to be real).
			if a := call.Media()[0].Audio; a == nil || (a.Send || a.Receive) != (transport == "tcp") {
				t.Errorf("over %s joined with audio %+v", transport, a)
			}
			codectest.Eventually(t, 5*time.Second, "the media starts", func() bool { a := call.LastMedia().Audio; return a != nil && a.Send })
			m := call.LastMedia()
			if a := m.Audio; a == nil || a.Codec != mcu.PCMU || a.PayloadType != 0 || a.DTMFPayloadType != 101 ||
				a.Remote.String() != "127.0.0.1:4000" || !a.Send || !a.Receive || m.Video != nil ||
				m.SignalingAddr.String() != "127.0.0.1" {
				t.Errorf("media %+v (audio %+v), want PCMU pt 0, dtmf 101, 127.0.0.1:4000, sendrecv, signalling from 127.0.0.1",
					m, m.Audio)
			}
			if n := len(call.Media()); n != map[string]int{"udp": 2, "tcp": 1}[transport] {
				t.Errorf("over %s the media was set %d times", transport, n)
			}
			if calls := h.srv.Calls(); len(calls) != 1 || calls[0].State != "active" || calls[0].Direction != "inbound" ||
				calls[0].Participant != call.ID() {
				t.Errorf("Calls() = %+v, want one active inbound call of %s", calls, call.ID())
			}

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := dlg.Bye(ctx); err != nil {
				t.Fatalf("BYE: %v", err)
			}
			codectest.Eventually(t, 5*time.Second, "the participant left", call.Left)
			codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 0 })
		})
	}
}

func TestCallG722(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "tcp")
	dlg, call := p.call(h, "room%20one", offerSDP("m=audio 4000 RTP/AVP 9 0 8 101", "a=rtpmap:9 G722/8000",
		"a=rtpmap:101 telephone-event/8000", "m=video 4002 RTP/AVP 96", "b=AS:384", "a=rtpmap:96 H264/90000",
		"a=fmtp:96 profile-level-id=42801f;packetization-mode=0"))
	ans := string(dlg.InviteResponse.Body())
	for _, want := range []string{"m=audio 40000 RTP/AVP 9 101", "a=rtpmap:9 G722/8000", "m=video 40002 RTP/AVP 96",
		"a=fmtp:96 profile-level-id=42801f;packetization-mode=0"} {
		if !hasLine(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	m := call.Media()[0]
	if call.Room != "room one" || m.Audio == nil || m.Audio.Codec != mcu.G722 || m.Video == nil ||
		m.Video.ProfileLevelID != "42801f" || m.Video.PacketizationMode != 0 || m.MaxBitrate != 384000 {
		t.Errorf("joined %q with %+v, want room one, G722 and H.264 mode 0 at 384 kbit/s", call.Room, m)
	}
	if contact := dlg.InviteResponse.Contact(); contact == nil || !strings.Contains(contact.Address.String(), "transport=tcp") {
		t.Errorf("Contact over TCP = %v, want transport=tcp", contact)
	}
}

func TestRefusals(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	if code := p.refused(h, "r", offerSDP("m=audio 4000 RTP/AVP 3 18", "a=rtpmap:18 G729/8000",
		"m=video 4002 RTP/AVP 100", "a=rtpmap:100 VP8/90000"), sipgo.AnswerOptions{}); code != sip.StatusNotAcceptableHere {
		t.Errorf("GSM/G.729/VP8 offer: %d, want 488", code)
	}
	if code := p.refused(h, "r", "this is not SDP", sipgo.AnswerOptions{}); code != sip.StatusBadRequest {
		t.Errorf("garbage SDP: %d, want 400", code)
	}
	if code := p.refused(h, "", pcmuOnly, sipgo.AnswerOptions{}); code != sip.StatusNotFound {
		t.Errorf("no room in the URI: %d, want 404", code)
	}
	h.conf.SetJoinError(mcu.ErrBadName)
	if code := p.refused(h, "r", pcmuOnly, sipgo.AnswerOptions{}); code != sip.StatusNotFound {
		t.Errorf("bad room name: %d, want 404", code)
	}
	h.conf.SetJoinError(mcu.ErrRoomFull)
	if code := p.refused(h, "r", pcmuOnly, sipgo.AnswerOptions{}); code != sip.StatusBusyHere {
		t.Errorf("room full: %d, want 486", code)
	}
	if n := len(h.conf.Calls()); n != 0 {
		t.Errorf("%d participants joined, want none", n)
	}
	if calls := h.srv.Calls(); len(calls) != 0 {
		t.Errorf("Calls() = %+v after refusals", calls)
	}
	// Outside a dialog.
	if res := p.send(h, sip.BYE, "r"); res.StatusCode != sip.StatusCallTransactionDoesNotExists {
		t.Errorf("BYE outside a dialog: %d, want 481", res.StatusCode)
	}
	if res := p.send(h, sip.SUBSCRIBE, "r"); res.StatusCode != sip.StatusMethodNotAllowed || res.GetHeader("Allow") == nil {
		t.Errorf("SUBSCRIBE: %d (Allow %v), want 405 with Allow", res.StatusCode, res.GetHeader("Allow"))
	}
}

func TestOptions(t *testing.T) {
	h := newHarness(t, nil)
	for _, transport := range []string{"udp", "tcp"} {
		p := h.phone(t, transport)
		res := p.send(h, sip.OPTIONS, "r")
		allow, accept := res.GetHeader("Allow"), res.GetHeader("Accept")
		if res.StatusCode != sip.StatusOK || allow == nil || !strings.Contains(allow.Value(), "INVITE") ||
			accept == nil || accept.Value() != "application/sdp" {
			t.Errorf("OPTIONS over %s: %s", transport, res.String())
		}
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	gate := make(chan struct{})
	h.conf.SetGate(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ringCtx, hangUp := context.WithCancel(ctx)
	dlg := p.invite(ctx, h, "r", pcmuOnly)
	defer dlg.Close()
	codectest.Eventually(t, 5*time.Second, "the call rings", func() bool {
		calls := h.srv.Calls()
		return len(calls) == 1 && calls[0].State == "ringing"
	})
	done := make(chan error, 1)
	go func() { done <- dlg.WaitAnswer(ringCtx, sipgo.AnswerOptions{}) }()
	time.Sleep(100 * time.Millisecond) // the 100 Trying has arrived: WaitAnswer may CANCEL
	hangUp()
	if err := recvBounded(t, done, "WaitAnswer to return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitAnswer after CANCEL: %v", err)
	}
	if dlg.InviteResponse == nil || dlg.InviteResponse.StatusCode != sip.StatusRequestTerminated {
		t.Errorf("final response = %v, want 487", dlg.InviteResponse)
	}
	close(gate)
	codectest.Eventually(t, 5*time.Second, "the participant joined and left", func() bool {
		calls := h.conf.Calls()
		return len(calls) == 1 && calls[0].Left()
	})
	codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 0 })
}

func TestReInviteHoldResume(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	dlg, call := p.call(h, "r", pcmuOnly)
	version := func(sdp string) string {
		for l := range strings.SplitSeq(sdp, "\r\n") {
			if f := strings.Fields(l); len(f) == 6 && strings.HasPrefix(l, "o=") {
				return f[2]
			}
		}
		return ""
	}
	steps := []struct {
		name       string
		sdp        string
		send, recv bool
		answerDir  string
	}{
		{"hold sendonly", offerSDP("m=audio 4000 RTP/AVP 0", "a=sendonly"), false, true, "a=recvonly"},
		{"resume", offerSDP("m=audio 4000 RTP/AVP 0", "a=sendrecv"), true, true, "a=sendrecv"},
		{"hold inactive", offerSDP("m=audio 4000 RTP/AVP 0", "a=inactive"), false, false, "a=inactive"},
		{"hold c=0.0.0.0", strings.Replace(offerSDP("m=audio 4000 RTP/AVP 0"), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1), false, true, "a=recvonly"},
		{"codec change to pcma, new port", offerSDP("m=audio 4010 RTP/AVP 8"), true, true, "a=sendrecv"},
	}
	last := version(string(dlg.InviteResponse.Body()))
	codectest.Eventually(t, 5*time.Second, "the media starts after the ACK", func() bool { return len(call.Media()) == 2 })
	const base = 2 // the join and the start after the ACK
	for i, st := range steps {
		res := p.reinvite(dlg, st.sdp)
		if res.StatusCode != sip.StatusOK {
			t.Fatalf("%s: %d", st.name, res.StatusCode)
		}
		media := call.Media()
		if len(media) != base+i+1 {
			t.Fatalf("%s: %d UpdateRTP calls, want %d", st.name, len(media)-1, base+i)
		}
		a := media[base+i].Audio
		if a == nil || a.Send != st.send || a.Receive != st.recv {
			t.Errorf("%s: UpdateRTP audio %+v, want send %v receive %v", st.name, a, st.send, st.recv)
		}
		ans := string(res.Body())
		if !hasLine(ans, st.answerDir) {
			t.Errorf("%s: answer lacks %s:\n%s", st.name, st.answerDir, ans)
		}
		v := version(ans)
		if n, _ := strconv.Atoi(v); n != mustAtoi(last)+1 {
			t.Errorf("%s: o= version %s after %s, want one more", st.name, v, last)
		}
		last = v
	}
	if a := call.Media()[base+len(steps)-1].Audio; a.Codec != mcu.PCMA || a.Remote.Port() != 4010 {
		t.Errorf("codec change: %+v, want PCMA to port 4010", a)
	}
	// A re-INVITE with nothing acceptable keeps the call as it was.
	if res := p.reinvite(dlg, offerSDP("m=audio 4000 RTP/AVP 3")); res.StatusCode != sip.StatusNotAcceptableHere {
		t.Errorf("unacceptable re-INVITE: %d, want 488", res.StatusCode)
	}
	// Without SDP the server offers, and the answer comes in the ACK.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	target := dlg.InviteResponse.Contact().Address
	res, err := dlg.Do(ctx, sip.NewRequest(sip.INVITE, target))
	if err != nil || res.StatusCode != sip.StatusOK || !strings.Contains(string(res.Body()), "m=audio 40000 RTP/AVP 111 9 0 8 101") {
		t.Fatalf("offerless re-INVITE: %v %v", res, err)
	}
	ack := sip.NewRequest(sip.ACK, target)
	ack.SetBody([]byte(offerSDP("m=audio 4020 RTP/AVP 9 101", "a=rtpmap:101 telephone-event/8000")))
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := dlg.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	codectest.Eventually(t, 5*time.Second, "the answer in the ACK is applied", func() bool {
		m := call.Media()
		a := m[len(m)-1].Audio
		return a != nil && a.Codec == mcu.G722 && a.Remote.Port() == 4020 && a.DTMFPayloadType == 101
	})
	if call.Left() {
		t.Error("the participant left during re-INVITEs")
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func TestDelayedOffer(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.DialVideo = false })
	p := h.phone(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, "r", "")
	defer dlg.Close()
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	if offer := string(dlg.InviteResponse.Body()); !hasLine(offer, "m=audio 40000 RTP/AVP 111 9 0 8 101") ||
		strings.Contains(offer, "m=video") {
		t.Fatalf("200 to an INVITE without SDP carries %q, want our audio offer", offer)
	}
	ack := sip.NewRequest(sip.ACK, dlg.InviteResponse.Contact().Address)
	ack.SetBody([]byte(offerSDP("m=audio 4000 RTP/AVP 0")))
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := dlg.WriteAck(ctx, ack); err != nil {
		t.Fatal(err)
	}
	call := recvBounded(t, h.conf.Joined(), "a participant to join")
	codectest.Eventually(t, 5*time.Second, "the answer in the ACK is applied", func() bool {
		m := call.Media()
		return len(m) == 2 && m[1].Audio != nil && m[1].Audio.Codec == mcu.PCMU && m[1].Audio.Send
	})
	if m := call.Media()[0]; m.Audio.Send || m.Audio.Receive {
		t.Errorf("joined with %+v before the answer, want inactive", m.Audio)
	}
}

func TestDigestAuthentication(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) {
		c.Realm = "mcu.test"
		c.Users = map[string]string{"alice": "secret"}
	})
	p := h.phone(t, "udp")
	if code := p.refused(h, "r", pcmuOnly, sipgo.AnswerOptions{}); code != sip.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code := p.refused(h, "r", pcmuOnly, sipgo.AnswerOptions{Username: "alice", Password: "wrong"}); code != sip.StatusForbidden {
		t.Errorf("wrong password: %d, want 403", code)
	}
	if code := p.refused(h, "r", pcmuOnly, sipgo.AnswerOptions{Username: "mallory", Password: "secret"}); code != sip.StatusForbidden {
		t.Errorf("unknown user: %d, want 403", code)
	}
	if n := len(h.conf.Calls()); n != 0 {
		t.Fatalf("%d participants joined without credentials", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, "r", pcmuOnly)
	defer dlg.Close()
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "alice", Password: "secret"}); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if c := recvBounded(t, h.conf.Joined(), "a participant to join"); c.Room != "r" {
		t.Errorf("joined %q", c.Room)
	}
	if res := p.send(h, sip.OPTIONS, "r"); res.StatusCode != sip.StatusOK {
		t.Errorf("OPTIONS with auth on: %d, want 200", res.StatusCode)
	}
}

func TestDTMFToggleMute(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	dlg, call := p.call(h, "r", pcmuOnly)
	dtmf, ok := call.Listener.(mcu.DTMFListener)
	if !ok {
		t.Fatal("the listener is not a DTMFListener")
	}
	muted := func() bool { a, _ := call.Muted(); return a }
	press := func(keys string) {
		for _, k := range keys {
			dtmf.OnDTMF(k)
		}
	}
	press("*6")
	codectest.Eventually(t, 5*time.Second, "*6 mutes", muted)
	press("*6")
	codectest.Eventually(t, 5*time.Second, "*6 again unmutes", func() bool { return !muted() })
	press("*16#6")
	time.Sleep(100 * time.Millisecond)
	if muted() {
		t.Error("*16#6 toggled the mute")
	}
	// The same through SIP INFO (application/dtmf-relay).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, d := range []string{"*", "6"} {
		info := sip.NewRequest(sip.INFO, dlg.InviteResponse.Contact().Address)
		info.SetBody([]byte("Signal=" + d + "\r\nDuration=160\r\n"))
		info.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		if res, err := dlg.Do(ctx, info); err != nil || res.StatusCode != sip.StatusOK {
			t.Fatalf("INFO %s: %v %v", d, res, err)
		}
	}
	codectest.Eventually(t, 5*time.Second, "*6 by SIP INFO mutes", muted)
}

func TestRTPTimeoutSendsBye(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	_, call := p.call(h, "r", pcmuOnly)
	call.Remove(fmt.Errorf("participant p1: %w", mcu.ErrRTPTimeout))
	bye := p.expectBye("after the RTP timeout")
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=408") {
		t.Errorf("BYE Reason = %v, want cause=408", r)
	}
	codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 0 })
}

func TestCloseHangsUp(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "tcp")
	_, call := p.call(h, "r", pcmuOnly)
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	p.expectBye("when the server closes")
	if !call.Left() {
		t.Error("the participant is still in the room after Close")
	}
	if _, err := h.srv.Dial(context.Background(), "sip:bob@127.0.0.1", "r"); !errors.Is(err, sipsig.ErrServerClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
}

func TestGarbage(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	_, call := p.call(h, "r", pcmuOnly)
	addr := "127.0.0.1:" + strconv.Itoa(h.port)
	junk := [][]byte{
		[]byte("hello"),
		{0, 1, 2, 3, 0xff, 0xfe},
		[]byte("INVITE sip:r@127.0.0.1 SIP/2.0\r\n\r\n"),
		[]byte("INVITE sip:r@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCSeq: x INVITE\r\nContent-Length: 99999\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnope\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"),
		[]byte("BYE sip:r@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKy\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:r@c>;tag=2\r\nCall-ID: nope\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"),
		[]byte(strings.Repeat("A", 60000)),
	}
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range junk {
		u.Write(j)
	}
	u.Close()
	for _, j := range junk {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(j)
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	if res := p.send(h, sip.OPTIONS, "r"); res.StatusCode != sip.StatusOK {
		t.Errorf("OPTIONS after garbage: %d", res.StatusCode)
	}
	if call.Left() || len(h.srv.Calls()) != 1 {
		t.Errorf("garbage disturbed the call: left %v, calls %+v", call.Left(), h.srv.Calls())
	}
	h.phone(t, "tcp").call(h, "r", pcmuOnly) // still answering
}

func TestLifecycle(t *testing.T) {
	conf := &siptest.Conference{}
	for _, edit := range []func(*sipsig.Config){
		func(c *sipsig.Config) { c.Port = 70000 },
		func(c *sipsig.Config) { c.Transports = []string{"sctp"} },
		func(c *sipsig.Config) { c.Transports = nil },
		func(c *sipsig.Config) { c.PublicHost = "mcu.example.org" },
		func(c *sipsig.Config) { c.Users = map[string]string{`a"b`: "x"} },
		func(c *sipsig.Config) { c.RingTimeout = 0 },
		func(c *sipsig.Config) { c.Trusted = []string{"10.0.0.0/8", "pbx.example.org"} },
		func(c *sipsig.Config) { c.InviteRate = -1 },
		func(c *sipsig.Config) { c.InviteRate, c.InviteBurst = 5, 0 },
		func(c *sipsig.Config) { c.MaxCalls = -1 },
		func(c *sipsig.Config) { c.MaxCallsPerIP = -1 },
		func(c *sipsig.Config) { c.MaxTCPConnsPerIP = -1 },
		func(c *sipsig.Config) { c.MaxMessageSize = 100 },
		func(c *sipsig.Config) { c.MaxMessageSize = 70000 },
		func(c *sipsig.Config) { c.TCPIdleTimeout = 10 * time.Millisecond },
	} {
		cfg := sipsig.DefaultConfig()
		edit(&cfg)
		if _, err := sipsig.New(cfg, sipsig.Params{Conference: conf}); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
	if _, err := sipsig.New(sipsig.DefaultConfig(), sipsig.Params{}); err == nil {
		t.Error("New without a conference succeeded")
	}
	// Limits turned off, and trusted networks written as CIDRs, IPs and IPv4-mapped IPv6, are valid.
	off := sipsig.DefaultConfig()
	off.InviteRate, off.InviteBurst, off.MaxCalls, off.MaxCallsPerIP, off.MaxTCPConnsPerIP, off.TCPIdleTimeout = 0, 0, 0, 0, 0, 0
	off.Trusted = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120"}
	if err := off.Validate(); err != nil {
		t.Errorf("limits off: %v", err)
	}
	// Close without Start, twice.
	s, err := sipsig.New(sipsig.DefaultConfig(), sipsig.Params{Conference: conf})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, sipsig.ErrServerClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	// Run until cancelled; a second Start fails; UDP only.
	cfg := sipsig.DefaultConfig()
	cfg.Host, cfg.Port, cfg.Transports = "127.0.0.1", 0, []string{"udp"}
	s, err = sipsig.New(cfg, sipsig.Params{Conference: conf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	codectest.Eventually(t, 5*time.Second, "Run starts", func() bool { return s.Port() != 0 })
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	cancel()
	if err := recvBounded(t, done, "Run to return"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// recvBounded receives from ch, failing the test after 10 s instead of hanging.
func recvBounded[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// TestMissingMandatoryHeaders is the regression test for one unauthenticated datagram taking the whole
// process down: an INVITE without To reached onInvite with a nil header. Every request missing, or
// repeating, a header RFC 3261 makes mandatory gets a 400 (or no answer when sipgo cannot even address
// one), the server keeps answering, and a call in progress is not disturbed.
func TestMissingMandatoryHeaders(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	_, call := p.call(h, "r", pcmuOnly)
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	me := u.LocalAddr().String()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}
	headers := map[string]string{
		"Via":     "SIP/2.0/UDP " + me + ";branch=z9hG4bK-%s",
		"From":    "<sip:eve@127.0.0.1>;tag=e1",
		"To":      "<sip:r@127.0.0.1>",
		"Call-ID": "%s@eve",
		"CSeq":    "1 INVITE",
		"Contact": "<sip:eve@" + me + ">",
	}
	order := []string{"Via", "From", "To", "Call-ID", "CSeq", "Contact"}
	cases := []struct {
		name          string
		drop, repeat  string
		set           map[string]string
		method        string
		noAnswerIsOK  bool // sipgo answers (or drops) these before any handler sees them
		wantNotStatus int
	}{
		{name: "invite without To", drop: "To", method: "INVITE"},
		{name: "invite without From", drop: "From", method: "INVITE"},
		{name: "invite without Call-ID", drop: "Call-ID", method: "INVITE", noAnswerIsOK: true},
		{name: "invite without CSeq", drop: "CSeq", method: "INVITE", noAnswerIsOK: true},
		{name: "invite without Via", drop: "Via", method: "INVITE", noAnswerIsOK: true},
		{name: "invite with two To", repeat: "To", method: "INVITE"},
		{name: "invite with two From", repeat: "From", method: "INVITE"},
		{name: "invite without From tag", set: map[string]string{"From": "<sip:eve@127.0.0.1>"}, method: "INVITE"},
		{name: "invite with a BYE CSeq", set: map[string]string{"CSeq": "1 BYE"}, method: "INVITE", noAnswerIsOK: true},
		{name: "bye without To", drop: "To", method: "BYE", set: map[string]string{"CSeq": "1 BYE"}},
		{name: "info without To", drop: "To", method: "INFO", set: map[string]string{"CSeq": "1 INFO"}},
		{name: "options without To", drop: "To", method: "OPTIONS", set: map[string]string{"CSeq": "1 OPTIONS"}},
		{name: "message without To", drop: "To", method: "MESSAGE", set: map[string]string{"CSeq": "1 MESSAGE"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("m%d", i)
			var b strings.Builder
			fmt.Fprintf(&b, "%s sip:r@127.0.0.1 SIP/2.0\r\n", tc.method)
			for _, name := range order {
				if name == tc.drop {
					continue
				}
				v := headers[name]
				if s, ok := tc.set[name]; ok {
					v = s
				}
				if strings.Contains(v, "%s") {
					v = fmt.Sprintf(v, id)
				}
				fmt.Fprintf(&b, "%s: %s\r\n", name, v)
				if name == tc.repeat {
					fmt.Fprintf(&b, "%s: %s;tag=x%s\r\n", name, v, id)
				}
			}
			b.WriteString("Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
			if _, err := u.WriteTo([]byte(b.String()), dst); err != nil {
				t.Fatal(err)
			}
			u.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4096)
			n, _, err := u.ReadFrom(buf)
			if err != nil {
				if !tc.noAnswerIsOK {
					t.Fatalf("no answer: %v", err)
				}
				return
			}
			status := strings.SplitN(string(buf[:n]), "\r\n", 2)[0]
			if !strings.HasPrefix(status, "SIP/2.0 4") {
				t.Errorf("answered %q, want a 4xx", status)
			}
		})
	}
	if res := p.send(h, sip.OPTIONS, "r"); res.StatusCode != sip.StatusOK {
		t.Errorf("OPTIONS afterwards: %d", res.StatusCode)
	}
	if call.Left() || len(h.srv.Calls()) != 1 {
		t.Errorf("the malformed requests disturbed the call: left %v, calls %+v", call.Left(), h.srv.Calls())
	}
	if st := h.srv.Stats(); st.Panics != 0 {
		t.Errorf("handlers panicked %d times", st.Panics)
	}
}
