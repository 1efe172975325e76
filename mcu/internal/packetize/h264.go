// Package packetize splits encoded video into RTP payloads in buffers it reuses, so that a sender
// allocates nothing per frame.
package packetize

import (
	"bytes"
	"encoding/binary"
)

// H.264 NAL unit types and RTP payload structures (RFC 6184).
const (
	nalSPS    = 7
	nalPPS    = 8
	nalAUD    = 9
	nalFiller = 12
	stapA     = 24
	fuA       = 28

	// stapAHeader is the STAP-A NAL unit header pion writes: F 0, NRI 3, type 24.
	stapAHeader = 0x60 | stapA
)

// H264 splits H.264 access units in Annex B form (start codes, as the encoder emits them) into RTP
// payloads of packetization mode 1, byte for byte as pion's codecs.H264Payloader (which the receivers
// and tests were checked against): access unit delimiters and filler data are left out, an SPS and a PPS
// go out together in a STAP-A before the next NAL unit, a NAL unit larger than the MTU is cut into FU-A
// fragments. Unlike pion's, it copies the SPS and PPS it holds (pion keeps slices of the caller's
// buffer), and what it returns lives in its own reused memory. It belongs to one goroutine.
type H264 struct {
	sps, pps []byte // held until the next NAL unit, when both are set
	haveSPS  bool
	havePPS  bool
	buf      []byte   // every payload of the last call, back to back
	ends     []int    // where each payload ends in buf
	out      [][]byte // the payloads, slices of buf
}

// Payloads returns the payloads of the access unit au, each at most mtu bytes. They are valid until the
// next call.
func (h *H264) Payloads(mtu int, au []byte) [][]byte {
	h.buf, h.ends, h.out = h.buf[:0], h.ends[:0], h.out[:0]
	if len(au) == 0 {
		return h.out
	}
	splitNALs(au, func(nal []byte) { h.nal(mtu, nal) })
	start := 0
	for _, end := range h.ends {
		h.out = append(h.out, h.buf[start:end:end])
		start = end
	}
	return h.out
}

// nal adds the payloads of one NAL unit.
func (h *H264) nal(mtu int, nal []byte) {
	if len(nal) == 0 {
		return
	}
	typ, nri := nal[0]&0x1f, nal[0]&0x60
	switch {
	case typ == nalAUD || typ == nalFiller:
		return
	case typ == nalSPS:
		h.sps, h.haveSPS = append(h.sps[:0], nal...), true
		return
	case typ == nalPPS:
		h.pps, h.havePPS = append(h.pps[:0], nal...), true
		return
	case h.haveSPS && h.havePPS:
		if 1+2+len(h.sps)+2+len(h.pps) <= mtu {
			h.buf = append(h.buf, stapAHeader)
			h.buf = binary.BigEndian.AppendUint16(h.buf, uint16(len(h.sps))) //nolint:gosec // a NAL unit of an MTU-sized STAP-A
			h.buf = append(h.buf, h.sps...)
			h.buf = binary.BigEndian.AppendUint16(h.buf, uint16(len(h.pps))) //nolint:gosec // as above
			h.buf = append(h.buf, h.pps...)
			h.ends = append(h.ends, len(h.buf))
		}
		h.haveSPS, h.havePPS = false, false
	}
	if len(nal) <= mtu {
		h.buf = append(h.buf, nal...)
		h.ends = append(h.ends, len(h.buf))
		return
	}
	// FU-A: the NAL unit header goes into the FU indicator (F, NRI) and header (type); its payload is
	// cut into fragments of at most mtu-2 bytes.
	maxFragment := mtu - 2
	rest := nal[1:]
	if min(maxFragment, len(rest)) <= 0 {
		return
	}
	for first := true; len(rest) > 0; first = false {
		n := min(maxFragment, len(rest))
		fu := typ
		if first {
			fu |= 0x80 // S
		} else if n == len(rest) {
			fu |= 0x40 // E
		}
		h.buf = append(h.buf, fuA|nri, fu)
		h.buf = append(h.buf, rest[:n]...)
		h.ends = append(h.ends, len(h.buf))
		rest = rest[n:]
	}
}

// splitNALs calls emit for each NAL unit of the Annex B stream b, found as pion finds them: b without a
// start code is one NAL unit, and a zero byte before a start code belongs to it.
func splitNALs(b []byte, emit func([]byte)) {
	startCode := []byte{0, 0, 1} // a 4-byte one is a zero byte before it
	start := bytes.Index(b, startCode)
	if start == -1 {
		emit(b)
		return
	}
	offset := 3
	for start < len(b) {
		end := bytes.Index(b[start+offset:], startCode)
		if end == -1 {
			emit(b[start+offset:])
			return
		}
		next := start + offset + end
		four := b[next-1] == 0
		if four {
			next--
		}
		emit(b[start+offset : next])
		start = next
		offset = 3
		if four {
			offset = 4
		}
	}
}
