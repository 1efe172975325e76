package assembler

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8Frame returns the packets of one VP8 frame of n packets, payload bytes 'a'+k for packet k.
func vp8Frame(seq uint16, ts uint32, n int) []*rtp.Packet {
	var out []*rtp.Packet
	for k := range n {
		desc := byte(0x00)
		if k == 0 {
			desc = 0x10 // S: start of a partition
		}
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{SequenceNumber: seq + uint16(k), Timestamp: ts, Marker: k == n-1},
			Payload: []byte{desc, byte('a' + k)},
		})
	}
	return out
}

type emitted struct {
	data string
	lost bool
}

func run(t *testing.T, a *Assembler, pkts []*rtp.Packet, at []time.Duration) []emitted {
	t.Helper()
	var got []emitted
	t0 := time.Unix(0, 0)
	for i, p := range pkts {
		a.Push(p, t0.Add(at[i]), func(d []byte, lost bool) { got = append(got, emitted{string(bytes.Clone(d)), lost}) })
	}
	return got
}

func TestFrameAssembler(t *testing.T) {
	f1, f2, f3 := vp8Frame(100, 1000, 3), vp8Frame(103, 4000, 2), vp8Frame(105, 7000, 2)
	cat := func(ps ...[]*rtp.Packet) []*rtp.Packet {
		var out []*rtp.Packet
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	ms := func(ds ...int) []time.Duration {
		var out []time.Duration
		for _, d := range ds {
			out = append(out, time.Duration(d)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name string
		pkts []*rtp.Packet
		at   []time.Duration
		want []emitted
	}{
		{"in order: each frame as soon as its last packet is in", cat(f1, f2, f3), ms(0, 1, 2, 33, 34, 66, 67),
			[]emitted{{"abc", false}, {"ab", false}, {"ab", false}}},
		{"reordered within a frame", []*rtp.Packet{f1[0], f1[2], f1[1], f2[0], f2[1]}, ms(0, 1, 2, 33, 34),
			[]emitted{{"abc", false}, {"ab", false}}},
		{"a missing packet retransmitted in time", []*rtp.Packet{f1[0], f1[2], f2[0], f2[1], f1[1]}, ms(0, 1, 33, 34, 60),
			[]emitted{{"abc", false}, {"ab", false}}},
		{"a missing packet given up: next clean frame flagged lost", []*rtp.Packet{f1[0], f1[2], f2[0], f2[1], f3[0], f3[1], f1[1]},
			ms(0, 1, 33, 34, 600, 601, 602), []emitted{{"ab", true}, {"ab", false}}},
		{"starts at the first frame start", cat(f1[1:], f2), ms(0, 1, 33, 34), []emitted{{"ab", false}}},
		{"frame without its tail: given up, next flagged lost", []*rtp.Packet{
			{Header: rtp.Header{SequenceNumber: 102, Timestamp: 1000}, Payload: []byte{0x10, 'x'}},
			f2[0], f2[1]}, ms(0, 33, 34), []emitted{{"ab", true}}},
		{"a hole not yet timed out holds later frames", []*rtp.Packet{f1[0], f2[0], f2[1]}, ms(0, 33, 34), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(&codecs.VP8Packet{}, 500*time.Millisecond)
			got := run(t, a, tt.pkts, tt.at)
			if len(got) != len(tt.want) {
				t.Fatalf("emitted %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("frame %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestFrameAssemblerWrapsAndSurvivesJumps(t *testing.T) {
	a := New(&codecs.VP8Packet{}, 500*time.Millisecond)
	var n int
	emit := func([]byte, bool) { n++ }
	t0 := time.Unix(0, 0)
	seq := uint16(65530)
	for i := range 20 {
		for _, p := range vp8Frame(seq, uint32(i)*3000, 3) {
			a.Push(p, t0.Add(time.Duration(i)*33*time.Millisecond), emit)
		}
		seq += 3
	}
	if n != 20 {
		t.Fatalf("emitted %d frames across the sequence wrap, want 20", n)
	}
	// A jump far ahead (a new sender, a restart) starts over cleanly.
	for _, p := range vp8Frame(seq+30000, 99000, 2) {
		a.Push(p, t0.Add(time.Second), emit)
	}
	if n != 21 {
		t.Fatalf("after a sequence jump emitted %d frames, want 21", n)
	}
}

// FuzzAssembler splits arbitrary bytes into RTP packets (sequence numbers, timestamps and markers from the
// input) and pushes them through an assembler with the H.264 depacketizer (H264) and pion's VP8 one, as
// the video readers do: nothing may panic, every frame it emits is non-empty, and an H.264 frame is
// Annex B (it starts with a start code).
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0x10, 'a', 0, 2, 1, 0, 0x00, 'b'}, true)
	f.Add([]byte{0, 1, 0, 0, 0x7c, 0x85, 'x', 0, 2, 1, 0, 0x7c, 0x45, 'y'}, false)
	f.Fuzz(func(t *testing.T, in []byte, vp8 bool) {
		var d rtp.Depacketizer = &H264{}
		if vp8 {
			d = &codecs.VP8Packet{}
		}
		a := New(d, 300*time.Millisecond)
		now := time.Unix(0, 0)
		for len(in) >= 5 {
			n := 5 + int(in[4]%16)
			if n > len(in) {
				n = len(in)
			}
			p := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(in[0])<<8 | uint16(in[1]), Timestamp: uint32(in[2]),
				Marker: in[3]&1 == 1}, Payload: append([]byte(nil), in[4:n]...)}
			in = in[n:]
			now = now.Add(time.Duration(p.Timestamp) * time.Millisecond)
			a.Push(p, now, func(data []byte, _ bool) {
				if len(data) == 0 {
					t.Fatal("an empty frame")
				}
				if !vp8 && !bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
					t.Fatalf("an H.264 frame without a start code: % x", data[:min(len(data), 8)])
				}
			})
		}
	})
}
