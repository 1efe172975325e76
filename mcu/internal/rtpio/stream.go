// Package rtpio is plain RTP over UDP (no ICE, DTLS or SRTP): a stream of an RTP and an RTCP socket with
// source latching, strict RTP and statistics, its RTCP reports, and the audio and video senders that
// packetize encoded frames onto it. It knows nothing of rooms.
package rtpio

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Plain-RTP transport tuning.
const (
	// MTU is the largest RTP payload a video sender puts in one packet in packetization mode 1.
	MTU = 1200
	// ReadBufferSize is the smallest buffer ReadRTP accepts, larger than any datagram that fits an
	// Ethernet frame. A datagram that fills the buffer may have been cut: it is dropped.
	ReadBufferSize = 1500
	// rtcpReportInterval is how often a stream sends its RTCP report (SR or RR, with SDES).
	rtcpReportInterval = time.Second
	// rtpWriteTimeout bounds how long one sender call (one audio frame, one video frame) may wait for
	// the socket's send buffer.
	rtpWriteTimeout = 50 * time.Millisecond
	// rtpAnyPortTries is how many ephemeral port pairs a stream tries when no port range is given.
	rtpAnyPortTries = 64
)

// StreamStats is a snapshot of an Stream's counters. It is plain data.
type StreamStats struct {
	Received           uint64 // RTP packets accepted and returned by ReadRTP
	DroppedSource      uint64 // RTP packets from an address other than the latched one, or (strict) not allowed
	DroppedMalformed   uint64 // datagrams on the RTP port that are not RTP version 2 (too short, garbage)
	DroppedTooLarge    uint64 // datagrams that filled ReadRTP's buffer: maybe cut
	DroppedPayloadType uint64 // RTP packets of a payload type not allowed by SetPayloadTypes
	Sent               uint64 // RTP packets written
	SentBytes          uint64 // RTP payload octets written
	SendErrors         uint64 // RTP packets whose write failed (or timed out)
	SendNoRemote       uint64 // RTP packets not sent: no remote yet (strict: nothing accepted from the peer yet)
	Oversized          uint64 // packetization-mode 0 NAL units larger than the MTU, sent whole
	RTCPReceived       uint64 // RTCP compound packets accepted
	RTCPDropped        uint64 // RTCP datagrams dropped: unparsable, from another address than the latched one, not allowed
	RTCPSent           uint64 // RTCP compound packets written
	KeyframeRequests   uint64 // PLIs and new FIRs received
}

// rtpCounters are an Stream's statistics, updated atomically.
type rtpCounters struct {
	received, droppedSource, droppedMalformed, droppedPayloadType atomic.Uint64
	droppedTooLarge                                               atomic.Uint64
	sent, sentBytes, sendErrors, sendNoRemote, oversized          atomic.Uint64
	rtcpReceived, rtcpDropped, rtcpSent, keyframeRequests         atomic.Uint64
}

// RTCPListener is told what the peer's RTCP says about the media a stream sends. Its methods are called
// from the stream's RTCP reader goroutine, never with a lock held, and must return quickly.
type RTCPListener interface {
	// OnKeyframeRequest is called once for each RTCP compound packet with a PLI or a FIR with a new
	// sequence number; the stream does not rate-limit them.
	OnKeyframeRequest()
	// OnReceptionReport is called for each report block (in an SR or an RR) about the SSRC the stream
	// sends.
	OnReceptionReport(r rtcp.ReceptionReport)
}

// Stream is one plain-RTP media stream (no ICE, DTLS or SRTP): an RTP UDP socket on an even port and
// an RTCP socket on the next one.
//
// Incoming RTP is read by the caller with ReadRTP, from one goroutine. The stream latches to the source of
// the first acceptable RTP packet (symmetric RTP: it then also sends there) and drops, and counts, packets
// from other addresses, packets that are not RTP and packets of payload types not allowed; none of them
// disturbs the stream. Outgoing RTP is written by one sender (AudioSender, VideoSender).
//
// A strict stream (SetStrict; every plain-RTP participant's) is what Asterisk calls strictrtp: it accepts
// RTP and RTCP only from the IP of the SDP address (SetRemote) or the IP the peer's signalling came from
// (SetSignalingAddr), any port, and latches as above within them; and it sends nothing, RTP or RTCP,
// before an RTP or RTCP packet from the peer has been accepted, so that an SDP naming a third party's
// address cannot make the MCU send to it. A stream that is not strict sends to the SDP address at once
// and latches to any source.
//
// Start starts two goroutines: the RTCP reader (keyframe requests and reception reports go to an
// RTCPListener) and the reporter, which sends an SR or RR with SDES about every second. Close stops
// them and closes the sockets. All methods are safe for concurrent use.
type Stream struct {
	rtp, rtcp *net.UDPConn
	local     netip.AddrPort
	epoch     time.Time // the monotonic reference of lastRecv and jitter
	ssrc      uint32    // the SSRC of RTCP while the stream sends no media
	cname     string
	interval  time.Duration // between two RTCP reports (SetReportInterval)
	counters  rtpCounters
	lastRecv  atomic.Int64 // when the last RTP packet was accepted, since epoch; 0: never
	lastRTCP  atomic.Int64 // when the last RTCP packet was accepted, since epoch; 0: never
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	started   bool
	strict    bool           // see SetStrict
	remote    netip.AddrPort // from SetRemote (SDP), where RTP goes until latched (at once unless strict)
	signaling netip.Addr     // from SetSignalingAddr: the other IP a strict stream accepts; invalid: none
	rtpSrc    netip.AddrPort // latched RTP source; zero: not latched yet
	rtcpSrc   netip.AddrPort // latched RTCP source; zero: not latched yet
	allowed   [2]uint64      // bit set of allowed payload types
	anyPT     bool           // no payload types were given: every one is allowed
	mainPT    uint8          // the payload type whose packets give the jitter
	recvRate  int            // clock rate of mainPT; 0: no jitter
	recv      rtpRecvStats
	send      rtpSendStats
	remoteSR  remoteSR // the peer's last sender report
	// The last FIR received: its sender and sequence number.
	haveFIR       bool
	lastFIRSender uint32
	lastFIRSeq    uint8
}

// NewStream opens an RTP socket on an even port and an RTCP socket on the next port of bind, both in
// portMin..portMax, trying the pairs from a random one on; both zero means any free pair. It starts no
// goroutine. The stream accepts every payload type until SetPayloadTypes.
func NewStream(bind netip.Addr, portMin, portMax int) (*Stream, error) {
	if !bind.IsValid() {
		return nil, errors.New("rtp stream: no bind address")
	}
	bind = bind.Unmap()
	var rtpConn, rtcpConn *net.UDPConn
	var err error
	switch {
	case portMin == 0 && portMax == 0:
		rtpConn, rtcpConn, err = listenAnyPair(bind)
	case portMin < 1 || portMax > 65535 || portMin > portMax:
		err = fmt.Errorf("port range %d..%d: want 1 <= min <= max <= 65535", portMin, portMax)
	default:
		rtpConn, rtcpConn, err = listenPairInRange(bind, portMin, portMax)
	}
	if err != nil {
		return nil, fmt.Errorf("rtp stream on %s: %w", bind, err)
	}
	s := &Stream{
		rtp:      rtpConn,
		rtcp:     rtcpConn,
		local:    unmapAddrPort(rtpConn.LocalAddr().(*net.UDPAddr).AddrPort()),
		epoch:    time.Now(),
		ssrc:     rand.Uint32(),
		cname:    fmt.Sprintf("mcu-%016x", rand.Uint64()),
		interval: rtcpReportInterval,
		done:     make(chan struct{}),
		anyPT:    true,
	}
	return s, nil
}

// udpNetwork returns the network to listen on for bind: an IPv6 address (including "::") listens on
// both families where the system allows.
func udpNetwork(bind netip.Addr) string {
	if bind.Is4() {
		return "udp4"
	}
	return "udp"
}

// listenPair opens the RTP socket on port and the RTCP socket on port+1.
func listenPair(bind netip.Addr, port int) (*net.UDPConn, *net.UDPConn, error) {
	network := udpNetwork(bind)
	r, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port))))
	if err != nil {
		return nil, nil, err
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port+1))))
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, c, nil
}

// listenPairInRange tries every even port p with p and p+1 in lo..hi, from a random one on.
func listenPairInRange(bind netip.Addr, lo, hi int) (*net.UDPConn, *net.UDPConn, error) {
	first := lo + lo%2 // the lowest even port
	pairs := 0
	if hi >= first+1 {
		pairs = (hi-first-1)/2 + 1
	}
	if pairs == 0 {
		return nil, nil, fmt.Errorf("port range %d..%d holds no even/odd pair", lo, hi)
	}
	start := rand.IntN(pairs)
	var last error
	for i := range pairs {
		port := first + 2*((start+i)%pairs)
		r, c, err := listenPair(bind, port)
		if err == nil {
			return r, c, nil
		}
		last = err
	}
	return nil, nil, fmt.Errorf("no free port pair in %d..%d: %w", lo, hi, last)
}

// listenAnyPair lets the system pick a port and opens its pair: the port and the next one if it is even,
// the one before and the port if it is odd.
func listenAnyPair(bind netip.Addr) (*net.UDPConn, *net.UDPConn, error) {
	network := udpNetwork(bind)
	var last error
	for range rtpAnyPortTries {
		probe, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, 0)))
		if err != nil {
			return nil, nil, err
		}
		port := probe.LocalAddr().(*net.UDPAddr).Port
		var other *net.UDPConn
		if port%2 == 0 {
			other, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port+1))))
			if err == nil {
				return probe, other, nil
			}
		} else if port%2 == 1 {
			other, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port-1))))
			if err == nil {
				return other, probe, nil
			}
		}
		probe.Close()
		last = err
	}
	return nil, nil, fmt.Errorf("no free port pair in %d tries: %w", rtpAnyPortTries, last)
}

// unmapAddrPort turns an IPv4-mapped IPv6 address (from a dual-stack socket) into IPv4.
func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// LocalAddr returns the address of the RTP socket (RTCP is on the next port). It is the bind address
// given to NewStream, which may be unspecified ("0.0.0.0").
func (s *Stream) LocalAddr() netip.AddrPort { return s.local }

// SetStrict makes the stream strict (see Stream) for the rest of its life. Call it before the first
// packet.
func (s *Stream) SetStrict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strict = true
}

// SetReportInterval sets how often the stream sends its RTCP report (default rtcpReportInterval, 1 s;
// RFC 3550 lets a session choose). Call it before Start.
func (s *Stream) SetReportInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interval = d
}

// SetRemote sets where RTP goes (the SDP's address and port; RTCP goes to the next port) until a packet
// arrives to latch to; a strict stream also accepts packets from its IP. A different address than before
// re-arms latching, so that the next acceptable RTP and RTCP packets latch again (a re-INVITE that moves
// the media; a strict stream then sends nothing until one has arrived); the same address (a session
// refresh) changes nothing. An invalid or unspecified address (hold with "c=0.0.0.0") means no remote.
func (s *Stream) SetRemote(a netip.AddrPort) {
	a = unmapAddrPort(a)
	if !a.Addr().IsValid() || a.Addr().IsUnspecified() || a.Port() == 0 {
		a = netip.AddrPort{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a == s.remote {
		return
	}
	s.remote, s.rtpSrc, s.rtcpSrc = a, netip.AddrPort{}, netip.AddrPort{}
}

// SetSignalingAddr sets the IP the peer's signalling comes from: a strict stream accepts RTP and RTCP from
// it on any port, as well as from the SDP address's IP (a phone behind NAT sends from its public address,
// not from the private one its SDP names). An invalid address means none. A latched source that is no
// longer allowed is forgotten.
func (s *Stream) SetSignalingAddr(a netip.Addr) {
	a = a.Unmap()
	if a.IsUnspecified() {
		a = netip.Addr{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signaling = a
	if s.rtpSrc.IsValid() && !s.allowedLocked(s.rtpSrc.Addr()) {
		s.rtpSrc = netip.AddrPort{}
	}
	if s.rtcpSrc.IsValid() && !s.allowedLocked(s.rtcpSrc.Addr()) {
		s.rtcpSrc = netip.AddrPort{}
	}
}

// allowedLocked reports whether packets from ip may be accepted: from any IP unless the stream is strict,
// else from the SDP address's or the signalling's.
func (s *Stream) allowedLocked(ip netip.Addr) bool {
	if !s.strict {
		return true
	}
	return ip.IsValid() && (s.remote.IsValid() && ip == s.remote.Addr() || s.signaling.IsValid() && ip == s.signaling)
}

// Remote returns where RTP goes now (zero: nowhere): the latched source; before one, the address of
// SetRemote, except for a strict stream, which sends nowhere until RTCP from the peer has been accepted,
// and then to the SDP address if it has the RTCP's IP, else to the port before the RTCP's.
func (s *Stream) Remote() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rtpDestLocked()
}

// rtpDestLocked returns where RTP goes.
func (s *Stream) rtpDestLocked() netip.AddrPort {
	switch {
	case s.rtpSrc.IsValid():
		return s.rtpSrc
	case !s.strict:
		return s.remote
	case !s.rtcpSrc.IsValid():
		return netip.AddrPort{} // nothing from the peer yet: send nothing
	case s.remote.IsValid() && s.remote.Addr() == s.rtcpSrc.Addr():
		return s.remote
	case s.rtcpSrc.Port() > 1:
		return netip.AddrPortFrom(s.rtcpSrc.Addr(), s.rtcpSrc.Port()-1)
	}
	return netip.AddrPort{}
}

// rtcpDestLocked returns where RTCP goes: the latched RTCP source, or else the port after where RTP
// goes (for a strict stream, after the latched RTP source only); zero when unknown.
func (s *Stream) rtcpDestLocked() netip.AddrPort {
	if s.rtcpSrc.IsValid() {
		return s.rtcpSrc
	}
	d := s.rtpSrc
	if !s.strict {
		d = s.rtpDestLocked()
	}
	if !d.IsValid() || d.Port() == 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(d.Addr(), d.Port()+1)
}

// SetPayloadTypes sets the payload types ReadRTP accepts (others are dropped and counted). The first is
// the media's, of clock rate clockRate: its packets give the jitter of the receiver reports (clockRate 0:
// no jitter). No payload type accepts all.
func (s *Stream) SetPayloadTypes(clockRate int, pts ...uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed = [2]uint64{}
	s.anyPT = len(pts) == 0
	s.mainPT, s.recvRate = 0, 0
	for i, pt := range pts {
		pt &= 0x7f
		s.allowed[pt/64] |= 1 << (pt % 64)
		if i == 0 {
			s.mainPT, s.recvRate = pt, clockRate
		}
	}
}

// ReadRTP blocks until the next acceptable RTP packet arrives, reads it into buf (at least
// ReadBufferSize bytes) and unmarshals it into pkt, whose Payload then points into buf. It returns
// when the packet arrived, or io.EOF once the stream is closed. A datagram that fills buf may have been
// cut and is dropped: a buffer must be larger than the largest packet expected (a packetization-mode 0
// H.264 sender may send NAL units of many kilobytes in one datagram, up to 65507 bytes). It must be
// called from one goroutine at a time.
func (s *Stream) ReadRTP(buf []byte, pkt *rtp.Packet) (time.Time, error) {
	if len(buf) < ReadBufferSize {
		return time.Time{}, fmt.Errorf("read rtp: buffer of %d bytes, want at least %d", len(buf), ReadBufferSize)
	}
	for {
		n, from, err := s.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return time.Time{}, io.EOF
			}
			return time.Time{}, fmt.Errorf("read rtp: %w", err)
		}
		now := time.Now()
		if n == len(buf) {
			s.counters.droppedTooLarge.Add(1)
			continue
		}
		if s.accept(buf[:n], pkt, unmapAddrPort(from), now) {
			return now, nil
		}
	}
}

// accept parses the datagram b from from into pkt and reports whether it is an RTP packet of an allowed
// payload type from the latched source (latching to from if there is none yet and, for a strict stream,
// from's IP is allowed). It counts what it drops.
func (s *Stream) accept(b []byte, pkt *rtp.Packet, from netip.AddrPort, now time.Time) bool {
	if len(b) < 12 || b[0]>>6 != 2 || pkt.Unmarshal(b) != nil {
		s.counters.droppedMalformed.Add(1)
		return false
	}
	s.mu.Lock()
	pt := pkt.PayloadType & 0x7f
	if !s.anyPT && s.allowed[pt/64]&(1<<(pt%64)) == 0 {
		s.mu.Unlock()
		s.counters.droppedPayloadType.Add(1)
		return false
	}
	if !s.rtpSrc.IsValid() && s.allowedLocked(from.Addr()) {
		s.rtpSrc = from
	} else if from != s.rtpSrc {
		s.mu.Unlock()
		s.counters.droppedSource.Add(1)
		return false
	}
	rate := 0
	if pt == s.mainPT {
		rate = s.recvRate
	}
	s.recv.update(&pkt.Header, now.Sub(s.epoch), rate)
	s.mu.Unlock()
	s.lastRecv.Store(int64(max(now.Sub(s.epoch), 1)))
	s.counters.received.Add(1)
	return true
}

// LastReceived returns when the last RTP packet was accepted, or the zero time if none was.
func (s *Stream) LastReceived() time.Time {
	d := s.lastRecv.Load()
	if d == 0 {
		return time.Time{}
	}
	return s.epoch.Add(time.Duration(d))
}

// LastRTCPReceived returns when the last RTCP packet was accepted, or the zero time if none was.
func (s *Stream) LastRTCPReceived() time.Time {
	d := s.lastRTCP.Load()
	if d == 0 {
		return time.Time{}
	}
	return s.epoch.Add(time.Duration(d))
}

// Stats returns a snapshot of the stream's counters.
func (s *Stream) Stats() StreamStats {
	c := &s.counters
	return StreamStats{
		Received:           c.received.Load(),
		DroppedSource:      c.droppedSource.Load(),
		DroppedMalformed:   c.droppedMalformed.Load(),
		DroppedTooLarge:    c.droppedTooLarge.Load(),
		DroppedPayloadType: c.droppedPayloadType.Load(),
		Sent:               c.sent.Load(),
		SentBytes:          c.sentBytes.Load(),
		SendErrors:         c.sendErrors.Load(),
		SendNoRemote:       c.sendNoRemote.Load(),
		Oversized:          c.oversized.Load(),
		RTCPReceived:       c.rtcpReceived.Load(),
		RTCPDropped:        c.rtcpDropped.Load(),
		RTCPSent:           c.rtcpSent.Load(),
		KeyframeRequests:   c.keyframeRequests.Load(),
	}
}

// setSender tells the stream the SSRC and clock rate of the media it sends from now on (for sender
// reports, and as the SSRC of its RTCP). A new SSRC starts the sender counts from zero.
func (s *Stream) setSender(ssrc uint32, clockRate int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send = rtpSendStats{ssrc: ssrc, clockRate: clockRate, active: true}
}

// armWrite bounds how long the writes of the next frame may block on the socket's send buffer.
func (s *Stream) armWrite(now time.Time) {
	_ = s.rtp.SetWriteDeadline(now.Add(rtpWriteTimeout))
}

// writeRTP sends one marshalled RTP packet, of SSRC ssrc and timestamp rtpTS, whose payload has
// payloadLen octets, to the remote; without one it is dropped and counted. Errors are counted, not
// returned. Only the packets of the SSRC of the last setSender count for the sender reports.
func (s *Stream) writeRTP(b []byte, ssrc, rtpTS uint32, payloadLen int, now time.Time) {
	s.mu.Lock()
	dest := s.rtpDestLocked()
	if dest.IsValid() && s.send.active && s.send.ssrc == ssrc {
		s.send.sent(rtpTS, payloadLen, now)
	}
	s.mu.Unlock()
	if !dest.IsValid() {
		s.counters.sendNoRemote.Add(1)
		return
	}
	if _, err := s.rtp.WriteToUDPAddrPort(b, dest); err != nil {
		s.counters.sendErrors.Add(1)
		return
	}
	s.counters.sent.Add(1)
	s.counters.sentBytes.Add(uint64(payloadLen))
}

// Start starts the RTCP reader, which tells l (nil: nobody) about keyframe requests and reception
// reports, and the reporter, which sends an RTCP report about every second. Only the first call after
// NewStream and before Close does anything.
func (s *Stream) Start(l RTCPListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.started {
		return
	}
	s.started = true
	s.wg.Add(2)
	go s.readRTCP(l)
	go s.report()
}

// Close closes the sockets, which ends ReadRTP with io.EOF, and waits for the stream's goroutines. It is
// idempotent; only the first call returns an error.
func (s *Stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		err = errors.Join(s.rtp.Close(), s.rtcp.Close())
	})
	s.wg.Wait()
	return err
}
