package mcu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestFrameSplitter checks that G.711 packets of 30 ms come out as 20 ms frames in order, and that a lost
// packet leaves a gap of the frames it held.
func TestFrameSplitter(t *testing.T) {
	var f frameSplitter
	buf := make([]byte, 1500)
	var out []rtp.Packet
	feed := func(seq uint16, fill byte) {
		f.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, PayloadType: 0}, Payload: bytes.Repeat([]byte{fill}, 240)}, time.Now())
		for {
			var p rtp.Packet
			if !f.next(&p, buf) {
				return
			}
			p.Payload = append([]byte(nil), p.Payload...)
			out = append(out, p)
		}
	}
	feed(10, 1)
	feed(11, 2)
	feed(11, 9) // duplicate: ignored
	if len(out) != 3 || out[0].SequenceNumber != 0 || out[2].SequenceNumber != 2 || len(out[1].Payload) != 160 ||
		out[1].Payload[0] != 1 || out[1].Payload[80] != 2 || out[2].Payload[0] != 2 {
		t.Fatalf("two 30 ms packets gave %d frames: %+v", len(out), out)
	}
	feed(13, 4) // 12 lost: 240 bytes = 1.5 frames; the half frame pending is dropped too
	last := out[len(out)-1]
	if last.SequenceNumber != 4 || last.Payload[0] != 4 {
		t.Errorf("after a lost packet the next frame is #%d (payload %d), want #4 of the new packet", last.SequenceNumber, last.Payload[0])
	}
}

// FuzzFrameSplitter feeds packets of arbitrary sizes and sequence numbers (from the input) to the
// splitter the plain-RTP audio reader uses, draining it after each as the reader does: every frame is
// exactly 20 ms and what waits stays under one packet and one frame.
func FuzzFrameSplitter(f *testing.F) {
	f.Add([]byte{0, 10, 240, 0, 11, 240, 0, 13, 80, 0, 12, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var fs frameSplitter
		buf := make([]byte, 1500)
		for ; len(in) >= 3; in = in[3:] {
			size := int(in[2]) * 5 // up to 1275 bytes, like a datagram
			fs.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(in[0])<<8 | uint16(in[1])},
				Payload: make([]byte, size)}, time.Now())
			for {
				var p rtp.Packet
				if !fs.next(&p, buf) {
					break
				}
				if len(p.Payload) != frameBytes {
					t.Fatalf("a frame of %d bytes", len(p.Payload))
				}
			}
			if len(fs.pending) >= frameBytes {
				t.Fatalf("%d bytes pending after draining", len(fs.pending))
			}
		}
	})
}
