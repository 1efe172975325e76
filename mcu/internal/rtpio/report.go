package rtpio

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// RTP sequence number tracking, as in RFC 3550 appendix A.1.
const (
	rtpMaxDropout  = 3000
	rtpMaxMisorder = 100
	rtpSeqMod      = 1 << 16
)

// ntpEpochOffset is the number of seconds from the NTP epoch (1900) to the Unix epoch (1970).
const ntpEpochOffset = 2208988800

// errNoRemote is returned when RTCP is to be sent before any address of the peer is known.
var errNoRemote = errors.New("no remote address")

// rtpRecvStats is what a stream has received from its source, for the report blocks of its RTCP
// (RFC 3550 appendix A.1, A.3 and A.8). It is guarded by the stream's mutex.
type rtpRecvStats struct {
	ssrc          uint32
	started       bool
	maxSeq        uint16
	cycles        uint32 // sequence number wraps, times 2^16
	baseSeq       uint32
	badSeq        uint32
	received      uint32
	expectedPrior uint32
	receivedPrior uint32
	transit       int32
	haveTransit   bool
	jitter        float64 // in timestamp units
}

// restart starts counting a source afresh from its packet with sequence number seq.
func (r *rtpRecvStats) restart(ssrc uint32, seq uint16) {
	*r = rtpRecvStats{ssrc: ssrc, started: true, maxSeq: seq, baseSeq: uint32(seq), badSeq: rtpSeqMod + 1}
}

// update counts a packet with header h that arrived at arrival (since the stream's epoch); clockRate,
// when not 0, is its timestamps' rate, for the jitter. A new SSRC, or a jump of the sequence numbers that
// a second packet confirms, restarts the counts.
func (r *rtpRecvStats) update(h *rtp.Header, arrival time.Duration, clockRate int) {
	seq := h.SequenceNumber
	if !r.started || h.SSRC != r.ssrc {
		r.restart(h.SSRC, seq)
	} else {
		switch udelta := seq - r.maxSeq; {
		case udelta < rtpMaxDropout:
			if seq < r.maxSeq {
				r.cycles += rtpSeqMod
			}
			r.maxSeq = seq
		case int(udelta) <= rtpSeqMod-rtpMaxMisorder:
			if uint32(seq) != r.badSeq {
				r.badSeq = (uint32(seq) + 1) & (rtpSeqMod - 1)
				return
			}
			r.restart(h.SSRC, seq) // the source restarted its sequence numbers
		default:
			// a duplicate or a reordered packet
		}
	}
	r.received++
	if clockRate <= 0 {
		return
	}
	sec, frac := int64(arrival/time.Second), int64(arrival%time.Second)
	arrivalTS := uint32(sec*int64(clockRate) + frac*int64(clockRate)/int64(time.Second))
	transit := int32(arrivalTS - h.Timestamp)
	if r.haveTransit {
		d := float64(transit - r.transit)
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
	}
	r.transit, r.haveTransit = transit, true
}

// block returns the report block about the source for a report sent at now (since the stream's epoch),
// and starts the next reporting interval. ok is false when nothing arrived since the last report.
func (r *rtpRecvStats) block(now time.Duration, sr remoteSR) (rtcp.ReceptionReport, bool) {
	if !r.started {
		return rtcp.ReceptionReport{}, false
	}
	extMax := r.cycles + uint32(r.maxSeq)
	expected := extMax - r.baseSeq + 1
	expInterval := expected - r.expectedPrior
	recvInterval := r.received - r.receivedPrior
	if expInterval == 0 && recvInterval == 0 {
		return rtcp.ReceptionReport{}, false
	}
	r.expectedPrior, r.receivedPrior = expected, r.received
	lost := min(max(int64(expected)-int64(r.received), 0), 0x7fffff)
	var fraction uint8
	if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
		fraction = uint8(min(lostInterval<<8/int64(expInterval), 255))
	}
	rep := rtcp.ReceptionReport{
		SSRC:               r.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost),
		LastSequenceNumber: extMax,
		Jitter:             uint32(r.jitter),
	}
	if sr.valid && sr.ssrc == r.ssrc {
		rep.LastSenderReport = sr.mid
		rep.Delay = uint32((now - sr.at) * 65536 / time.Second)
	}
	return rep, true
}

// remoteSR is the last sender report received from the peer.
type remoteSR struct {
	valid bool
	ssrc  uint32
	mid   uint32        // middle 32 bits of its NTP time
	at    time.Duration // when it arrived, since the stream's epoch
}

// rtpSendStats is what a stream has sent, for its sender reports. It is guarded by the stream's mutex.
type rtpSendStats struct {
	active    bool // a sender set the SSRC
	ssrc      uint32
	clockRate int
	packets   uint32
	octets    uint32
	lastTS    uint32    // RTP timestamp of the last packet sent
	lastAt    time.Time // when it was sent
}

// sent counts a packet of payloadLen octets with timestamp rtpTS sent at now.
func (t *rtpSendStats) sent(rtpTS uint32, payloadLen int, now time.Time) {
	t.packets++
	t.octets += uint32(payloadLen)
	t.lastTS, t.lastAt = rtpTS, now
}

// ntpTime returns t's wall clock as a 64-bit NTP timestamp.
func ntpTime(t time.Time) uint64 {
	ns := t.UnixNano()
	sec := uint64(ns/int64(time.Second)) + ntpEpochOffset
	frac := uint64(ns%int64(time.Second)) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// compoundLocked returns the head of an RTCP compound packet sent at now: an SR if the stream sent
// media in the last two report intervals, else an RR, with the report block about the source if any,
// then an SDES with the CNAME (RFC 3550 section 6.1). It also returns the SSRC the packets are sent as.
func (s *Stream) compoundLocked(now time.Time) ([]rtcp.Packet, uint32) {
	var blocks []rtcp.ReceptionReport
	if b, ok := s.recv.block(now.Sub(s.epoch), s.remoteSR); ok {
		blocks = []rtcp.ReceptionReport{b}
	}
	ssrc := s.ssrc
	if s.send.active {
		ssrc = s.send.ssrc
	}
	var head rtcp.Packet = &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	if snd := &s.send; snd.active && snd.packets > 0 && now.Sub(snd.lastAt) < 2*s.interval {
		ntp := ntpTime(now)
		elapsed := int64(max(now.Sub(snd.lastAt), 0))
		head = &rtcp.SenderReport{
			SSRC:        ssrc,
			NTPTime:     ntp,
			RTPTime:     snd.lastTS + uint32(elapsed*int64(snd.clockRate)/int64(time.Second)),
			PacketCount: snd.packets,
			OctetCount:  snd.octets,
			Reports:     blocks,
		}
	}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc,
		Items:  []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: s.cname}},
	}}}
	return []rtcp.Packet{head, sdes}, ssrc
}

// sendRTCP sends a compound RTCP packet: the report and SDES, then what extra returns for the SSRC
// the stream sends as (extra may be nil).
func (s *Stream) sendRTCP(extra func(ssrc uint32) rtcp.Packet) error {
	now := time.Now()
	s.mu.Lock()
	dest := s.rtcpDestLocked()
	if !dest.IsValid() {
		s.mu.Unlock()
		return errNoRemote
	}
	pkts, ssrc := s.compoundLocked(now)
	if extra != nil {
		pkts = append(pkts, extra(ssrc))
	}
	s.mu.Unlock()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return fmt.Errorf("marshal rtcp: %w", err)
	}
	if _, err := s.rtcp.WriteToUDPAddrPort(b, dest); err != nil {
		return fmt.Errorf("write rtcp: %w", err)
	}
	s.counters.rtcpSent.Add(1)
	return nil
}

// SendPLI asks the peer for a keyframe of its stream mediaSSRC with a Picture Loss Indication, in a
// compound RTCP packet. The caller rate-limits it. It fails before any address of the peer is known.
func (s *Stream) SendPLI(mediaSSRC uint32) error {
	return s.sendRTCP(func(ssrc uint32) rtcp.Packet {
		return &rtcp.PictureLossIndication{SenderSSRC: ssrc, MediaSSRC: mediaSSRC}
	})
}

// report sends the stream's RTCP report every interval until the stream closes.
func (s *Stream) report() {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			_ = s.sendRTCP(nil) // no remote yet, or a failed write: the next report will do
		}
	}
}

// readRTCP reads the peer's RTCP until the socket closes, and tells l (if not nil) about keyframe
// requests and reception reports.
func (s *Stream) readRTCP(l RTCPListener) {
	defer s.wg.Done()
	buf := make([]byte, ReadBufferSize)
	var reports []rtcp.ReceptionReport
	for {
		n, from, err := s.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed (an unconnected UDP socket has no other read errors worth retrying)
		}
		var keyframe, ok bool
		keyframe, reports, ok = s.handleRTCP(buf[:n], unmapAddrPort(from), time.Now(), reports[:0])
		if !ok || l == nil {
			continue
		}
		if keyframe {
			l.OnKeyframeRequest()
		}
		for _, r := range reports {
			l.OnReceptionReport(r)
		}
	}
}

// handleRTCP parses one RTCP datagram from from and takes it (takeRTCP); a datagram that does not parse
// is dropped and counted.
func (s *Stream) handleRTCP(b []byte, from netip.AddrPort, now time.Time,
	reports []rtcp.ReceptionReport) (keyframe bool, _ []rtcp.ReceptionReport, ok bool) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil || len(pkts) == 0 {
		s.counters.rtcpDropped.Add(1)
		return false, reports, false
	}
	return s.takeRTCP(pkts, from, now, reports)
}

// takeRTCP takes a compound RTCP packet from from that arrived at now: it latches to from (or drops the
// packet if another source is latched, or the stream is strict and from's IP is not allowed), notes the
// peer's sender report, and returns whether it asks for a keyframe and its report blocks about what the
// stream sends, appended to reports.
func (s *Stream) takeRTCP(pkts []rtcp.Packet, from netip.AddrPort, now time.Time,
	reports []rtcp.ReceptionReport) (keyframe bool, _ []rtcp.ReceptionReport, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.rtcpSrc.IsValid() && s.allowedLocked(from.Addr()) {
		s.rtcpSrc = from
	} else if from != s.rtcpSrc {
		s.counters.rtcpDropped.Add(1)
		return false, reports, false
	}
	s.lastRTCP.Store(int64(max(now.Sub(s.epoch), 1)))
	s.counters.rtcpReceived.Add(1)
	for _, pk := range pkts {
		var blocks []rtcp.ReceptionReport
		switch p := pk.(type) {
		case *rtcp.PictureLossIndication:
			keyframe = true
			s.counters.keyframeRequests.Add(1)
		case *rtcp.FullIntraRequest:
			if s.newFIRLocked(p) {
				keyframe = true
				s.counters.keyframeRequests.Add(1)
			}
		case *rtcp.SenderReport:
			s.remoteSR = remoteSR{valid: true, ssrc: p.SSRC, mid: uint32(p.NTPTime >> 16), at: now.Sub(s.epoch)}
			blocks = p.Reports
		case *rtcp.ReceiverReport:
			blocks = p.Reports
		}
		for _, b := range blocks {
			if s.send.active && b.SSRC == s.send.ssrc {
				reports = append(reports, b)
			}
		}
	}
	return keyframe, reports, true
}

// newFIRLocked reports whether the FIR p is a new request rather than a repetition of the last one
// (RFC 5104 section 4.3.1: the same sequence number from the same sender).
func (s *Stream) newFIRLocked(p *rtcp.FullIntraRequest) bool {
	if len(p.FIR) == 0 {
		return false
	}
	e := p.FIR[0]
	for _, f := range p.FIR {
		if s.send.active && f.SSRC == s.send.ssrc {
			e = f
		}
	}
	if s.haveFIR && s.lastFIRSender == p.SenderSSRC && s.lastFIRSeq == e.SequenceNumber {
		return false
	}
	s.haveFIR, s.lastFIRSender, s.lastFIRSeq = true, p.SenderSSRC, e.SequenceNumber
	return true
}
