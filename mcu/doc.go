// Package mcu holds rooms and participants over pion/webrtc: every participant sends camera and microphone
// over one PeerConnection and receives exactly one audio track (the mix of everyone but themselves) and one
// video track (a composited grid of everyone else). It turns RTP into decoded media (ingest), feeds the
// room's mixer.AudioMixer and mixer.Compositor, and encodes their outputs once per distinct mix or view
// (egress). Its API speaks Go method calls, not wire formats: MCU.Join, Participant.HandleOffer, Leave and
// the events of a ParticipantListener; package signaling drives it.
//
// # Goroutines
//
// Every goroutine this package starts, and what stops it:
//
//	inbound track reader   1 per pion TrackRemote (pion's OnTrack goroutine)  ends when the PeerConnection closes
//	RTCP reader            1 per RTPSender (audio, video)                     ends when the PeerConnection closes
//	disconnect timer       1 per disconnection (time.AfterFunc)               stopped on reconnect or leave
//	audio mixer loop       1 per room (mixer.AudioMixer.Run, encodes Opus)    ends when the room closes
//	compositor loop        1 per room (mixer.Compositor.Run)                  ends when the room closes
//	video output encoder   1 per compositor output (H.264)                    ends when its output or room closes
//	remover                1 per participant removed by a connection failure  ends when its leave is done (MCU.Close waits)
//
// Participant.Leave waits for the participant's goroutines, the last Leave of a room waits for the room's,
// and MCU.Close waits for all of them.
//
// # Locks
//
// Lock order: MCU.mu, then room.mu, then Participant.mu. No lock is held across a cgo call (encode, decode),
// I/O (WriteSample, WriteRTCP, PeerConnection calls) or a listener callback.
//
// # Limits
//
// Video goes out as H.264 Constrained Baseline only: a client that offers no H.264 is refused by
// HandleOffer. Server-initiated renegotiation is not used; HandleAnswer only applies an answer.
package mcu
