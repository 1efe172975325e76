package rtpio

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec/codectest"
)

// testLoopbacks returns the addresses the stream tests run on: IPv4 and, where the system has it, IPv6.
func testLoopbacks() []netip.Addr {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
}

// newTestStream opens a stream on addr, on any port pair, closed when the test ends; it skips the test
// if addr cannot be bound (no IPv6).
func newTestStream(t *testing.T, addr netip.Addr) *Stream {
	t.Helper()
	s, err := NewStream(addr, 0, 0)
	if err != nil {
		if addr.Is6() {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatalf("NewStream(%s): %v", addr, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startReader reads s's packets into the returned channel until s closes; the test's cleanup closes s
// and waits for the reader.
func startReader(t *testing.T, s *Stream) <-chan *rtp.Packet {
	t.Helper()
	return startReaderSize(t, s, ReadBufferSize)
}

// startReaderSize is startReader with read buffers of size bytes.
func startReaderSize(t *testing.T, s *Stream, size int) <-chan *rtp.Packet {
	t.Helper()
	ch := make(chan *rtp.Packet, 512)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			buf, pkt := make([]byte, size), &rtp.Packet{}
			if _, err := s.ReadRTP(buf, pkt); err != nil {
				return
			}
			select {
			case ch <- pkt:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ch
}

// nextPacket returns the next packet from ch, failing the test after 2 s.
func nextPacket(t *testing.T, ch <-chan *rtp.Packet) *rtp.Packet {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(2 * time.Second):
		t.Fatal("no packet within 2 s")
		return nil
	}
}

// noPacket fails the test if a packet arrives on ch within d.
func noPacket(t *testing.T, ch <-chan *rtp.Packet, d time.Duration) {
	t.Helper()
	select {
	case p := <-ch:
		t.Fatalf("unexpected packet: seq %d pt %d ssrc %x", p.SequenceNumber, p.PayloadType, p.SSRC)
	case <-time.After(d):
	}
}

// rtpDatagram returns a marshalled RTP packet.
func rtpDatagram(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts,
		SSRC: ssrc}, Payload: payload}).Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// udpSocket returns a plain UDP socket on addr, closed when the test ends.
func udpSocket(t *testing.T, addr netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRTPStreamPortRange(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, r := range [][2]int{{0, 1}, {100, 99}, {1, 70000}, {5001, 5001}, {5001, 5002}} {
		if s, err := NewStream(lo, r[0], r[1]); err == nil {
			s.Close()
			t.Errorf("NewStream(%d..%d) succeeded on %s, want an error", r[0], r[1], s.LocalAddr())
		}
	}
	if _, err := NewStream(netip.Addr{}, 0, 0); err == nil {
		t.Error("NewStream without address succeeded")
	}

	// Two pairs in base+1..base+5 (the first port odd): base+2/3 and base+4/5; a third stream finds none.
	// Another process may hold ports of a range: try a few.
	for attempt := 0; ; attempt++ {
		base := 20000 + 2*rand.IntN(15000)
		var ss []*Stream
		var err error
		for range 2 {
			var s *Stream
			if s, err = NewStream(lo, base+1, base+5); err != nil {
				break
			}
			ss = append(ss, s)
		}
		if err != nil {
			for _, s := range ss {
				s.Close()
			}
			if attempt < 5 {
				continue
			}
			t.Fatalf("two streams in %d..%d: %v", base+1, base+5, err)
		}
		if s, err := NewStream(lo, base+1, base+5); err == nil {
			s.Close()
			t.Errorf("a third stream in %d..%d succeeded on %s", base+1, base+5, s.LocalAddr())
		}
		got := map[uint16]bool{ss[0].LocalAddr().Port(): true, ss[1].LocalAddr().Port(): true}
		if want := map[uint16]bool{uint16(base + 2): true, uint16(base + 4): true}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ports %v, want %v", got, want)
		}
		for _, s := range ss {
			if s.LocalAddr().Addr() != lo {
				t.Errorf("local address %s, want on %s", s.LocalAddr(), lo)
			}
			s.Close()
		}
		break
	}

	// Any port: an even RTP port, RTCP on the next.
	for range 5 {
		s := newTestStream(t, lo)
		p := s.LocalAddr().Port()
		if p%2 != 0 || s.rtcp.LocalAddr().(*net.UDPAddr).Port != int(p)+1 {
			t.Errorf("any port: RTP on %d, RTCP on %s", p, s.rtcp.LocalAddr())
		}
	}
}

func TestRTPStreamBothWays(t *testing.T) {
	for _, addr := range testLoopbacks() {
		t.Run(addr.String(), func(t *testing.T) {
			a, b := newTestStream(t, addr), newTestStream(t, addr)
			a.SetRemote(b.LocalAddr())
			b.SetRemote(a.LocalAddr())
			a.SetPayloadTypes(8000, 0)
			b.SetPayloadTypes(48000, 111)
			fromA, fromB := startReader(t, b), startReader(t, a)
			sa, sb := NewAudioSender(a, 111, 48000), NewAudioSender(b, 0, 8000)
			for i := range 5 {
				sa.Write([]byte{'a', byte(i)})
				sb.Write([]byte{'b', byte(i)})
			}
			for i := range 5 {
				p := nextPacket(t, fromA)
				if p.PayloadType != 111 || p.SSRC != sa.SSRC() || string(p.Payload) != string([]byte{'a', byte(i)}) {
					t.Errorf("b got pt %d ssrc %x payload %q, want pt 111 ssrc %x payload a%d", p.PayloadType, p.SSRC,
						p.Payload, sa.SSRC(), i)
				}
				p = nextPacket(t, fromB)
				if p.PayloadType != 0 || p.SSRC != sb.SSRC() || string(p.Payload) != string([]byte{'b', byte(i)}) {
					t.Errorf("a got pt %d ssrc %x payload %q, want pt 0 ssrc %x payload b%d", p.PayloadType, p.SSRC,
						p.Payload, sb.SSRC(), i)
				}
			}
			for name, s := range map[string]*Stream{"a": a, "b": b} {
				st := s.Stats()
				if st.Received != 5 || st.Sent != 5 || st.SentBytes != 10 || st.DroppedSource+st.DroppedMalformed+st.DroppedPayloadType != 0 {
					t.Errorf("%s: stats %+v, want 5 received, 5 sent, 10 bytes, nothing dropped", name, st)
				}
				if since := time.Since(s.LastReceived()); since < 0 || since > 5*time.Second {
					t.Errorf("%s: last received %v ago", name, since)
				}
			}
		})
	}
}

func TestRTPStreamLatching(t *testing.T) {
	for _, addr := range testLoopbacks() {
		t.Run(addr.String(), func(t *testing.T) {
			a, b := newTestStream(t, addr), newTestStream(t, addr)
			intruder, decoy := udpSocket(t, addr), udpSocket(t, addr)
			decoyAddr := decoy.LocalAddr().(*net.UDPAddr).AddrPort()
			b.SetPayloadTypes(8000, 0, 101)
			if !b.LastReceived().IsZero() {
				t.Error("LastReceived is set before any packet")
			}

			// Before any packet, b sends to the SDP address (the decoy).
			b.SetRemote(decoyAddr)
			sb := NewAudioSender(b, 0, 8000)
			sb.Write([]byte{1})
			_ = decoy.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 1500)
			if _, _, err := decoy.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatalf("the SDP address got nothing: %v", err)
			}

			// Garbage from the intruder: dropped, counted, and not latched to.
			bAddr := b.LocalAddr()
			garbage := [][]byte{
				{1, 2, 3},
				make([]byte, 11),
				append([]byte{0x40}, make([]byte, 20)...),           // version 1
				{0xa0, 0x00, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0xff}, // padding longer than the packet
				rtpDatagram(8, 1, 1, 1, []byte{1}),                  // payload type not allowed
			}
			for _, g := range garbage {
				if _, err := intruder.WriteToUDPAddrPort(g, bAddr); err != nil {
					t.Fatal(err)
				}
			}
			fromB := startReader(t, b)
			codectest.Require(t, 3*time.Second, func() error {
				if st := b.Stats(); st.DroppedMalformed != 4 || st.DroppedPayloadType != 1 {
					return fmt.Errorf("stats %+v, want 4 malformed and 1 payload type dropped", st)
				}
				return nil
			})
			if b.Remote() != decoyAddr {
				t.Errorf("garbage moved the remote to %s", b.Remote())
			}

			// a's first packet latches b to a: b now sends to a, and drops the intruder's packets.
			a.SetRemote(b.LocalAddr())
			sa := NewAudioSender(a, 0, 8000)
			sa.Write([]byte{10})
			if p := nextPacket(t, fromB); p.SSRC != sa.SSRC() {
				t.Fatalf("b got ssrc %x, want a's %x", p.SSRC, sa.SSRC())
			}
			if b.Remote() != a.LocalAddr() {
				t.Errorf("b's remote %s, want a at %s", b.Remote(), a.LocalAddr())
			}
			fromA := startReader(t, a)
			sb.Write([]byte{2})
			if p := nextPacket(t, fromA); p.SSRC != sb.SSRC() {
				t.Errorf("a got ssrc %x, want b's %x", p.SSRC, sb.SSRC())
			}
			for i := range 3 {
				if _, err := intruder.WriteToUDPAddrPort(rtpDatagram(0, uint16(i), 0, 0xbad, []byte{9}), bAddr); err != nil {
					t.Fatal(err)
				}
			}
			codectest.Require(t, 3*time.Second, func() error {
				if st := b.Stats(); st.DroppedSource != 3 {
					return fmt.Errorf("stats %+v, want 3 dropped for their source", st)
				}
				return nil
			})
			for i := range 3 {
				sa.Write([]byte{11 + byte(i)})
			}
			for i := range 3 {
				if p := nextPacket(t, fromB); p.SSRC != sa.SSRC() || p.Payload[0] != 11+byte(i) {
					t.Fatalf("b got ssrc %x payload %v, want a's %x payload %d", p.SSRC, p.Payload, sa.SSRC(), 11+i)
				}
			}
			noPacket(t, fromB, 20*time.Millisecond)
			if st := b.Stats(); st.Received != 4 {
				t.Errorf("b received %d packets, want 4", st.Received)
			}

			// The same SDP address again (a session refresh) keeps the latch; another one re-arms it.
			b.SetRemote(decoyAddr)
			if b.Remote() != a.LocalAddr() {
				t.Errorf("a session refresh moved the remote to %s", b.Remote())
			}
			b.SetRemote(netip.AddrPortFrom(addr, 9))
			if want := netip.AddrPortFrom(addr, 9); b.Remote() != want {
				t.Errorf("remote %s after a new SDP address, want %s", b.Remote(), want)
			}
			b.SetRemote(netip.AddrPortFrom(netip.IPv4Unspecified(), 9))
			if b.Remote().IsValid() {
				t.Errorf("remote %s after hold (c=0.0.0.0), want none", b.Remote())
			}
			before := b.Stats().SendNoRemote
			sb.Write([]byte{3})
			if got := b.Stats().SendNoRemote; got != before+1 {
				t.Errorf("a write without remote counted %d, want %d", got, before+1)
			}
		})
	}
}

// otherIP returns an address of addr's family that is not a loopback: a strict stream given it as its
// SDP address does not accept packets from the loopback.
func otherIP(addr netip.Addr) netip.Addr {
	if addr.Is4() {
		return netip.MustParseAddr("192.0.2.1")
	}
	return netip.MustParseAddr("2001:db8::1")
}

// TestRTPStreamStrict checks the strict stream of a plain-RTP participant: it sends nothing (RTP or RTCP)
// before a packet from the peer was accepted, accepts packets only from the SDP address's IP or the
// signalling's, on any port, latches within them as before, and RTCP alone confirms the peer and keeps
// it alive.
func TestRTPStreamStrict(t *testing.T) {
	for _, addr := range testLoopbacks() {
		t.Run(addr.String(), func(t *testing.T) {
			peer, b := newTestStream(t, addr), newTestStream(t, addr) // peer: a phone, which is not strict
			b.SetStrict()
			b.SetPayloadTypes(8000, 0)
			b.SetReportInterval(20 * time.Millisecond)
			b.Start(nil)
			decoy := udpSocket(t, addr)
			decoyAddr := decoy.LocalAddr().(*net.UDPAddr).AddrPort()
			peerRTCP := netip.AddrPortFrom(peer.LocalAddr().Addr(), peer.LocalAddr().Port()+1)

			// The SDP names the decoy, but nothing came from there: b sends it nothing, RTP or RTCP.
			b.SetRemote(decoyAddr)
			sb := NewAudioSender(b, 0, 8000)
			for i := range 3 {
				sb.Write([]byte{byte(i)})
			}
			if err := b.SendPLI(1); !errors.Is(err, errNoRemote) {
				t.Errorf("SendPLI before any packet: %v, want errNoRemote", err)
			}
			if r := b.Remote(); r.IsValid() {
				t.Errorf("remote %s before any packet, want none", r)
			}
			if st := b.Stats(); st.SendNoRemote != 3 || st.Sent != 0 || st.RTCPSent != 0 {
				t.Errorf("stats %+v, want 3 packets not sent and nothing sent", st)
			}
			_ = decoy.SetReadDeadline(time.Now().Add(300 * time.Millisecond)) // past several RTCP report ticks
			if n, from, err := decoy.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
				t.Fatalf("the SDP address got %d bytes from %s before the peer sent anything", n, from)
			}
			if st := b.Stats(); st.RTCPSent != 0 {
				t.Errorf("%d RTCP reports sent before the peer sent anything", st.RTCPSent)
			}

			// Packets from an IP that is neither the SDP address's nor the signalling's: dropped, no latch.
			b.SetRemote(netip.AddrPortFrom(otherIP(addr), 4000))
			fromB := startReader(t, b)
			peer.SetRemote(b.LocalAddr())
			sp := NewAudioSender(peer, 0, 8000)
			for range 3 {
				sp.Write([]byte{7})
			}
			if err := peer.sendRTCP(nil); err != nil {
				t.Fatal(err)
			}
			codectest.Require(t, 3*time.Second, func() error {
				if st := b.Stats(); st.DroppedSource != 3 || st.RTCPDropped != 1 || st.Received != 0 || st.RTCPReceived != 0 {
					return fmt.Errorf("stats %+v, want 3 RTP and 1 RTCP dropped for their source, none received", st)
				}
				return nil
			})
			noPacket(t, fromB, 20*time.Millisecond)
			if r := b.Remote(); r.IsValid() {
				t.Errorf("packets from a source not allowed latched b to %s", r)
			}
			if !b.LastReceived().IsZero() || !b.LastRTCPReceived().IsZero() {
				t.Error("packets not allowed count as life")
			}

			// The signalling IP is allowed on any port: the peer's RTP latches b, which answers it there.
			b.SetSignalingAddr(addr)
			sp.Write([]byte{8})
			if p := nextPacket(t, fromB); p.SSRC != sp.SSRC() {
				t.Fatalf("b got ssrc %x, want the peer's %x", p.SSRC, sp.SSRC())
			}
			if r := b.Remote(); r != peer.LocalAddr() {
				t.Errorf("b's remote %s, want the peer at %s", r, peer.LocalAddr())
			}
			fromPeer := startReader(t, peer)
			sb.Write([]byte{9})
			if p := nextPacket(t, fromPeer); p.SSRC != sb.SSRC() {
				t.Errorf("the peer got ssrc %x, want b's %x", p.SSRC, sb.SSRC())
			}
			if b.LastReceived().IsZero() {
				t.Error("LastReceived not set by an accepted packet")
			}
			// Within the allowed IPs, the latch holds: another port is dropped.
			other := udpSocket(t, addr)
			if _, err := other.WriteToUDPAddrPort(rtpDatagram(0, 1, 0, 0xbad, []byte{1}), b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			codectest.Require(t, 3*time.Second, func() error {
				if st := b.Stats(); st.DroppedSource != 4 {
					return fmt.Errorf("stats %+v, want 4 dropped for their source", st)
				}
				return nil
			})
			// Once the signalling IP is no longer allowed, neither is the source latched through it.
			b.SetSignalingAddr(netip.Addr{})
			if r := b.Remote(); r.IsValid() {
				t.Errorf("remote %s after its IP was disallowed, want none", r)
			}

			// RTCP alone confirms the peer (a phone that only receives sends RTCP): RTP then goes to the SDP
			// address if the RTCP came from its IP...
			b.SetRemote(decoyAddr)
			if err := peer.sendRTCP(nil); err != nil {
				t.Fatal(err)
			}
			codectest.Require(t, 3*time.Second, func() error {
				if r := b.Remote(); r != decoyAddr {
					return fmt.Errorf("remote %s after RTCP from the SDP address's IP, want %s", r, decoyAddr)
				}
				return nil
			})
			if b.LastRTCPReceived().IsZero() {
				t.Error("LastRTCPReceived not set by an accepted RTCP packet")
			}
			// ...and else to the port before the RTCP's.
			b.SetRemote(netip.AddrPortFrom(otherIP(addr), 4000))
			b.SetSignalingAddr(addr)
			if err := peer.sendRTCP(nil); err != nil {
				t.Fatal(err)
			}
			codectest.Require(t, 3*time.Second, func() error {
				if r := b.Remote(); r != peer.LocalAddr() {
					return fmt.Errorf("remote %s after RTCP from %s, want %s", r, peerRTCP, peer.LocalAddr())
				}
				return nil
			})
			sb.Write([]byte{10})
			if p := nextPacket(t, fromPeer); p.SSRC != sb.SSRC() {
				t.Errorf("the peer got ssrc %x, want b's %x", p.SSRC, sb.SSRC())
			}
		})
	}
}

// testRTCPListener records what a stream's RTCP reader reports.
type testRTCPListener struct {
	mu        sync.Mutex
	keyframes int
	reports   []rtcp.ReceptionReport
}

func (l *testRTCPListener) OnKeyframeRequest() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keyframes++
}

func (l *testRTCPListener) OnReceptionReport(r rtcp.ReceptionReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reports = append(l.reports, r)
}

// wantKeyframes waits until l has seen n keyframe requests.
func (l *testRTCPListener) wantKeyframes(t *testing.T, n int) {
	t.Helper()
	codectest.Require(t, 3*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.keyframes != n {
			return fmt.Errorf("%d keyframe requests, want %d", l.keyframes, n)
		}
		return nil
	})
}

func TestRTPStreamKeyframeRequests(t *testing.T) {
	for _, addr := range testLoopbacks() {
		t.Run(addr.String(), func(t *testing.T) {
			a, b := newTestStream(t, addr), newTestStream(t, addr)
			if err := b.SendPLI(1); !errors.Is(err, errNoRemote) {
				t.Errorf("SendPLI without remote: %v, want errNoRemote", err)
			}
			a.SetRemote(b.LocalAddr())
			b.SetRemote(a.LocalAddr())
			var la testRTCPListener
			a.Start(&la)
			sa := NewVideoSender(a, 96, 1)

			if err := b.SendPLI(sa.SSRC()); err != nil {
				t.Fatal(err)
			}
			la.wantKeyframes(t, 1)
			for i := range 2 { // FIRs with new sequence numbers
				if err := b.sendRTCP(func(ssrc uint32) rtcp.Packet {
					return &rtcp.FullIntraRequest{SenderSSRC: ssrc, FIR: []rtcp.FIREntry{{SSRC: sa.SSRC(), SequenceNumber: uint8(i + 1)}}}
				}); err != nil {
					t.Fatal(err)
				}
				la.wantKeyframes(t, 2+i)
			}

			// A repeated FIR (same sequence number) asks for nothing more; garbage is dropped.
			aRTCP := netip.AddrPortFrom(a.LocalAddr().Addr(), a.LocalAddr().Port()+1)
			fir, err := rtcp.Marshal([]rtcp.Packet{&rtcp.FullIntraRequest{SenderSSRC: 5,
				FIR: []rtcp.FIREntry{{SSRC: sa.SSRC(), SequenceNumber: 200}}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range [][]byte{fir, fir, {0x80, 0xc9}, {1, 2, 3, 4, 5, 6, 7, 8}, fir} {
				if _, err := b.rtcp.WriteToUDPAddrPort(d, aRTCP); err != nil {
					t.Fatal(err)
				}
			}
			codectest.Require(t, 3*time.Second, func() error {
				if st := a.Stats(); st.RTCPDropped != 2 || st.RTCPReceived != 6 {
					return fmt.Errorf("stats %+v, want 2 RTCP dropped and 6 received", st)
				}
				return nil
			})
			la.wantKeyframes(t, 4)

			// RTCP from another address than the latched one is dropped.
			intruder := udpSocket(t, addr)
			pli, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: sa.SSRC()}})
			if _, err := intruder.WriteToUDPAddrPort(pli, aRTCP); err != nil {
				t.Fatal(err)
			}
			codectest.Require(t, 3*time.Second, func() error {
				if st := a.Stats(); st.RTCPDropped != 3 {
					return fmt.Errorf("stats %+v, want 3 RTCP dropped", st)
				}
				return nil
			})
			if err := b.SendPLI(sa.SSRC()); err != nil {
				t.Fatal(err)
			}
			la.wantKeyframes(t, 5)
			if st := a.Stats(); st.KeyframeRequests != 5 {
				t.Errorf("%d keyframe requests counted, want 5", st.KeyframeRequests)
			}
		})
	}
}

func TestRTPStreamSenderReport(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, peer := newTestStream(t, lo), newTestStream(t, lo)
	a.SetReportInterval(20 * time.Millisecond)
	a.SetRemote(peer.LocalAddr())
	sa := NewAudioSender(a, 0, 8000)
	const n = 10
	for range n {
		sa.Write(make([]byte, 160))
	}
	sentTS := sa.ts - sa.step // the timestamp of the last packet
	sentAt := time.Now()
	a.Start(nil)

	// Read a's RTCP at the peer's RTCP socket.
	_ = peer.rtcp.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	m, _, err := peer.rtcp.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	pkts, err := rtcp.Unmarshal(buf[:m])
	if err != nil || len(pkts) != 2 {
		t.Fatalf("compound RTCP: %v, %d packets, want an SR and an SDES", err, len(pkts))
	}
	sr, ok := pkts[0].(*rtcp.SenderReport)
	if !ok {
		t.Fatalf("first RTCP packet %T, want an SR", pkts[0])
	}
	if sr.SSRC != sa.SSRC() || sr.PacketCount != n || sr.OctetCount != n*160 || len(sr.Reports) != 0 {
		t.Errorf("SR %+v, want ssrc %x, %d packets, %d octets, no report block", sr, sa.SSRC(), n, n*160)
	}
	// Its RTP time is the last packet's, advanced by the time since at 8 kHz.
	lo8, hi8 := sentTS, sentTS+uint32(at.Sub(sentAt).Seconds()*8000)+8
	if d := sr.RTPTime - lo8; d > hi8-lo8 {
		t.Errorf("SR RTP time %d, want in %d..%d", sr.RTPTime, lo8, hi8)
	}
	ntpNow := ntpTime(time.Now())
	if d := time.Duration(int64(ntpNow-sr.NTPTime) * int64(time.Second) >> 32); d < 0 || d > time.Second {
		t.Errorf("SR NTP time %x is %v before now", sr.NTPTime, d)
	}
	sdes, ok := pkts[1].(*rtcp.SourceDescription)
	if !ok || len(sdes.Chunks) != 1 || sdes.Chunks[0].Source != sa.SSRC() || len(sdes.Chunks[0].Items) != 1 ||
		sdes.Chunks[0].Items[0].Type != rtcp.SDESCNAME || sdes.Chunks[0].Items[0].Text == "" {
		t.Errorf("second RTCP packet %+v, want an SDES with a CNAME for %x", pkts[1], sa.SSRC())
	}
}

func TestRTPStreamReceiverReportLoss(t *testing.T) {
	for _, addr := range testLoopbacks() {
		t.Run(addr.String(), func(t *testing.T) {
			a, b := newTestStream(t, addr), newTestStream(t, addr)
			a.SetReportInterval(20 * time.Millisecond)
			b.SetReportInterval(20 * time.Millisecond)
			a.SetRemote(b.LocalAddr())
			b.SetPayloadTypes(8000, 0)
			var la, lb testRTCPListener
			fromA := startReader(t, b)
			sa := NewAudioSender(a, 0, 8000)
			// 40 packets sent of 50 numbered: every fifth is lost on the way.
			for i := range 50 {
				if i%5 == 4 {
					sa.seq++
					sa.ts += sa.step
					continue
				}
				sa.Write([]byte{byte(i)})
			}
			for range 40 {
				nextPacket(t, fromA)
			}
			// b has no SDP address for a: it latched to a, and sends its RTCP to a's RTP port + 1.
			a.Start(&la)
			b.Start(&lb)
			codectest.Require(t, 3*time.Second, func() error {
				la.mu.Lock()
				defer la.mu.Unlock()
				for _, r := range la.reports {
					if r.SSRC != sa.SSRC() {
						return fmt.Errorf("report about %x, want %x", r.SSRC, sa.SSRC())
					}
					if r.FractionLost == 0 {
						continue // a report with nothing new lost
					}
					// 9 of 49 expected (the last one numbered, 49, is after the highest received).
					if want := uint8(9 * 256 / 49); r.FractionLost != want || r.TotalLost != 9 ||
						r.LastSequenceNumber&0xffff != uint32(sa.seq-2) {
						return fmt.Errorf("report %+v, want fraction %d, 9 lost, highest seq %d", r, want, sa.seq-2)
					}
					return nil
				}
				return fmt.Errorf("no report with loss among %d", len(la.reports))
			})
			// b's reports refer to a's SR (once it has one): a keeps sending, so that its reports are SRs.
			codectest.Require(t, 3*time.Second, func() error {
				sa.Write([]byte{0})
				la.mu.Lock()
				defer la.mu.Unlock()
				for _, r := range la.reports {
					if r.LastSenderReport != 0 {
						return nil
					}
				}
				return errors.New("no report refers to a sender report")
			})
			lb.mu.Lock()
			defer lb.mu.Unlock()
			if len(lb.reports) != 0 {
				t.Errorf("b, which sends nothing, got reports %+v", lb.reports)
			}
		})
	}
}

func TestRTPRecvStatsSequence(t *testing.T) {
	var r rtpRecvStats
	h := func(seq uint16) *rtp.Header { return &rtp.Header{SSRC: 1, SequenceNumber: seq} }
	// Wrapping, a duplicate, a reordered packet.
	for _, seq := range []uint16{65534, 65535, 1, 1, 0, 2} {
		r.update(h(seq), 0, 0)
	}
	b, ok := r.block(0, remoteSR{})
	if !ok || b.LastSequenceNumber != 1<<16+2 || b.TotalLost != 0 || b.FractionLost != 0 {
		t.Errorf("block %+v, want highest 65538 and nothing lost", b)
	}
	if _, ok := r.block(0, remoteSR{}); ok {
		t.Error("a block with nothing new")
	}
	// A jump restarts the counts only once a second packet confirms it.
	r.update(h(30000), 0, 0)
	r.update(h(30001), 0, 0)
	b, _ = r.block(0, remoteSR{})
	if b.LastSequenceNumber != 30001 || b.TotalLost != 0 {
		t.Errorf("block after a restart %+v, want highest 30001 and nothing lost", b)
	}
	// A new SSRC restarts them too.
	r.update(&rtp.Header{SSRC: 2, SequenceNumber: 7}, 0, 0)
	if b, _ = r.block(0, remoteSR{valid: true, ssrc: 2, mid: 0x12345678, at: 0}); b.SSRC != 2 ||
		b.LastSequenceNumber != 7 || b.LastSenderReport != 0x12345678 {
		t.Errorf("block for a new SSRC %+v, want ssrc 2, highest 7, LSR 12345678", b)
	}
}

func TestRTPStreamClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	lo := netip.MustParseAddr("127.0.0.1")
	s, err := NewStream(lo, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(nil)
	s.Start(nil)
	read := make(chan error, 1)
	go func() {
		_, err := s.ReadRTP(make([]byte, ReadBufferSize), &rtp.Packet{})
		read <- err
	}()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case err := <-read:
		if !errors.Is(err, io.EOF) {
			t.Errorf("ReadRTP after Close: %v, want io.EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ReadRTP still blocked after Close")
	}
	if _, err := s.ReadRTP(make([]byte, ReadBufferSize), &rtp.Packet{}); !errors.Is(err, io.EOF) {
		t.Errorf("ReadRTP on a closed stream: %v, want io.EOF", err)
	}
	if _, err := s.ReadRTP(make([]byte, 100), &rtp.Packet{}); err == nil {
		t.Error("ReadRTP with a short buffer succeeded")
	}
	s.Start(nil) // starts nothing on a closed stream
	s.Close()

	// Closed without ever starting, and writes after Close are counted, not fatal.
	s2, err := NewStream(lo, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s2.SetRemote(netip.AddrPortFrom(lo, 9))
	snd := NewAudioSender(s2, 0, 8000)
	s2.Close()
	snd.Write([]byte{1})
	if st := s2.Stats(); st.SendErrors != 1 {
		t.Errorf("write after Close: stats %+v, want 1 send error", st)
	}
}

func TestRTPStreamDualStack(t *testing.T) {
	// A stream on "::" takes IPv4 peers too: it sees them as IPv4 addresses, and answers them.
	any6, err := NewStream(netip.IPv6Unspecified(), 0, 0)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	t.Cleanup(func() { any6.Close() })
	lo := netip.MustParseAddr("127.0.0.1")
	peer := newTestStream(t, lo)
	peer.SetRemote(netip.AddrPortFrom(lo, any6.LocalAddr().Port()))
	fromPeer, fromAny := startReader(t, any6), startReader(t, peer)
	sp := NewAudioSender(peer, 0, 8000)
	sp.Write([]byte{1})
	if p := nextPacket(t, fromPeer); p.SSRC != sp.SSRC() {
		t.Fatalf("got ssrc %x, want %x", p.SSRC, sp.SSRC())
	}
	if got := any6.Remote(); got != peer.LocalAddr() {
		t.Errorf("latched to %s, want %s", got, peer.LocalAddr())
	}
	sa := NewAudioSender(any6, 0, 8000)
	sa.Write([]byte{2})
	if p := nextPacket(t, fromAny); p.SSRC != sa.SSRC() {
		t.Errorf("the IPv4 peer got ssrc %x, want %x", p.SSRC, sa.SSRC())
	}
}
