package sip_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	sipsig "github.com/openmcu/mcu/signaling/sip"
)

// realHarness is a SIP server on the real MCU (plain-RTP sockets on 127.0.0.1) with RTP timeout
// rtpTimeout.
func realHarness(t *testing.T, rtpTimeout time.Duration) *harness {
	t.Helper()
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height, cfg.FrameRate, cfg.LowerTiers = 320, 180, 15, nil
	cfg.RTPAddress, cfg.RTPTimeout = "127.0.0.1", rtpTimeout
	m, err := mcu.New(cfg, mcu.Params{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	scfg := sipsig.DefaultConfig()
	scfg.Host, scfg.Port = "127.0.0.1", 0
	s, err := sipsig.New(scfg, sipsig.Params{Conference: sipsig.MCUConference(m), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &harness{srv: s, port: s.Port()}
}

// callReal calls room at h with sdp and acknowledges the 200; it returns the dialog and the MCU's audio
// port from the answer.
func (p *phone) callReal(h *harness, room, sdp string) (*sipgo.DialogClientSession, netip.AddrPort) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, room, sdp)
	p.t.Cleanup(func() { dlg.Close() })
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		p.t.Fatalf("call the real MCU: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		p.t.Fatal(err)
	}
	ans := string(dlg.InviteResponse.Body())
	for l := range strings.SplitSeq(ans, "\r\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "m=audio" {
			port, err := strconv.Atoi(f[1])
			if err == nil && port > 0 {
				return dlg, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			}
		}
	}
	p.t.Fatalf("no audio in the answer:\n%s", ans)
	return nil, netip.AddrPort{}
}

// sendRTCP sends an RTCP receiver report from c to the RTCP port of rtpAddr every 200 ms until stop is
// closed; wait for it with the returned WaitGroup.
func sendRTCP(t *testing.T, c *net.UDPConn, rtpAddr netip.AddrPort, stop <-chan struct{}) *sync.WaitGroup {
	t.Helper()
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0x5eed}})
	if err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(rtpAddr.Addr(), rtpAddr.Port()+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = c.WriteToUDPAddrPort(rr, to)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return &wg
}

// udpPair binds an even UDP port and the next on 127.0.0.1 (an RTP/RTCP pair), closed when the test ends.
func udpPair(t *testing.T) (rtpConn, rtcpConn *net.UDPConn) {
	t.Helper()
	lo := net.IPv4(127, 0, 0, 1)
	for range 100 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lo})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 1 {
			c.Close()
			continue
		}
		d, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lo, Port: port + 1})
		if err != nil {
			c.Close()
			continue
		}
		t.Cleanup(func() { c.Close(); d.Close() })
		return c, d
	}
	t.Fatal("no free UDP port pair")
	return nil, nil
}

// TestRealMCURTPTimeout runs the server on the real MCU with a 1 s RTP timeout: a caller that holds the
// call (a=inactive) and sends RTCP, as RFC 3264 wants of a held stream, stays; once it sends neither RTP
// nor RTCP it is hung up with a BYE (Reason 408), counted in Stats.RTPTimeouts.
func TestRealMCURTPTimeout(t *testing.T) {
	h := realHarness(t, time.Second)
	p := h.phone(t, "udp")
	media, _ := udpPair(t)
	dlg, mcuAudio := p.callReal(h, "r", pcmuOnly)
	if ans := string(dlg.InviteResponse.Body()); !strings.Contains(ans, "c=IN IP4 127.0.0.1\r\n") ||
		!strings.Contains(ans, " RTP/AVP 0 101\r\n") {
		t.Errorf("answer of the real MCU:\n%s", ans)
	}
	stop := make(chan struct{})
	wg := sendRTCP(t, media, mcuAudio, stop)
	defer wg.Wait()
	stopOnce := sync.OnceFunc(func() { close(stop) })
	defer stopOnce()
	// On hold, with RTCP: no timeout.
	if res := p.reinvite(dlg, offerSDP("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=inactive")); res.StatusCode != sip.StatusOK {
		t.Fatalf("hold: %d", res.StatusCode)
	}
	select {
	case bye := <-p.byes:
		t.Fatalf("BYE while on hold and sending RTCP: %v", bye)
	case <-time.After(2500 * time.Millisecond):
	}
	// Neither RTP nor RTCP: the MCU gives up after its timeout, and the server says why.
	stopOnce()
	bye := p.expectBye("after the RTP timeout")
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=408") {
		t.Errorf("BYE Reason = %v, want cause=408", r)
	}
	codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 0 })
	if st := h.srv.Stats(); st.RTPTimeouts != 1 {
		t.Errorf("stats %+v, want 1 RTP timeout", st)
	}
}

// TestRealMCURecvonlyThirdParty is the reflection attack of a plain-RTP SIP server: a recvonly call
// whose SDP names someone else's ports (here a local pair) would have the MCU stream the room there for
// as long as the call lasts, and, since the MCU expects nothing back, for ever. The third party gets
// nothing (no RTP, no RTCP), packets from 127.0.0.2 (neither the SDP's nor the signalling's address)
// latch nothing, and the call is hung up after the RTP timeout.
func TestRealMCURecvonlyThirdParty(t *testing.T) {
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2 on the loopback: %v", err)
	}
	defer stranger.Close()
	const timeout = 3 * time.Second
	h := realHarness(t, timeout)
	p := h.phone(t, "udp")
	audio, audioRTCP := udpPair(t)
	video, videoRTCP := udpPair(t)
	port := func(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }
	sdp := offerSDP("m=audio "+strconv.Itoa(port(audio))+" RTP/AVP 0", "a=recvonly",
		"m=video "+strconv.Itoa(port(video))+" RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"a=fmtp:96 profile-level-id=42e01f;packetization-mode=1", "a=recvonly")
	_, mcuAudio := p.callReal(h, "r", sdp)
	answered := time.Now()

	junk, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 99}, Payload: make([]byte, 160)}).Marshal()
	for range 20 {
		_, _ = stranger.WriteToUDPAddrPort(junk, mcuAudio)
	}
	conns := []*net.UDPConn{audio, audioRTCP, video, videoRTCP, stranger}
	counts := make([]int, len(conns))
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(deadline)
			buf := make([]byte, 1<<16)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				counts[i]++
			}
		}()
	}
	wg.Wait()
	for i, name := range []string{"audio RTP", "audio RTCP", "video RTP", "video RTCP", "stranger"} {
		if counts[i] != 0 {
			t.Errorf("the %s port got %d datagrams", name, counts[i])
		}
	}
	bye := p.expectBye("after the RTP timeout")
	if d := time.Since(answered); d < timeout-500*time.Millisecond {
		t.Errorf("hung up %v after the answer, before the RTP timeout %v", d, timeout)
	}
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=408") {
		t.Errorf("BYE Reason = %v, want cause=408", r)
	}
	codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 0 })
}
