package mcu

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu/internal/packetize"
)

// webrtcVideoMTU is the largest video payload sent to a WebRTC peer: pion's outbound MTU (1200) less the
// RTP header, what its sample track cut frames to.
const webrtcVideoMTU = 1200 - 12

// videoTrack is a WebRTC participant's outgoing video track. H.264 access units are cut into RTP packets
// here, into reused buffers (packetize.H264: the payloads pion's sample track sent, without its
// allocations per packet), and written to an RTP track; VP8 frames go through pion's sample track. Safe
// for concurrent use.
type videoTrack struct {
	sample *webrtc.TrackLocalStaticSample // VP8; nil for H.264
	rtp    *webrtc.TrackLocalStaticRTP    // H.264; nil for VP8

	// mu serialises writers (the encoders of two outputs overlap for a frame when a participant moves
	// between them) and is held across the write: frames go out whole, one after the other.
	mu    sync.Mutex
	pay   packetize.H264
	pkt   rtp.Packet
	seq   uint16
	ts    uint32
	tsRem int64 // the fraction of a timestamp unit carried over, in units of 1/time.Second
}

// newVideoTrack returns the outgoing video track of stream in c (codec.H264 or codec.VP8), of capability
// vcap.
func newVideoTrack(c codec.VideoCodec, vcap webrtc.RTPCodecCapability, stream string) (*videoTrack, error) {
	v := &videoTrack{seq: uint16(rand.Uint32()), ts: rand.Uint32()} //nolint:gosec // RTP's random start, not a secret
	var err error
	if c == codec.VP8 {
		v.sample, err = webrtc.NewTrackLocalStaticSample(vcap, "video", stream)
	} else {
		v.rtp, err = webrtc.NewTrackLocalStaticRTP(vcap, "video", stream)
	}
	if err != nil {
		return nil, fmt.Errorf("new video track: %w", err)
	}
	return v, nil
}

// local is the track to add to the PeerConnection.
func (v *videoTrack) local() webrtc.TrackLocal {
	if v.sample != nil {
		return v.sample
	}
	return v.rtp
}

// write sends one frame that lasts d: the next frame's timestamp is d later, at 90 kHz exactly.
func (v *videoTrack) write(frame []byte, d time.Duration) error {
	if v.sample != nil {
		return v.sample.WriteSample(media.Sample{Data: frame, Duration: d})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var err error
	payloads := v.pay.Payloads(webrtcVideoMTU, frame)
	for i, p := range payloads {
		// The track sets the SSRC and payload type of each PeerConnection it is bound to.
		v.pkt.Header = rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: v.seq, Timestamp: v.ts}
		v.pkt.Payload = p
		v.seq++
		if werr := v.rtp.WriteRTP(&v.pkt); werr != nil && err == nil {
			err = werr
		}
	}
	units := int64(d)*90000 + v.tsRem
	v.ts += uint32(units / int64(time.Second)) //nolint:gosec // RTP timestamps wrap
	v.tsRem = units % int64(time.Second)
	return err
}
