package packetize

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp/codecs"
)

// randomAU returns an access unit of random NAL units (SPS, PPS, AUD, filler, slices of random sizes)
// with 3- and 4-byte start codes, or now and then no start code at all.
func randomAU(r *rand.Rand) []byte {
	if r.IntN(20) == 0 {
		return append([]byte{0x65}, make([]byte, r.IntN(3000))...)
	}
	var au []byte
	for range 1 + r.IntN(6) {
		if r.IntN(2) == 0 {
			au = append(au, 0)
		}
		au = append(au, 0, 0, 1)
		types := []byte{0x67, 0x68, 0x09, 0x0c, 0x65, 0x41, 0x01}
		au = append(au, types[r.IntN(len(types))])
		n := r.IntN(4000)
		if r.IntN(3) == 0 {
			n = r.IntN(20)
		}
		for range n {
			b := byte(r.IntN(256))
			if b < 2 {
				b = 2 // no start code inside a NAL unit, as emulation prevention guarantees
			}
			au = append(au, b)
		}
	}
	return au
}

// TestH264MatchesPion: for random access units and MTUs, including SPS and PPS held over from one access
// unit to the next, the payloads are pion's, byte for byte.
func TestH264MatchesPion(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ours H264
	var pion codecs.H264Payloader
	for i := range 3000 {
		au := randomAU(r)
		mtu := []int{1, 2, 3, 20, 100, 1200, 1400}[r.IntN(7)]
		want := pion.Payload(uint16(mtu), bytes.Clone(au)) // a copy: pion keeps slices of held SPS/PPS
		got := ours.Payloads(mtu, au)
		if len(got) != len(want) {
			t.Fatalf("access unit %d (%d bytes, MTU %d): %d payloads, pion %d", i, len(au), mtu, len(got), len(want))
		}
		for k := range got {
			if !bytes.Equal(got[k], want[k]) {
				t.Fatalf("access unit %d (MTU %d): payload %d differs from pion's:\n% x\n% x", i, mtu, k,
					got[k][:min(len(got[k]), 16)], want[k][:min(len(want[k]), 16)])
			}
			if len(got[k]) > mtu {
				t.Fatalf("access unit %d: payload %d of %d bytes over MTU %d", i, k, len(got[k]), mtu)
			}
		}
	}
}

// TestH264AllocatesNothing: once its buffers have grown, a keyframe (SPS, PPS, a large IDR) and a P
// frame cost no allocation.
func TestH264AllocatesNothing(t *testing.T) {
	idr := append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65},
		bytes.Repeat([]byte{7}, 20000)...)
	p := append([]byte{0, 0, 0, 1, 0x41}, bytes.Repeat([]byte{9}, 3000)...)
	var h H264
	n := 0
	frame := func() {
		n += len(h.Payloads(1200, idr))
		n += len(h.Payloads(1200, p))
	}
	frame()
	if allocs := testing.AllocsPerRun(20, frame); allocs != 0 {
		t.Errorf("%.1f allocations per keyframe and P frame, want 0", allocs)
	}
	if n == 0 {
		t.Fatal("no payloads")
	}
}

// FuzzH264 compares the payloads of arbitrary bytes with pion's.
func FuzzH264(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3, 4, 5}, uint16(4))
	f.Add([]byte{0x65, 1, 2, 3}, uint16(2))
	f.Fuzz(func(t *testing.T, au []byte, mtu uint16) {
		var ours H264
		var pion codecs.H264Payloader
		want := pion.Payload(mtu, bytes.Clone(au))
		got := ours.Payloads(int(mtu), au)
		if len(got) != len(want) {
			t.Fatalf("%d payloads, pion %d", len(got), len(want))
		}
		for k := range got {
			if !bytes.Equal(got[k], want[k]) {
				t.Fatalf("payload %d differs from pion's", k)
			}
		}
	})
}
