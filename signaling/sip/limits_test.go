package sip_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/codec/codectest"
	sipsig "github.com/openmcu/mcu/signaling/sip"
)

// final makes a call and returns the server's final response; a 2xx is acknowledged and the call hung
// up when the test ends.
func (p *phone) final(h *harness, room, sdp string) *sip.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, room, sdp)
	err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{})
	var de *sipgo.ErrDialogResponse
	switch {
	case err == nil:
		if err := dlg.Ack(ctx); err != nil {
			p.t.Fatalf("ACK: %v", err)
		}
		p.t.Cleanup(func() { dlg.Close() })
		return dlg.InviteResponse
	case errors.As(err, &de):
		dlg.Close()
		return de.Res
	}
	p.t.Fatalf("call sip:%s: %v", room, err)
	return nil
}

// wantRefusal checks that res is a refusal with code and a Warning containing text.
func wantRefusal(t *testing.T, what string, res *sip.Response, code int, text string) {
	t.Helper()
	w := res.GetHeader("Warning")
	if res.StatusCode != code || w == nil || !strings.Contains(w.Value(), text) {
		t.Errorf("%s: %d %s (Warning %v), want %d with a Warning about %q", what, res.StatusCode, res.Reason, w, code, text)
	}
}

func TestInviteRateLimit(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.InviteRate, c.InviteBurst = 0.01, 2 })
	p := h.phone(t, "udp")
	var codes []int
	for range 4 {
		res := p.final(h, "r", pcmuOnly)
		codes = append(codes, res.StatusCode)
		if res.StatusCode == sip.StatusServiceUnavailable {
			wantRefusal(t, "INVITE over the rate", res, sip.StatusServiceUnavailable, "too many INVITEs")
			if ra := res.GetHeader("Retry-After"); ra == nil || mustAtoi(ra.Value()) < 1 {
				t.Errorf("Retry-After = %v, want whole seconds", ra)
			}
		}
	}
	if fmt.Sprint(codes) != "[200 200 503 503]" {
		t.Errorf("4 INVITEs at once with a burst of 2: %v, want [200 200 503 503]", codes)
	}
	if st := h.srv.Stats(); st.RateLimited != 2 || st.RateLimitSources != 1 {
		t.Errorf("stats %+v, want 2 rate limited from 1 source", st)
	}
	// A trusted source has no rate limit.
	ht := newHarness(t, func(c *sipsig.Config) {
		c.InviteRate, c.InviteBurst = 0.01, 1
		c.Trusted = []string{"127.0.0.0/8"}
	})
	pt := ht.phone(t, "udp")
	for i := range 3 {
		if res := pt.final(ht, "r", pcmuOnly); res.StatusCode != sip.StatusOK {
			t.Errorf("trusted INVITE %d: %d, want 200", i, res.StatusCode)
		}
	}
}

func TestCallLimits(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.MaxCallsPerIP = 2 })
	p := h.phone(t, "udp")
	_, first := p.call(h, "r", pcmuOnly)
	p.call(h, "r", pcmuOnly)
	wantRefusal(t, "a third call from one address", p.final(h, "r", pcmuOnly), sip.StatusBusyHere, "too many calls")
	first.Leave() // the MCU removes it: the server hangs up, and one more may call
	p.expectBye("of the call removed")
	codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 1 })
	if res := p.final(h, "r", pcmuOnly); res.StatusCode != sip.StatusOK {
		t.Errorf("a call after one ended: %d, want 200", res.StatusCode)
	}
	if st := h.srv.Stats(); st.TooManyCallsFromIP != 1 {
		t.Errorf("stats %+v, want 1 refused for its address", st)
	}

	h2 := newHarness(t, func(c *sipsig.Config) {
		c.MaxCalls = 1
		c.Trusted = []string{"127.0.0.1"} // MaxCalls applies to trusted sources too
	})
	p2 := h2.phone(t, "tcp")
	p2.call(h2, "r", pcmuOnly)
	res := p2.final(h2, "r", pcmuOnly)
	wantRefusal(t, "a call beyond MaxCalls", res, sip.StatusServiceUnavailable, "too many calls")
	if res.GetHeader("Retry-After") == nil {
		t.Error("503 for MaxCalls without Retry-After")
	}
	if _, err := h2.srv.Dial(context.Background(), "sip:bob@127.0.0.1:9;transport=tcp", "r"); !errors.Is(err, sipsig.ErrTooManyCalls) {
		t.Errorf("Dial beyond MaxCalls: %v, want ErrTooManyCalls", err)
	}
	if st := h2.srv.Stats(); st.TooManyCalls != 2 {
		t.Errorf("stats %+v, want 2 refused for MaxCalls", st)
	}
}

func TestAllowNewRooms(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.AllowNewRooms = false })
	p := h.phone(t, "udp")
	wantRefusal(t, "a call to a room nobody opened", p.final(h, "r", pcmuOnly), sip.StatusNotFound, "no such room")
	h.conf.OpenRoom("r")
	if res := p.final(h, "r", pcmuOnly); res.StatusCode != sip.StatusOK {
		t.Errorf("a call to an open room: %d, want 200", res.StatusCode)
	}
	if st := h.srv.Stats(); st.NoRoom != 1 {
		t.Errorf("stats %+v, want 1 refused for its room", st)
	}
	if n := len(h.conf.Calls()); n != 1 {
		t.Errorf("%d participants joined, want 1", n)
	}
}

func TestRequireAuth(t *testing.T) {
	// Neither users nor trusted networks: a closed server.
	h := newHarness(t, func(c *sipsig.Config) { c.RequireAuth = true })
	p := h.phone(t, "udp")
	wantRefusal(t, "RequireAuth without users, untrusted", p.final(h, "r", pcmuOnly), sip.StatusForbidden, "authentication required")
	if st := h.srv.Stats(); st.Unauthorized != 1 {
		t.Errorf("stats %+v, want 1 unauthorized", st)
	}
	// Trusted networks: those call, without credentials even when there are users.
	ht := newHarness(t, func(c *sipsig.Config) {
		c.RequireAuth = true
		c.Trusted = []string{"10.0.0.0/8", "127.0.0.1"}
		c.Users = map[string]string{"alice": "secret"}
	})
	pt := ht.phone(t, "udp")
	if res := pt.final(ht, "r", pcmuOnly); res.StatusCode != sip.StatusOK {
		t.Errorf("a trusted source: %d, want 200", res.StatusCode)
	}
	// Users, the source not trusted: digest.
	hu := newHarness(t, func(c *sipsig.Config) {
		c.RequireAuth = true
		c.Trusted = []string{"10.0.0.0/8"}
		c.Users = map[string]string{"alice": "secret"}
	})
	pu := hu.phone(t, "udp")
	if code := pu.refused(hu, "r", pcmuOnly, sipgo.AnswerOptions{}); code != sip.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg := pu.invite(ctx, hu, "r", pcmuOnly)
	defer dlg.Close()
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "alice", Password: "secret"}); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if code := pu.refused(hu, "r", pcmuOnly, sipgo.AnswerOptions{Username: "alice", Password: "wrong"}); code != sip.StatusForbidden {
		t.Errorf("bad credentials: %d, want 403", code)
	}
	if st := hu.srv.Stats(); st.Unauthorized != 1 {
		t.Errorf("stats %+v, want 1 unauthorized", st)
	}
}

// rawTCP opens a TCP connection to the harness, closed when the test ends.
func rawTCP(t *testing.T, h *harness) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(h.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d (c sends nothing meanwhile).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout()) // EOF (nil from Copy) or a reset
}

// options is an OPTIONS request with a body of n bytes; via is the transport and address of its Via.
func options(via, id string, n int) string {
	return "OPTIONS sip:r@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/" + via + ";branch=z9hG4bK-" + id + "\r\n" +
		"From: <sip:eve@127.0.0.1>;tag=e" + id + "\r\nTo: <sip:r@127.0.0.1>\r\nCall-ID: " + id + "@eve\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(n) +
		"\r\n\r\n" + strings.Repeat("x", n)
}

// tcpVia is the Via transport and address of a request sent on c.
func tcpVia(c net.Conn) string { return "TCP " + c.LocalAddr().String() }

// readStatus reads the status line of the next response on c.
func readStatus(t *testing.T, r *bufio.Reader, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	for { // skip the rest of the response
		l, err := r.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
	}
	return strings.TrimSpace(line)
}

func TestOversizedMessages(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	// UDP: a datagram over 16 KiB is dropped without an answer.
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	big := options("UDP "+u.LocalAddr().String(), "u1", 20000)
	if _, err := u.WriteTo([]byte(big), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}); err != nil {
		t.Fatal(err)
	}
	_ = u.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := u.ReadFrom(make([]byte, 4096)); err == nil {
		t.Errorf("a 20 kB datagram was answered (%d bytes)", n)
	}
	codectest.Eventually(t, 5*time.Second, "the datagram is counted", func() bool { return h.srv.Stats().Oversized == 1 })

	// TCP: a message under the limit is answered; one whose Content-Length goes over it ends the
	// connection before its body is sent; so does a header that never ends.
	c := rawTCP(t, h)
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, options(tcpVia(c), "t1", 10000)); err != nil {
		t.Fatal(err)
	}
	if st := readStatus(t, r, c); !strings.HasPrefix(st, "SIP/2.0 200") {
		t.Errorf("10 kB OPTIONS over TCP: %q, want 200", st)
	}
	head, _, _ := strings.Cut(options(tcpVia(c), "t2", 100000), "\r\n\r\n")
	if _, err := io.WriteString(c, head+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(c, 2*time.Second) {
		t.Error("a TCP message announcing 100 kB did not end its connection")
	}
	c2 := rawTCP(t, h)
	if _, err := io.WriteString(c2, "OPTIONS sip:r@127.0.0.1 SIP/2.0\r\nX-Long: "+strings.Repeat("y", 40000)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(c2, 2*time.Second) {
		t.Error("a TCP header of 40 kB did not end its connection")
	}
	if st := h.srv.Stats(); st.Oversized != 3 {
		t.Errorf("stats %+v, want 3 oversized", st)
	}
	if res := p.send(h, sip.OPTIONS, "r"); res.StatusCode != sip.StatusOK {
		t.Errorf("OPTIONS afterwards: %d", res.StatusCode)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.TCPIdleTimeout = time.Second })
	idle, alive := rawTCP(t, h), rawTCP(t, h)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // keep-alive CRLFs every 300 ms
		defer close(done)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(alive, "\r\n"); err != nil {
					return
				}
			}
		}
	}()
	if !closedWithin(idle, 3*time.Second) {
		t.Error("an idle TCP connection stayed open 3 s with a 1 s idle timeout")
	}
	close(stop)
	<-done
	r := bufio.NewReader(alive)
	if _, err := io.WriteString(alive, options(tcpVia(alive), "k1", 0)); err != nil {
		t.Fatalf("the connection with keep-alives was closed: %v", err)
	}
	if st := readStatus(t, r, alive); !strings.HasPrefix(st, "SIP/2.0 200") {
		t.Errorf("OPTIONS on the connection with keep-alives: %q", st)
	}
	alive.Close()
	if st := h.srv.Stats(); st.TCPIdleClosed != 1 {
		t.Errorf("stats %+v, want 1 idle connection closed", st)
	}
	// A call keeps its connection open, however quiet.
	p := h.phone(t, "tcp")
	_, call := p.call(h, "r", pcmuOnly)
	time.Sleep(2500 * time.Millisecond)
	if st := h.srv.Stats(); st.TCPIdleClosed != 1 {
		t.Errorf("stats %+v: the quiet call's connection was closed", st)
	}
	if call.Left() {
		t.Error("the call ended")
	}
}

func TestTCPConnectionsPerIP(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.MaxTCPConnsPerIP = 2 })
	a, b, c := rawTCP(t, h), rawTCP(t, h), rawTCP(t, h)
	if !closedWithin(c, 2*time.Second) {
		t.Error("a third TCP connection from one address stayed open")
	}
	for i, conn := range []net.Conn{a, b} {
		r := bufio.NewReader(conn)
		if _, err := io.WriteString(conn, options(tcpVia(conn), "c"+strconv.Itoa(i), 0)); err != nil {
			t.Fatal(err)
		}
		if st := readStatus(t, r, conn); !strings.HasPrefix(st, "SIP/2.0 200") {
			t.Errorf("connection %d: %q", i, st)
		}
	}
	if st := h.srv.Stats(); st.TCPRefused != 1 {
		t.Errorf("stats %+v, want 1 TCP connection refused", st)
	}
	// Once one closes, another may open.
	a.Close()
	codectest.Eventually(t, 5*time.Second, "a new connection is served", func() bool {
		d := rawTCP(t, h)
		r := bufio.NewReader(d)
		if _, err := io.WriteString(d, options(tcpVia(d), "d"+strconv.FormatInt(time.Now().UnixNano(), 36), 0)); err != nil {
			return false
		}
		_ = d.SetReadDeadline(time.Now().Add(time.Second))
		line, err := r.ReadString('\n')
		d.Close()
		return err == nil && strings.HasPrefix(line, "SIP/2.0 200")
	})
}

func TestAckTimeout(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.SetAckTimeout(time.Second)
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	me := u.LocalAddr().String()
	inv := "INVITE sip:r@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + me + ";branch=z9hG4bK-noack\r\n" +
		"From: <sip:eve@127.0.0.1>;tag=e1\r\nTo: <sip:r@127.0.0.1>\r\nCall-ID: noack@eve\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:eve@" + me + ">\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: " +
		strconv.Itoa(len(pcmuOnly)) + "\r\n\r\n" + pcmuOnly
	if _, err := u.WriteTo([]byte(inv), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: h.port}); err != nil {
		t.Fatal(err)
	}
	call := recvBounded(t, h.conf.Joined(), "a participant to join")
	if a := call.Media()[0].Audio; a == nil || a.Send || a.Receive {
		t.Errorf("joined before the ACK with %+v, want inactive", a)
	}
	codectest.Eventually(t, 5*time.Second, "the unacknowledged call is hung up", call.Left)
	if n := len(call.Media()); n != 1 {
		t.Errorf("the media of an unacknowledged call was started (%d updates)", n-1)
	}
	if st := h.srv.Stats(); st.AckTimeouts != 1 {
		t.Errorf("stats %+v, want 1 ACK timeout", st)
	}
	// The BYE to the silent peer waits for its answer (4 s) before the call is forgotten.
	for deadline := time.Now().Add(10 * time.Second); len(h.srv.Calls()) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the call is still there: %+v", h.srv.Calls())
		}
	}
}
