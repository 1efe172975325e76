package rtpio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/openmcu/mcu/codec/h264"
)

func TestRTPAudioSender(t *testing.T) {
	for _, tc := range []struct {
		name      string
		clockRate int
		pt        uint8
		step      uint32
	}{{"PCMU", 8000, 0, 160}, {"PCMA", 8000, 8, 160}, {"G722", 8000, 9, 160}, {"opus", 48000, 111, 960}} {
		t.Run(tc.name, func(t *testing.T) {
			lo := netip.MustParseAddr("127.0.0.1")
			a, b := newTestStream(t, lo), newTestStream(t, lo)
			a.SetRemote(b.LocalAddr())
			in := startReader(t, b)
			snd := NewAudioSender(a, tc.pt, tc.clockRate)
			// Frames 0-2 sent, 3-4 skipped (one explicitly, one as an empty payload), 5-6 sent.
			snd.Write([]byte{0})
			snd.Write([]byte{1})
			snd.Write([]byte{2})
			snd.Skip()
			snd.Write(nil)
			snd.Write([]byte{5})
			snd.Write([]byte{6})
			var first *rtp.Packet
			for i, frame := range []int{0, 1, 2, 5, 6} {
				p := nextPacket(t, in)
				if first == nil {
					first = p
				}
				wantMarker := frame == 0 || frame == 5
				if p.PayloadType != tc.pt || p.SSRC != first.SSRC || p.SequenceNumber != first.SequenceNumber+uint16(i) ||
					p.Timestamp != first.Timestamp+uint32(frame)*tc.step || p.Marker != wantMarker ||
					len(p.Payload) != 1 || p.Payload[0] != byte(frame) {
					t.Errorf("frame %d: pt %d ssrc %x seq %d ts %d marker %v payload %v; want pt %d ssrc %x seq %d ts %d marker %v",
						frame, p.PayloadType, p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker, p.Payload,
						tc.pt, first.SSRC, first.SequenceNumber+uint16(i), first.Timestamp+uint32(frame)*tc.step, wantMarker)
				}
			}
		})
	}
}

func TestRTPAudioSenderAllocs(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	a, b := newTestStream(t, lo), newTestStream(t, lo)
	a.SetRemote(b.LocalAddr())
	snd := NewAudioSender(a, 111, 48000)
	payload := make([]byte, 80)
	if n := testing.AllocsPerRun(100, func() { snd.Write(payload) }); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
	if st := a.Stats(); st.SendErrors != 0 {
		t.Errorf("stats %+v, want no send error", st)
	}
}

// testNAL returns a NAL unit of type typ and size bytes with no start code emulation inside.
func testNAL(typ byte, size int) []byte {
	n := make([]byte, size)
	n[0] = 0x60 | typ
	for i := 1; i < size; i++ {
		n[i] = byte(1 + rand.IntN(255))
	}
	return n
}

// annexB joins NAL units with start codes, the first four bytes long and the others three.
func annexB(nals ...[]byte) []byte {
	var b []byte
	for i, n := range nals {
		if i == 0 {
			b = append(b, 0)
		}
		b = append(b, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// splitAnnexB returns the NAL units of an Annex-B stream.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	h264.SplitNALs(b, func(n []byte) { nals = append(nals, n) })
	return nals
}

func TestRTPVideoSender(t *testing.T) {
	sps, pps := testNAL(7, 24), testNAL(8, 4)
	aud := []byte{0x09, 0xf0}
	idr, p1, p2 := testNAL(5, 5000), testNAL(1, 800), testNAL(1, 1500)
	frames := [][][]byte{{aud, sps, pps, idr}, {aud, p1}, {p2}}
	const d = time.Second / 30
	for _, addr := range testLoopbacks() {
		for _, mode := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/mode%d", addr, mode), func(t *testing.T) {
				a, b := newTestStream(t, addr), newTestStream(t, addr)
				a.SetRemote(b.LocalAddr())
				in := startReaderSize(t, b, 1<<16)
				snd := NewVideoSender(a, 96, mode)
				for _, f := range frames {
					snd.WriteFrame(annexB(f...), d)
				}
				var firstTS uint32
				for i, f := range frames {
					want := f
					if bytes.Equal(f[0], aud) {
						want = f[1:] // access unit delimiters are not sent
					}
					var got [][]byte
					var h264 codecs.H264Packet
					for n := 0; ; n++ {
						p := nextPacket(t, in)
						if i == 0 && n == 0 {
							firstTS = p.Timestamp
						}
						// Frame i starts at i frame durations, at 90 kHz (a 1/30 s frame is 2999.99997 units).
						if wantTS := firstTS + uint32(int64(i)*int64(d)*90000/int64(time.Second)); p.Timestamp != wantTS ||
							p.PayloadType != 96 || p.SSRC != snd.SSRC() {
							t.Fatalf("frame %d packet %d: ts %d pt %d ssrc %x, want ts %d pt 96 ssrc %x", i, n, p.Timestamp,
								p.PayloadType, p.SSRC, wantTS, snd.SSRC())
						}
						if mode == 1 && len(p.Payload) > MTU {
							t.Errorf("frame %d packet %d: %d bytes of payload, more than the MTU %d", i, n, len(p.Payload), MTU)
						}
						if mode == 0 {
							if typ := p.Payload[0] & 0x1f; typ == 0 || typ >= 24 {
								t.Errorf("frame %d packet %d: NAL unit type %d in mode 0", i, n, typ)
							}
							got = append(got, p.Payload)
						} else {
							out, err := h264.Unmarshal(p.Payload)
							if err != nil {
								t.Fatalf("frame %d packet %d: depacketize: %v", i, n, err)
							}
							got = append(got, splitAnnexB(out)...)
						}
						if p.Marker {
							break
						}
					}
					if len(got) != len(want) {
						t.Fatalf("frame %d: %d NAL units, want %d", i, len(got), len(want))
					}
					for j := range want {
						if !bytes.Equal(got[j], want[j]) {
							t.Errorf("frame %d NAL unit %d: type %d, %d bytes; want type %d, %d bytes", i, j, got[j][0]&0x1f,
								len(got[j]), want[j][0]&0x1f, len(want[j]))
						}
					}
				}
				noPacket(t, in, 20*time.Millisecond)
				wantOversized := uint64(0)
				if mode == 0 {
					wantOversized = 2 // the IDR and p2
				}
				if st := a.Stats(); st.Oversized != wantOversized || st.SendErrors != 0 {
					t.Errorf("stats %+v, want %d oversized and no send error", st, wantOversized)
				}
			})
		}
	}
}

func TestRTPVideoSenderTimestamps(t *testing.T) {
	s := newTestStream(t, netip.MustParseAddr("127.0.0.1")) // no remote: the packets are dropped
	snd := NewVideoSender(s, 96, 1)
	start := snd.ts
	for range 300 {
		snd.WriteFrame(annexB([]byte{0x41, 1}), time.Second/30)
	}
	// 300 frames of 33333333 ns: 9999999900 ns, 899999.991 units.
	if got := snd.ts - start; got != 899999 {
		t.Errorf("300 frames of 1/30 s advanced the timestamp by %d, want 899999", got)
	}
	if st := s.Stats(); st.SendNoRemote != 300 || st.Sent != 0 {
		t.Errorf("stats %+v, want 300 dropped without remote", st)
	}
}
