package peer

import (
	"testing"
	"time"
)

func TestRTPFields(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		seq     uint16
		ts      uint32
		payload int
		ok      bool
	}{
		{"plain", []byte{0x80, 0x60, 0x12, 0x34, 0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9}, 0x1234, 256, 3, true},
		{"csrc and extension", []byte{0x91, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 7, 7, 7, 7,
			0xbe, 0xde, 0, 1, 1, 2, 3, 4, 9, 9}, 1, 2, 2, true},
		{"padding", []byte{0xa0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 9, 0, 0, 3}, 1, 2, 1, true},
		{"short", []byte{0x80, 0x60, 0, 1}, 0, 0, 0, false},
		{"bad padding", []byte{0xa0, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 9, 0, 0, 30}, 0, 0, 0, false},
		{"version 1", []byte{0x40, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 9}, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, ts, payload, ok := rtpFields(tt.pkt)
			if seq != tt.seq || ts != tt.ts || payload != tt.payload || ok != tt.ok {
				t.Errorf("rtpFields(% x) = %d, %d, %d, %t; want %d, %d, %d, %t", tt.pkt, seq, ts, payload, ok,
					tt.seq, tt.ts, tt.payload, tt.ok)
			}
		})
	}
}

func TestSeqCounter(t *testing.T) {
	var s seqCounter
	for _, seq := range []uint16{65533, 65534, 65535, 1, 2, 0, 5, 5} { // wrap, a late 0, 3 and 4 lost, a duplicate
		s.packet(seq, 10)
	}
	if got := s.lost.Load(); got != 1 { // 65533..5 is 9 expected, 8 counted (one a duplicate)
		t.Errorf("lost %d, want 1", got)
	}
	if got := s.packets.Load(); got != 8 {
		t.Errorf("packets %d, want 8", got)
	}
}

// BenchmarkCountPacket is the per-packet work of a non-decoding client: header fields and counters.
func BenchmarkCountPacket(b *testing.B) {
	var r recvCounters
	r.epoch = time.Now()
	st := frameState{interval: int64(time.Second / 30)}
	pkt := make([]byte, 1200)
	pkt[0], pkt[1] = 0x80, 0x66
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		pkt[7] = byte(i / 3)
		seq, ts, n, _ := rtpFields(pkt)
		r.videoPacket(&st, seq, ts, n, r.now())
		r.audioPacket(seq, 80, r.now())
	}
}
