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

// packet copies p into a Packet's own memory, as a reader would have read it.
func packet(p *rtp.Packet) *Packet {
	pk := &Packet{}
	pk.reset()
	pk.Header = p.Header
	pk.Payload = pk.Buf[:copy(pk.Buf[:], p.Payload)]
	return pk
}

// scribbler is a Recycler that checks that an assembler gives every packet back once, and only when it
// no longer needs it: it overwrites each packet it gets (header and memory), so a frame built from a
// packet given back too early comes out wrong.
type scribbler struct {
	t      testing.TB
	pushed int
	back   map[*Packet]bool
}

func newScribbler(t testing.TB) *scribbler { return &scribbler{t: t, back: map[*Packet]bool{}} }

func (s *scribbler) Put(p *Packet) {
	if s.back[p] {
		s.t.Fatalf("packet %d given back twice", p.SequenceNumber)
	}
	s.back[p] = true
	for i := range p.Buf {
		p.Buf[i] = 0xee
	}
	p.SequenceNumber += 0x5555
	p.Timestamp ^= 0xffffffff
	p.Marker = !p.Marker
}

// push gives the assembler a copy of p, counting it.
func (s *scribbler) push(a *Assembler, p *rtp.Packet, now time.Time, emit func([]byte, bool)) {
	s.pushed++
	a.Push(packet(p), now, emit)
}

// check verifies that every packet pushed is held by a or was given back, then that Close gives back
// the rest.
func (s *scribbler) check(a *Assembler) {
	held := 0
	for _, p := range a.slots {
		if p != nil {
			if s.back[p] {
				s.t.Fatalf("packet %d given back while still held", p.SequenceNumber)
			}
			held++
		}
	}
	if held+len(s.back) != s.pushed {
		s.t.Fatalf("%d packets pushed, %d held, %d given back: %d lost", s.pushed, held, len(s.back),
			s.pushed-held-len(s.back))
	}
	a.Close()
	if len(s.back) != s.pushed {
		s.t.Fatalf("after Close %d of %d packets given back", len(s.back), s.pushed)
	}
}

type emitted struct {
	data string
	lost bool
}

func run(t *testing.T, a *Assembler, pkts []*rtp.Packet, at []time.Duration) []emitted {
	t.Helper()
	var got []emitted
	t0 := time.Unix(0, 0)
	s := newScribbler(t)
	a.recycler = s
	for i, p := range pkts {
		s.push(a, p, t0.Add(at[i]), func(d []byte, lost bool) { got = append(got, emitted{string(bytes.Clone(d)), lost}) })
	}
	s.check(a)
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
			a := New(&codecs.VP8Packet{}, 500*time.Millisecond, nil)
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
	s := newScribbler(t)
	a := New(&codecs.VP8Packet{}, 500*time.Millisecond, s)
	var n int
	emit := func([]byte, bool) { n++ }
	t0 := time.Unix(0, 0)
	seq := uint16(65530)
	for i := range 20 {
		for _, p := range vp8Frame(seq, uint32(i)*3000, 3) {
			s.push(a, p, t0.Add(time.Duration(i)*33*time.Millisecond), emit)
		}
		seq += 3
	}
	if n != 20 {
		t.Fatalf("emitted %d frames across the sequence wrap, want 20", n)
	}
	// A jump far ahead (a new sender, a restart) starts over cleanly.
	for _, p := range vp8Frame(seq+30000, 99000, 2) {
		s.push(a, p, t0.Add(time.Second), emit)
	}
	if n != 21 {
		t.Fatalf("after a sequence jump emitted %d frames, want 21", n)
	}
	s.check(a)
}

// FuzzAssembler splits arbitrary bytes into RTP packets (sequence numbers, timestamps and markers from the
// input) and pushes them through an assembler with the H.264 depacketizer (H264) and pion's VP8 one, as
// the video readers do: nothing may panic, every frame it emits is non-empty, an H.264 frame is Annex B
// (it starts with a start code), and every packet is given back once, never while it is still held
// (scribbler).
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0x10, 'a', 0, 2, 1, 0, 0x00, 'b'}, true)
	f.Add([]byte{0, 1, 0, 0, 0x7c, 0x85, 'x', 0, 2, 1, 0, 0x7c, 0x45, 'y'}, false)
	f.Fuzz(func(t *testing.T, in []byte, vp8 bool) {
		var d rtp.Depacketizer = &H264{}
		if vp8 {
			d = &codecs.VP8Packet{}
		}
		s := newScribbler(t)
		a := New(d, 300*time.Millisecond, s)
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
			s.push(a, p, now, func(data []byte, _ bool) {
				if len(data) == 0 {
					t.Fatal("an empty frame")
				}
				if !vp8 && !bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
					t.Fatalf("an H.264 frame without a start code: % x", data[:min(len(data), 8)])
				}
			})
		}
		s.check(a)
	})
}

// freeList is a Recycler that keeps what it gets for reuse, as a Pool does (without sync.Pool, which
// the race detector makes drop items at random).
type freeList []*Packet

func (f *freeList) Put(p *Packet) {
	p.reset()
	*f = append(*f, p)
}

func (f *freeList) get() *Packet {
	if n := len(*f); n > 0 {
		p := (*f)[n-1]
		*f = (*f)[:n-1]
		return p
	}
	p := &Packet{}
	p.reset()
	return p
}

// TestAssemblerAllocatesNothing reads H.264 frames the way a video reader does, each datagram
// unmarshalled into a recycled Packet (header extensions and CSRCs included) and pushed: once the
// packets are warm, a frame costs no allocation.
func TestAssemblerAllocatesNothing(t *testing.T) {
	var pl codecs.H264Payloader
	nal := make([]byte, 4000)
	nal[0] = 0x65
	var datagrams [][]byte
	for i, payload := range pl.Payload(1200, append([]byte{0, 0, 0, 1}, nal...)) {
		h := rtp.Header{Version: 2, SequenceNumber: uint16(i), CSRC: []uint32{7, 8}}
		for id := uint8(1); id <= 3; id++ {
			if err := h.SetExtension(id, []byte{id, id}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		datagrams = append(datagrams, b)
	}
	var free freeList
	a := New(&H264{}, 300*time.Millisecond, &free)
	frames := 0
	emit := func([]byte, bool) { frames++ }
	seq, ts := uint16(0), uint32(0)
	frame := func() {
		for i, d := range datagrams {
			p := free.get()
			n := copy(p.Buf[:], d)
			if err := p.Unmarshal(p.Buf[:n]); err != nil {
				t.Fatal(err)
			}
			p.SequenceNumber, p.Timestamp, p.Marker = seq, ts, i == len(datagrams)-1
			seq++
			a.Push(p, time.Unix(0, 0), emit)
		}
		ts += 3000
	}
	frame()
	if allocs := testing.AllocsPerRun(50, frame); allocs != 0 {
		t.Errorf("%.1f allocations per frame of %d packets, want 0", allocs, len(datagrams))
	}
	if frames != 52 {
		t.Errorf("%d frames emitted, want 52", frames)
	}
}

// TestPoolPacketsOwnTheirLists: a reader may point a packet's lists at memory of its own (the remote
// reader copies a whole packet in); a packet back from the Pool points at its own arrays again.
func TestPoolPacketsOwnTheirLists(t *testing.T) {
	var pool Pool
	p := pool.Get()
	if cap(p.CSRC) != len(p.csrc) || cap(p.Extensions) != len(p.ext) {
		t.Fatalf("a new packet's lists have room for %d CSRCs and %d extensions, want %d and %d",
			cap(p.CSRC), cap(p.Extensions), len(p.csrc), len(p.ext))
	}
	other := rtp.Packet{Header: rtp.Header{CSRC: []uint32{1}, Extensions: []rtp.Extension{{}}}, Payload: []byte{1}}
	p.Packet = other
	pool.Put(p)
	if p.Payload != nil || len(p.CSRC) != 0 || &p.CSRC[:1][0] != &p.csrc[0] || &p.Extensions[:1][0] != &p.ext[0] {
		t.Fatal("a packet given back still points at the reader's memory")
	}
}
