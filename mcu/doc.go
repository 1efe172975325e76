// Package mcu holds rooms and participants: every participant sends its audio and video and receives
// exactly one audio stream (the mix of everyone but itself) and one video stream (a composited picture
// of the others). It turns what participants send into decoded media (ingest), feeds each room's
// mixer.AudioMixer and mixer.Compositor, and encodes their outputs once per distinct mix or view and tier
// (egress). Its API speaks Go method calls, not wire formats: MCU.Join / JoinRTP, Participant.HandleOffer
// / UpdateRTP, Leave and the events of a ParticipantListener; package signaling drives it.
//
// # Files, by pipeline stage
//
//	mcu.go         the MCU: New, Join, Close
//	membership.go  joining and leaving a room, the roster events
//	room.go        a room: its mixers' goroutines, closing, failing alone
//	participant.go a participant: mute, layout, caps and tier, leaving; its transport
//	transport.go   the interface between a participant and what carries its media
//	webrtc.go      the WebRTC transport (pion PeerConnection): negotiation, tracks, RTCP, its ingest
//	plainrtp.go    the plain-RTP transport (SIP calls): sockets, strict RTP, senders, its ingest
//	remote.go      the remote transport (cascading): another server's participant, RTP pushed by a link
//	forward.go     forwarders (cascading): a room's local participants and their original RTP, for a link
//	ingest.go      decoding: audio frames with concealment, video frames of the visible
//	egress.go      encoding: per mix and audio class, per view, tier and video encoding; fan-out
//	bwe.go         bandwidth estimation (GCC on TWCC) into tiers; link quality
//	stats.go       counters and snapshots
//	config.go, tier.go, layout.go, rtpapi.go, panic.go: settings, tiers, layouts, plain-RTP types, recovery
//
// The room-free pieces are small packages under internal/: rtpio (plain RTP streams, reports, senders),
// assembler (video frames from RTP), tierctl (the tier controller), nackfilter, dtmf, latency, pionlog.
//
// A participant talks to its transport through one small interface (transport): write audio, write
// video, which video encoding and audio codec it needs, whether its media is up, close. A new kind of
// participant (a recorder, a live stream, a link to another server) is a new transport; the room, the
// mixers and the encoders do not change.
//
// # Cascading
//
// One room may span several servers, each serving its own participants, linked (like Pexip's): over a
// link each server sends its local participants' original camera video and voice (RTP as it arrived,
// not re-encoded), and each decodes what it receives once and composes and mixes for its own receivers,
// so there are no nested grids and no second encode. On the sending side MCU.Forward registers a
// Forwarder on the room: it is told of every local participant (not viewers, outputs or remotes), its
// mute changes, the start of each stream and a copy of every packet, taken by the track readers before
// decoding (whether or not the picture is visible here), and of its leaving; MCU.RequestKeyframe asks a
// local camera for a keyframe the other side's decoder needs. On the receiving side MCU.JoinRemote adds
// a Remote for each participant of the other server: a member of kind "remote" in everyone's roster, a
// source of the compositor and the mixer but never a receiver or listener, whose transport is a pair of
// bounded queues (drop the oldest, never block the link) read by the same ingest as a WebRTC track; its
// keyframe requests go back through RemoteOptions.OnKeyframeNeeded. Remotes are never forwarded, so
// nothing loops back, and mix-minus holds across servers: a voice returns to nobody who spoke it.
// Remotes count towards Config.MaxRemotes only (the other server admitted them), are not reported to
// the EventListener, and do not keep a room open. The link itself (WebRTC between servers, the roster
// on a data channel) is package signaling's. Not forwarded yet: screens; every camera is forwarded,
// whether or not the other server shows it.
//
// # Goroutines
//
// Every goroutine this package starts, and what stops it:
//
//	inbound track reader   1 per pion TrackRemote (pion's OnTrack goroutine)    ends when the PeerConnection closes
//	RTCP reader            1 per RTPSender (audio, video)                       ends when the PeerConnection closes
//	bandwidth estimation   1 per WebRTC participant with TWCC (runBWE)          ends when the participant leaves
//	plain-RTP readers      1 per plain-RTP stream (audio, video)                end when the stream's sockets close
//	plain-RTP RTCP         2 per plain-RTP stream (RTCP reader, reporter)       end when the stream closes
//	RTP timeout watch      1 per plain-RTP participant (watch)                  ends when the participant leaves
//	remote readers         2 per Remote (video, audio: readVideo, readAudio)    end when the remote leaves
//	disconnect timer       1 per disconnection (time.AfterFunc)                 stopped on reconnect or leave
//	negotiation timer      1 per participant whose media is not up (AfterFunc)  stopped when it is, or on leave
//	audio mixer loop       1 per room (mixer.AudioMixer.Run, encodes the mixes) ends when the room closes
//	compositor loop        1 per room (mixer.Compositor.Run)                    ends when the room closes
//	video output encoder   1 per compositor output (runOutput)                  ends when its output or room closes
//	remover                1 per participant removed by a failure (removeAsync) ends when its leave is done (MCU.Close waits)
//
// Participant.Leave waits for the participant's goroutines, the last Leave of a room waits for the room's,
// and MCU.Close waits for all of them. A panic in any of them is recovered, logged with its stack and
// counted (Stats.Panics): in a room's goroutine it ends that room (ErrInternal), in a participant's that
// participant; nothing else is disturbed.
//
// # Locks
//
// Lock order: room.screenMu (the presentation), then MCU.mu, then room.mu, then Participant.mu. No lock is held across a cgo call (encode, decode),
// I/O (WriteSample, WriteRTCP, PeerConnection calls) or a listener callback, with two exceptions, leaf
// locks never taken with another held: a forwarder's own mutexes (forward.go) are held across its
// callbacks, to serialise them and to let stop wait for them; an outgoing video track's (webrtcvideo.go)
// across its packets' writes, so that two writers' frames go out whole.
//
// # Limits
//
// Video goes out as H.264 Constrained Baseline, or VP8 to a WebRTC client that offers no H.264; an offer
// with video in neither is refused (ErrNoCodec). Incoming H.264 and VP8 are decoded. Server-initiated
// renegotiation is not used; HandleAnswer only applies an answer. Admission limits: Config.MaxRooms,
// MaxTotalParticipants, MaxParticipants, MaxMediaSections, NegotiationTimeout, MaxInputWidth and
// MaxInputHeight, MaxInputBitrate, MaxOutputs, MaxRemotes (Stats.Refusals).
package mcu
