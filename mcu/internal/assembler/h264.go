package assembler

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp/codecs"
)

// Appender is a depacketizer that writes into the assembler's frame buffer instead of returning a new
// slice for every packet (pion's H.264 depacketizer allocates two or three per packet: at 41
// participants, two fifths of everything the server allocated). The assembler uses AppendPayload when
// its depacketizer has it.
type Appender interface {
	// AppendPayload appends the codec data of one packet's payload to frame, the data of the frame's
	// earlier packets (empty at a frame's first packet), and returns it; last says this is the frame's
	// last packet. On an error the frame is lost.
	AppendPayload(frame, payload []byte, last bool) ([]byte, error)
}

// H264 depacketizes H.264 (RFC 6184, packetization modes 0 and 1: single NAL units, STAP-A, FU-A) to
// Annex B, as pion's codecs.H264Packet does for whole frames, into the caller's buffer. It belongs to
// one assembler.
type H264 struct {
	codecs.H264Packet // IsPartitionHead, IsPartitionTail (and Unmarshal, unused by the assembler)

	inFU bool // the frame so far ends inside a fragmented NAL unit
}

// H.264 NAL unit types and sizes of RFC 6184.
const (
	stapA         = 24
	fuA           = 28
	fuStart       = 0x80
	fuEnd         = 0x40
	stapASizeSize = 2
)

var startCode = []byte{0, 0, 0, 1}

// errH264 is the cause of every payload H264 refuses.
var errH264 = errors.New("h264 payload")

// AppendPayload implements Appender.
func (h *H264) AppendPayload(frame, payload []byte, last bool) ([]byte, error) {
	if len(frame) == 0 {
		h.inFU = false
	}
	frame, err := h.appendPayload(frame, payload)
	if err == nil && last && h.inFU {
		err = fmt.Errorf("%w: the frame ended inside a fragmented unit", errH264)
	}
	return frame, err
}

func (h *H264) appendPayload(frame, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return frame, fmt.Errorf("%w: empty", errH264)
	}
	typ := payload[0] & 0x1f
	if typ != fuA && h.inFU {
		// The fragmented NAL unit before ended without its last fragment.
		h.inFU = false
		return frame, fmt.Errorf("%w: fragmented unit cut short by type %d", errH264, typ)
	}
	switch {
	case typ > 0 && typ < stapA:
		frame = append(frame, startCode...)
		return append(frame, payload...), nil
	case typ == stapA:
		for rest := payload[1:]; len(rest) >= stapASizeSize; {
			n := int(binary.BigEndian.Uint16(rest))
			rest = rest[stapASizeSize:]
			if n > len(rest) {
				return frame, fmt.Errorf("%w: STAP-A unit of %d bytes in %d", errH264, n, len(rest))
			}
			frame = append(frame, startCode...)
			frame = append(frame, rest[:n]...)
			rest = rest[n:]
		}
		return frame, nil
	case typ == fuA:
		if len(payload) < 2 {
			return frame, fmt.Errorf("%w: FU-A of %d bytes", errH264, len(payload))
		}
		start, end := payload[1]&fuStart != 0, payload[1]&fuEnd != 0
		switch {
		case start && h.inFU:
			h.inFU = false
			return frame, fmt.Errorf("%w: fragmented unit cut short by another", errH264)
		case start:
			frame = append(frame, startCode...)
			frame = append(frame, payload[0]&0xe0|payload[1]&0x1f)
		case !h.inFU:
			return frame, fmt.Errorf("%w: FU-A fragment without its start", errH264)
		}
		h.inFU = !end
		return append(frame, payload[2:]...), nil
	}
	return frame, fmt.Errorf("%w: unsupported NAL unit type %d", errH264, typ)
}
