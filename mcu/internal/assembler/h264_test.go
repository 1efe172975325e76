package assembler

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// appendAll depacketizes one frame's payloads with a fresh H264.
func appendAll(payloads [][]byte) ([]byte, error) {
	var h H264
	var frame []byte
	for i, p := range payloads {
		var err error
		if frame, err = h.AppendPayload(frame, p, i == len(payloads)-1); err != nil {
			return frame, err
		}
	}
	return frame, nil
}

// TestH264MatchesPion: frames of random NAL units (SPS and PPS aggregated into STAP-A, small units
// whole, large ones in FU-A fragments), packetized by pion's payloader at several MTUs, come out of H264
// exactly as out of pion's depacketizer, and as the units in Annex B.
func TestH264MatchesPion(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	types := map[byte]int{}
	defer func() {
		if types[stapA] == 0 || types[fuA] == 0 || types[5] == 0 {
			t.Errorf("packet types seen %v: want STAP-A (24), FU-A (28) and whole units", types)
		}
	}()
	for i := range 300 {
		var units [][]byte
		if i%3 == 0 {
			units = append(units, []byte{0x67, 0x42, 0xc0, 0x1f, byte(i)}, []byte{0x68, 0xce, 0x3c, 0x80})
		}
		for range 1 + r.IntN(4) {
			u := make([]byte, 1+r.IntN(5000))
			for k := range u {
				u[k] = byte(r.IntN(256))
			}
			u[0] = byte(r.IntN(4))<<5 | []byte{1, 5, 6}[r.IntN(3)]
			units = append(units, u)
		}
		var annexB []byte
		for _, u := range units {
			annexB = append(append(annexB, 0, 0, 0, 1), u...)
		}
		mtu := uint16(100 + r.IntN(1400))
		var payloads [][]byte
		var pl codecs.H264Payloader
		for _, u := range units {
			payloads = append(payloads, pl.Payload(mtu, append([]byte{0, 0, 0, 1}, u...))...)
		}
		for _, p := range payloads {
			types[p[0]&0x1f]++
		}
		got, err := appendAll(payloads)
		if err != nil {
			t.Fatalf("frame %d (mtu %d, %d packets): %v", i, mtu, len(payloads), err)
		}
		var pion codecs.H264Packet
		var want []byte
		for _, p := range payloads {
			d, err := pion.Unmarshal(p)
			if err != nil {
				t.Fatalf("frame %d: pion: %v", i, err)
			}
			want = append(want, d...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d (mtu %d): %d bytes, pion's %d", i, mtu, len(got), len(want))
		}
		if !bytes.Equal(got, annexB) {
			t.Fatalf("frame %d (mtu %d): not the units in Annex B", i, mtu)
		}
	}
}

// TestH264Refuses: malformed or unsupported payloads fail the frame.
func TestH264Refuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		payloads [][]byte
	}{
		{"empty payload", [][]byte{{}}},
		{"NAL type 0", [][]byte{{0x00, 1}}},
		{"STAP-B", [][]byte{{0x19, 0, 1, 0x65}}},
		{"FU-B", [][]byte{{0x1d, 0x85, 1}}},
		{"STAP-A unit past the end", [][]byte{{0x18, 0, 9, 0x65, 1}}},
		{"FU-A of one byte", [][]byte{{0x7c}}},
		{"FU-A middle without a start", [][]byte{{0x7c, 0x05, 1}}},
		{"FU-A end without a start", [][]byte{{0x7c, 0x45, 1}}},
		{"FU-A start after a start", [][]byte{{0x7c, 0x85, 1}, {0x7c, 0x85, 2}, {0x7c, 0x45, 3}}},
		{"FU-A cut short by a single unit", [][]byte{{0x7c, 0x85, 1}, {0x65, 2}}},
		{"frame ends inside FU-A", [][]byte{{0x7c, 0x85, 1}, {0x7c, 0x05, 2}}},
	} {
		if _, err := appendAll(tc.payloads); !errors.Is(err, errH264) {
			t.Errorf("%s: error %v, want errH264", tc.name, err)
		}
	}
	// A fragment left open by a frame that failed does not carry into the next frame.
	var h H264
	if _, err := h.AppendPayload(nil, []byte{0x7c, 0x85, 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.AppendPayload(nil, []byte{0x7c, 0x45, 2}, true); err == nil {
		t.Error("an end fragment at the start of a new frame was taken for the end of the last frame's unit")
	}
}

// TestAssemblerWithH264: the assembler takes the Appender path for H264 and emits a fragmented frame
// (an IDR in FU-A behind a STAP-A of SPS and PPS) as its units in Annex B, and twice in a row (its
// buffer and the depacketizer's state reused).
func TestAssemblerWithH264(t *testing.T) {
	idr := make([]byte, 3000)
	for i := range idr {
		idr[i] = byte(i)
	}
	idr[0] = 0x65
	sps, pps := []byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x68, 0xce, 0x3c, 0x80}
	var pl codecs.H264Payloader
	var payloads [][]byte
	for _, u := range [][]byte{sps, pps, idr} {
		payloads = append(payloads, pl.Payload(1200, append([]byte{0, 0, 0, 1}, u...))...)
	}
	var want []byte
	for _, u := range [][]byte{sps, pps, idr} {
		want = append(append(want, 0, 0, 0, 1), u...)
	}
	s := newScribbler(t)
	a := New(&H264{}, 300*time.Millisecond, s)
	var got [][]byte
	seq := uint16(100)
	for ts := uint32(0); ts < 2; ts++ {
		for i, p := range payloads {
			pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts * 3000, Marker: i == len(payloads)-1},
				Payload: p}
			seq++
			s.push(a, pkt, time.Unix(0, 0), func(d []byte, lost bool) {
				if lost {
					t.Error("a frame reported lost")
				}
				got = append(got, bytes.Clone(d))
			})
		}
	}
	if len(payloads) < 4 || len(got) != 2 || !bytes.Equal(got[0], want) || !bytes.Equal(got[1], want) {
		t.Fatalf("%d packets gave %d frames, want 2 of the %d bytes in Annex B", len(payloads), len(got), len(want))
	}
	s.check(a)
}
