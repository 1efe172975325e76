package mcu

import (
	"errors"
	"time"

	"github.com/openmcu/mcu/codec"
)

// transport is how a participant's media reaches its peer, and the room's only view of what kind of
// participant it is: a WebRTC PeerConnection (webrtc.go), plain RTP (plainrtp.go), an Output
// (output.go: a recording or live stream), or a Remote (remote.go: a participant of another server,
// reached over a link). A new kind of participant is a new transport; nothing in the
// room, the mixers or the encoders changes. Each transport also runs its own ingest (its readers feed
// the participant's decoders, ingest.go) and counts its goroutines in the participant's wait group.
type transport interface {
	// writeAudio sends one encoded 20 ms frame of the participant's mix (in the codec audioCodec names),
	// from the room's mixer goroutine, and reports whether it went out. It must not block.
	writeAudio(payload []byte) bool
	// writeVideo sends one encoded picture (in videoEncoding) lasting d, from an output's encoder
	// goroutine, and reports whether it went out. It must not block.
	writeVideo(frame []byte, d time.Duration) bool
	// videoEncoding is the encoding the peer receives now; the zero value: no video (yet, or on hold).
	videoEncoding() videoEncoding
	// audioCodec is the codec of the peer's audio; 0 means Opus in the class its tier and loss choose.
	audioCodec() AudioCodec
	// mediaUp reports whether media flows to the peer, so that encoding for it is worth it.
	mediaUp() bool
	// addStats adds the transport's counts to s.
	addStats(s *Stats)
	// close ends the connection, which ends the transport's goroutines (the participant waits for
	// them), and stops its timers. Called once, when the participant leaves.
	close()
}

// errNotRTP and errNotWebRTC are returned by the negotiation methods of the other kind of participant.
var (
	errNotRTP    = errors.New("not a plain-RTP participant")
	errNotWebRTC = errors.New("not a WebRTC participant")
)

// videoEncoding is what an encoder of an output produces for its receivers: the codec and, for H.264 to
// peers in packetization mode 0, slices that each fit one RTP packet; for a recording or live stream, an
// IDR at least every keyframeInterval (a fragment or segment starts on one). Receivers of one output that
// need the same encoding share one encoder. The zero value is no video.
type videoEncoding struct {
	codec            codec.VideoCodec
	sliced           bool          // H.264 in slices of at most one RTP packet (packetization-mode 0)
	keyframeInterval time.Duration // 0: IDRs only at the start and on request
}

// none reports whether e is no video.
func (e videoEncoding) none() bool { return e.codec == 0 }

func (e videoEncoding) String() string {
	s := e.codec.String()
	if e.sliced {
		s += "/sliced"
	}
	if e.keyframeInterval > 0 {
		s += "/idr-every-" + e.keyframeInterval.String()
	}
	return s
}
