package nackfilter

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestNACKFilter checks what the filter leaves of NACKs for the NACK responder: packets resent at most
// twice, nothing sent more than a second ago, nothing of an unknown stream.
func TestNACKFilter(t *testing.T) {
	var filtered atomic.Uint64
	i, err := Factory{Filtered: &filtered}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	f := i.(*nackFilter)
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }
	const ssrc = 1234
	w := f.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc}, interceptor.RTPWriterFunc(
		func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil }))
	send := func(seq uint16) {
		if _, err := w.Write(&rtp.Header{SSRC: ssrc, SequenceNumber: seq}, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint16(65530); seq != 10; seq++ { // across the wrap
		send(seq)
	}
	var pending []byte
	r := f.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, pending), a, nil
	}))
	// ask sends a NACK for seqs of media SSRC media and returns what the responder would see.
	ask := func(media uint32, seqs ...uint16) []uint16 {
		t.Helper()
		var err error
		pending, err = rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: media,
			Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		n, a, err := r.Read(buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := a.GetRTCPPackets(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		var got []uint16
		for _, p := range pkts {
			for _, pair := range p.(*rtcp.TransportLayerNack).Nacks {
				got = append(got, pair.PacketList()...)
			}
		}
		return got
	}
	if got := ask(ssrc, 65535, 0, 3); !slices.Equal(got, []uint16{65535, 0, 3}) {
		t.Errorf("first NACK: responder sees %v", got)
	}
	now = now.Add(100 * time.Millisecond)
	if got := ask(ssrc, 0, 3, 4); !slices.Equal(got, []uint16{0, 3, 4}) {
		t.Errorf("second NACK: responder sees %v", got)
	}
	now = now.Add(100 * time.Millisecond)
	if got := ask(ssrc, 0, 3, 4); !slices.Equal(got, []uint16{4}) {
		t.Errorf("third NACK: responder sees %v, want only 4 (0 and 3 were resent twice)", got)
	}
	if got := ask(ssrc+1, 5); len(got) != 0 {
		t.Errorf("NACK of an unknown stream: responder sees %v", got)
	}
	// A retransmission without RTX (the same SSRC and sequence number) does not make a packet new.
	send(7)
	now = now.Add(time.Second)
	send(10)
	if got := ask(ssrc, 5, 7, 10); !slices.Equal(got, []uint16{10}) {
		t.Errorf("NACK after a second: responder sees %v, want only 10", got)
	}
	if n := filtered.Load(); n != 5 {
		t.Errorf("filtered %d sequence numbers, want 5", n)
	}
}

// TestHistoryFor checks the history sizes: powers of two in MinHistory..MaxHistory that hold at least a
// second of packets, counting 1000 bytes a packet and one more per picture.
func TestHistoryFor(t *testing.T) {
	for _, tc := range []struct{ bitrate, fps, want int }{
		{1_500_000, 30, 256}, {500_000, 30, 128}, {100_000, 15, 64}, {2_500_000, 30, 512}, {50_000_000, 60, 1024},
	} {
		got := HistoryFor(tc.bitrate, tc.fps)
		if got != tc.want {
			t.Errorf("HistoryFor(%d, %d) = %d, want %d", tc.bitrate, tc.fps, got, tc.want)
		}
		if need := tc.bitrate/8/1000 + tc.fps; got&(got-1) != 0 || (got < need && got != MaxHistory) {
			t.Errorf("HistoryFor(%d, %d) = %d: want a power of two of at least %d", tc.bitrate, tc.fps, got, need)
		}
	}
}

// TestNACKFilterHistory: a filter of 64 packets strikes a packet 64 or more sequence numbers older than the
// newest (the responder no longer has it) and keeps a newer one; one of the default size keeps both.
func TestNACKFilterHistory(t *testing.T) {
	for _, tc := range []struct {
		history int
		want    []uint16
	}{{64, []uint16{50}}, {0, []uint16{10, 50}}} {
		var filtered atomic.Uint64
		i, _ := Factory{Filtered: &filtered, History: tc.history}.NewInterceptor("")
		f := i.(*nackFilter)
		w := f.BindLocalStream(&interceptor.StreamInfo{SSRC: 1}, interceptor.RTPWriterFunc(
			func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil }))
		for seq := range uint16(100) {
			w.Write(&rtp.Header{SSRC: 1, SequenceNumber: seq}, []byte{1}, nil)
		}
		nack := &rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{10, 50})}
		f.filter(nack)
		var got []uint16
		for _, pair := range nack.Nacks {
			got = append(got, pair.PacketList()...)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("History %d, 100 packets sent: NACK for 10 and 50 leaves %v, want %v", tc.history, got, tc.want)
		}
	}
}

// FuzzNACKFilter feeds arbitrary RTCP datagrams through the filter's RTCP reader, as pion's NACK
// responder would read them, after a stream sent packets. Nothing may panic, and a NACK that comes out
// names only packets of that stream the filter has seen sent.
func FuzzNACKFilter(f *testing.F) {
	nack, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 1234,
		Nacks: []rtcp.NackPair{{PacketID: 100, LostPackets: 0xffff}, {PacketID: 65535, LostPackets: 1}}}})
	f.Add(nack)
	f.Add([]byte{})
	f.Add([]byte{0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 4, 0xd2, 0, 100, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var filtered atomic.Uint64
		i, _ := Factory{Filtered: &filtered}.NewInterceptor("")
		fl := i.(*nackFilter)
		w := fl.BindLocalStream(&interceptor.StreamInfo{SSRC: 1234}, interceptor.RTPWriterFunc(
			func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil }))
		for seq := uint16(90); seq != 110; seq++ {
			w.Write(&rtp.Header{SSRC: 1234, SequenceNumber: seq}, []byte{1}, nil)
		}
		r := fl.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(b, in), a, nil
		}))
		buf := make([]byte, 1500)
		n, a, err := r.Read(buf, nil)
		if err != nil || n != min(len(in), 1500) {
			t.Fatalf("Read: %d bytes, %v", n, err)
		}
		pkts, err := a.GetRTCPPackets(buf[:n])
		if err != nil {
			return
		}
		for _, p := range pkts {
			nk, ok := p.(*rtcp.TransportLayerNack)
			if !ok {
				continue
			}
			for _, pair := range nk.Nacks {
				for _, seq := range pair.PacketList() {
					if nk.MediaSSRC != 1234 || seq < 90 || seq >= 110 {
						t.Fatalf("NACK for ssrc %d seq %d left for the responder", nk.MediaSSRC, seq)
					}
				}
			}
		}
	})
}
