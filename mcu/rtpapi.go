package mcu

import (
	"errors"
	"fmt"
	"net/netip"
)

// Plain-RTP participants: a SIP call or any RTP/AVP endpoint (no ICE, DTLS or SRTP). The signalling
// layer (signaling/sip) does the SDP offer/answer and hands the negotiated media to JoinRTP; the MCU owns
// the UDP sockets, the RTP/RTCP and the codecs.
//
// Plain RTP has no authentication, so the MCU is strict about whom it talks to (Asterisk's strictrtp):
//   - It sends nothing, RTP or RTCP, to an endpoint before an RTP or RTCP packet from it has been
//     accepted: an SDP naming a third party's address cannot make the MCU send there (what is not sent is
//     counted in the streams' SendNoRemote). It then sends to the source it latched to (symmetric RTP).
//   - It accepts packets only from the IP of the SDP address (RTPAudio.Remote, RTPVideo.Remote) or from
//     RTPMedia.SignalingAddr, the IP the signalling came from (a phone behind NAT sends from its public
//     address), on any port, and latches to the first accepted source's address and port; packets from
//     any other address are dropped and counted (Stats.RTPPacketsDropped).
//   - An endpoint from which neither RTP nor RTCP has been accepted for Config.RTPTimeout is removed
//     with ErrRTPTimeout, whatever the directions: one that only receives, or holds the call (sendonly,
//     recvonly or inactive both ways), still sends RTCP (RFC 3550 section 6, RFC 3264 section 8.4); one
//     that sends neither is gone.
// A packet spoofed from an allowed address can still latch a stream (there is no way to tell it from the
// real one in plain RTP); the signalling layer's own checks (a confirmed dialog) limit who can set the
// allowed addresses.

// AudioCodec is an audio codec a plain-RTP participant may use.
type AudioCodec int

// Audio codecs of plain-RTP participants.
const (
	PCMU AudioCodec = iota + 1 // G.711 µ-law, 8 kHz
	PCMA                       // G.711 A-law, 8 kHz
	G722                       // G.722, 16 kHz audio on an 8 kHz RTP clock
	Opus                       // Opus, 48 kHz (RTP clock 48000, "opus/48000/2")
	L16                        // linear PCM, 48 kHz mono (RFC 3551 L16 at the internal rate): the raw mix, for an Output
)

// String returns the codec's SDP encoding name: "PCMU", "PCMA", "G722", "opus" or "L16".
func (c AudioCodec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	case G722:
		return "G722"
	case Opus:
		return "opus"
	case L16:
		return "L16"
	}
	return fmt.Sprintf("AudioCodec(%d)", int(c))
}

// ClockRate returns the codec's RTP clock rate as written in SDP: 8000, except 48000 for Opus and L16.
func (c AudioCodec) ClockRate() int {
	if c == Opus || c == L16 {
		return 48000
	}
	return 8000
}

// RTPMedia is the negotiated media of a plain-RTP participant, from the signalling layer's offer/answer.
// It is plain data.
type RTPMedia struct {
	Audio *RTPAudio // nil: no audio stream
	Video *RTPVideo // nil: no video stream
	// MaxBitrate is the endpoint's b=AS / b=TIAS limit on what it receives, in bit/s; 0: none. It picks
	// the video tier like Participant.SetCaps.
	MaxBitrate int
	// SignalingAddr is the IP the endpoint's signalling came from (the source of a SIP INVITE, or the
	// address a dial-out was sent to): RTP and RTCP are accepted from it, on any port, as well as from the
	// IP of each stream's Remote. Invalid: only from Remote's IP.
	SignalingAddr netip.Addr
}

// RTPAudio is one negotiated audio stream.
type RTPAudio struct {
	Codec       AudioCodec
	PayloadType uint8
	// DTMFPayloadType is the payload type of RFC 4733 telephone-events (8000 Hz clock); 0: none. Received
	// digits go to the listener if it implements DTMFListener.
	DTMFPayloadType uint8
	// Remote is the SDP's connection address and port: where RTP goes (RTCP to the next port) once a
	// packet from the endpoint has arrived from this address, if none came from elsewhere first. The MCU
	// accepts packets from Remote's IP and SignalingAddr only, latches to the source address of the first
	// one accepted (symmetric RTP, for endpoints behind NAT), sends there, and then drops packets from any
	// other address. Nothing is sent before a packet has been accepted.
	Remote netip.AddrPort
	// Send: the MCU sends audio (the endpoint receives: sendrecv or recvonly on its side). Receive: the
	// MCU takes the endpoint's audio into the mix (sendrecv or sendonly on its side). Hold is neither.
	Send, Receive bool
}

// RTPVideo is one negotiated H.264 video stream.
type RTPVideo struct {
	PayloadType uint8
	// PacketizationMode is 0 (single NAL unit) or 1 (non-interleaved, with STAP-A and FU-A).
	PacketizationMode int
	// ProfileLevelID is the profile-level-id of the format the MCU sends (e.g. "42e01f"); empty: 42e01f.
	ProfileLevelID string
	// Remote, Send and Receive are as for RTPAudio.
	Remote        netip.AddrPort
	Send, Receive bool
}

// RTPLocal is where a plain-RTP participant's media arrives at the MCU: the addresses for the SDP
// answer. RTCP is on the port after each. A zero AddrPort: no such stream.
type RTPLocal struct {
	Audio, Video netip.AddrPort
}

// DTMFListener is implemented by a ParticipantListener that wants the RFC 4733 digits ('0'-'9', '*',
// '#', 'A'-'D') a plain-RTP participant sends; OnDTMF is called once per key press, from the participant's
// audio reader goroutine, and must return quickly.
type DTMFListener interface {
	OnDTMF(digit rune)
}

// ErrRTPTimeout is the reason a plain-RTP participant is removed when neither RTP nor RTCP has been
// accepted from it for Config.RTPTimeout, whatever the negotiated directions (hold included).
var ErrRTPTimeout = errors.New("no rtp or rtcp received")
