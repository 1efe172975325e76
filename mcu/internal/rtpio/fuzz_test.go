package rtpio

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// FuzzStreamInput feeds arbitrary datagrams to what a stream's readers run on every packet: accept (the
// RTP port) and handleRTCP (the RTCP port), from the allowed peer and from a stranger, on a strict
// stream with payload types set, then builds the stream's report. Nothing may panic; the stranger
// never latches; the counters add up.
func FuzzStreamInput(f *testing.F) {
	rtpPkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 7, Timestamp: 160, SSRC: 9},
		Payload: make([]byte, 160)}).Marshal()
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 9, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: 1}}},
		&rtcp.PictureLossIndication{MediaSSRC: 1}, &rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 1, SequenceNumber: 3}}}})
	for _, seed := range [][]byte{rtpPkt, sr, {}, {0x80}, make([]byte, 12), {0x90, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0, 9}} {
		f.Add(seed, seed, uint8(0))
	}
	lo := netip.MustParseAddr("127.0.0.1")
	peer := netip.AddrPortFrom(lo, 40000)
	stranger := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 40000)
	f.Fuzz(func(t *testing.T, rtpIn, rtcpIn []byte, who uint8) {
		s, err := NewStream(lo, 0, 0)
		if err != nil {
			t.Skip(err)
		}
		defer s.Close()
		s.SetStrict()
		s.SetRemote(peer)
		s.SetPayloadTypes(8000, 0, 101)
		from := peer
		if who%2 == 1 {
			from = stranger
		}
		now := time.Unix(1000, 0)
		var pkt rtp.Packet
		for i := range 3 {
			s.accept(rtpIn, &pkt, from, now.Add(time.Duration(i)*20*time.Millisecond))
			s.handleRTCP(rtcpIn, from, now, nil)
		}
		s.mu.Lock()
		s.compoundLocked(now.Add(time.Second))
		latched := s.rtpSrc
		s.mu.Unlock()
		if latched == stranger {
			t.Fatal("a stranger latched a strict stream")
		}
		st := s.Stats()
		if in := st.Received + st.DroppedSource + st.DroppedMalformed + st.DroppedPayloadType; in != 3 {
			t.Fatalf("3 datagrams, counted %d: %+v", in, st)
		}
	})
}
