package mcu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu/internal/assembler"
)

// bindingContext binds a track as a PeerConnection would, with one H.264 codec, and keeps the packets
// written to it.
type bindingContext struct {
	pkts []rtp.Packet
}

func (c *bindingContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: h264FmtpCB}, PayloadType: 102}}
}
func (c *bindingContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *bindingContext) SSRC() webrtc.SSRC                                      { return 0x1234 }
func (c *bindingContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c *bindingContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *bindingContext) WriteStream() webrtc.TrackLocalWriter                   { return c }
func (c *bindingContext) ID() string                                             { return "test" }
func (c *bindingContext) RTCPReader() interceptor.RTCPReader                     { return nil }
func (c *bindingContext) Write(b []byte) (int, error)                            { return len(b), nil }
func (c *bindingContext) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	c.pkts = append(c.pkts, rtp.Packet{Header: *h, Payload: bytes.Clone(payload)})
	return len(payload), nil
}

// TestVideoTrackPackets: an H.264 videoTrack sends each access unit as packets with consecutive sequence
// numbers across frames, one timestamp per frame advancing by its duration at 90 kHz exactly (a 30 fps
// frame is 33333333 ns, 2999.99997 units: the fractions carried, frame f starts at f x d, not f x 2999),
// the marker on each frame's last packet, the binding's SSRC and
// payload type, payloads within the MTU, and the access unit back when depacketized.
func TestVideoTrackPackets(t *testing.T) {
	vcap := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpCB}
	v, err := newVideoTrack(codec.H264, vcap, "s")
	if err != nil {
		t.Fatal(err)
	}
	var ctx bindingContext
	if _, err := v.rtp.Bind(&ctx); err != nil {
		t.Fatal(err)
	}
	idr := bytes.Repeat([]byte{0x65, 7, 7, 7}, 1500)
	au := append([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1}, idr...)
	frames := 6
	d := time.Second / 30
	for range frames {
		if err := v.write(au, d); err != nil {
			t.Fatal(err)
		}
	}
	first := ctx.pkts[0]
	perFrame := len(ctx.pkts) / frames
	if perFrame < 6 || len(ctx.pkts) != perFrame*frames {
		t.Fatalf("%d packets for %d frames of %d bytes", len(ctx.pkts), frames, len(au))
	}
	asm := assembler.New(&assembler.H264{}, time.Second, nil)
	got := 0
	for i, p := range ctx.pkts {
		f := i / perFrame
		wantTS := first.Timestamp + uint32(int64(f)*int64(d)*90000/int64(time.Second))
		if p.SequenceNumber != first.SequenceNumber+uint16(i) || p.Timestamp != wantTS ||
			p.Marker != (i%perFrame == perFrame-1) || p.SSRC != 0x1234 || p.PayloadType != 102 ||
			len(p.Payload) > webrtcVideoMTU {
			t.Fatalf("packet %d: seq %d ts %d marker %v ssrc %x pt %d, %d bytes; want seq %d ts %d",
				i, p.SequenceNumber, p.Timestamp, p.Marker, p.SSRC, p.PayloadType, len(p.Payload),
				first.SequenceNumber+uint16(i), wantTS)
		}
		pk := &assembler.Packet{}
		pk.Header, pk.Payload = p.Header, p.Payload
		asm.Push(pk, time.Unix(0, 0), func(data []byte, _ bool) {
			got++
			if !bytes.Equal(data, au) {
				t.Errorf("frame %d depacketized to %d bytes, want the %d sent", got, len(data), len(au))
			}
		})
	}
	if got != frames {
		t.Fatalf("%d frames depacketized, want %d", got, frames)
	}
}
