package dtmf

import (
	"encoding/binary"
	"strings"
	"testing"
)

// dtmfPacket is one telephone-event packet.
type dtmfPacket struct {
	payload []byte
	ts      uint32
	marker  bool
}

// dtmfPress returns the packets an endpoint sends for one key press of event e starting at ts: the
// first with the marker bit, repetitions with growing durations, and the end packet three times.
func dtmfPress(e uint8, ts uint32, repeats int) []dtmfPacket {
	block := func(end bool, duration uint16) []byte {
		b := []byte{e, 10, 0, 0}
		if end {
			b[1] |= 0x80
		}
		binary.BigEndian.PutUint16(b[2:], duration)
		return b
	}
	pkts := []dtmfPacket{{block(false, 160), ts, true}}
	for i := range repeats {
		pkts = append(pkts, dtmfPacket{block(false, uint16(320+160*i)), ts, false})
	}
	for range 3 {
		pkts = append(pkts, dtmfPacket{block(true, uint16(320+160*repeats)), ts, false})
	}
	return pkts
}

// concat joins packet sequences.
func concat(seqs ...[]dtmfPacket) []dtmfPacket {
	var all []dtmfPacket
	for _, s := range seqs {
		all = append(all, s...)
	}
	return all
}

func TestDTMFDecoder(t *testing.T) {
	all := func() []dtmfPacket {
		var pkts []dtmfPacket
		for e := range uint8(16) {
			pkts = append(pkts, dtmfPress(e, 1000+uint32(e)*2000, 2)...)
		}
		return pkts
	}
	// A long event: its second segment has a new timestamp, no marker bit and the same event.
	long := dtmfPress(5, 5000, 1)
	long = append(long[:2], dtmfPacket{[]byte{5, 10, 0xff, 0xff}, 5000, false},
		dtmfPacket{[]byte{5, 10, 0, 160}, 5000 + 0xffff, false}, dtmfPacket{[]byte{5, 0x8a, 3, 0}, 5000 + 0xffff, false},
		dtmfPacket{[]byte{5, 0x8a, 3, 0}, 5000 + 0xffff, false})
	// Lost packets: a press whose first packets are lost, and a press whose end packets are all lost.
	noStart := dtmfPress(1, 9000, 3)[3:]
	noEnd := dtmfPress(2, 12000, 3)[:4]
	press4 := dtmfPress(4, 20000, 1)
	for _, tc := range []struct {
		name string
		pkts []dtmfPacket
		want string
	}{
		{"every key", all(), "0123456789*#ABCD"},
		{"one press", dtmfPress(7, 100, 5), "7"},
		{"same key twice", concat(dtmfPress(3, 100, 4), dtmfPress(3, 1900, 4)), "33"},
		{"same key twice without end packets", concat(dtmfPress(3, 100, 4)[:5], dtmfPress(3, 1900, 4)), "33"},
		{"timestamp wraps", concat(dtmfPress(1, 0xffffff00, 2), dtmfPress(2, 0x100, 2)), "12"},
		{"long event", concat(long, dtmfPress(5, 5000+0xffff+2000, 1)), "55"},
		{"lost packets", concat(noStart, noEnd, dtmfPress(2, 15000, 2)), "122"},
		{"late packet of an earlier press", concat(press4[:2], dtmfPress(6, 21000, 1), press4[2:]), "46"},
		{"malformed and other events", []dtmfPacket{
			{nil, 1, true}, {[]byte{1, 2, 3}, 2, true}, {[]byte{16, 10, 0, 160}, 3, true}, {[]byte{200, 10, 0, 160}, 4, true},
		}, ""},
	} {
		var d Decoder
		var got []rune
		for _, p := range tc.pkts {
			if digit, ok := d.Push(p.payload, p.ts, p.marker); ok {
				got = append(got, digit)
			}
		}
		if string(got) != tc.want {
			t.Errorf("%s: digits %q, want %q", tc.name, string(got), tc.want)
		}
	}
}

// FuzzDecoder feeds arbitrary telephone-event payloads, with arbitrary timestamps and markers, to a
// decoder: nothing may panic, and every key press it reports is a DTMF key.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{1, 0x0a, 0, 160, 1, 0x8a, 1, 64}, uint32(1000), true)
	f.Add([]byte{11}, uint32(0), false)
	f.Add([]byte{}, uint32(5), true)
	f.Fuzz(func(t *testing.T, in []byte, ts uint32, marker bool) {
		var d Decoder
		for i := 0; i+1 <= len(in); i += 4 {
			digit, ok := d.Push(in[i:], ts+uint32(i), marker && i == 0)
			if ok && !strings.ContainsRune("0123456789*#ABCD", digit) {
				t.Fatalf("digit %q", digit)
			}
		}
	})
}
