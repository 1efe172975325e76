package mcu

// Remote participants: the first half of cascading (forward.go is the other). When a room spans two
// servers, each serves its own participants and stands in for those of the other with remote
// participants: members whose transport, instead of a peer, is a pair of bounded queues into which a
// link pushes the other server's original RTP (its participant's camera and voice, not re-encoded).
// Their readers run the same ingest as a WebRTC track (readVideo, readAudio), so a remote is decoded
// once, composed and mixed like anybody, and asks for keyframes through its link. It is never a
// listener or a receiver: the server it is connected to mixes and composes for it, minus itself, so
// mix-minus holds across servers; and it is never forwarded, so nothing loops back.

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu/internal/assembler"
)

const (
	// kindRemote is the ParticipantDetail.Kind of a remote participant.
	kindRemote = "remote"
	// remoteVideoQueue and remoteAudioQueue are how many packets a remote's readers may fall behind the
	// link (about a second of 2 Mbit/s video; a second of 20 ms audio) before the oldest is dropped.
	remoteVideoQueue = 256
	remoteAudioQueue = 50
)

// ErrTooManyRemotes is returned by JoinRemote for a room that already has Config.MaxRemotes remote
// participants.
var ErrTooManyRemotes = errors.New("mcu: too many remote participants in the room")

// errNewStream ends a remote's reader at the first packet of a new stream (StartVideo, StartAudio).
var errNewStream = errors.New("new stream")

// errRemoteClosed is returned by a remote's writes once it has left.
var errRemoteClosed = fmt.Errorf("remote participant left: %w", ErrClosed)

// RemoteOptions describe a remote participant's media and how it reports back. The zero value takes
// H.264 video and Opus audio, unmuted, and reports nothing. Apart from the callbacks it is plain data.
type RemoteOptions struct {
	// VideoCodec is the codec of the packets WriteVideoRTP takes: codec.H264 (0 too) or codec.VP8.
	VideoCodec codec.VideoCodec
	// AudioCodec is the codec of the packets WriteAudioRTP takes: Opus (0 too), or PCMU, PCMA or G722 in
	// packets of 20 ms (what a Forwarder hands over of a plain-RTP participant).
	AudioCodec AudioCodec
	// AudioMuted and VideoMuted are the participant's mute state when it joins (Remote.SetMuted after).
	AudioMuted, VideoMuted bool
	// OnKeyframeNeeded, if not nil, is called when the remote's video decoder needs a keyframe: when it
	// starts, when the participant becomes visible or unmuted again (then at once), and when a picture
	// is lost (at most once per 500 ms). The link turns it into a PLI to the other server (MCU.RequestKeyframe there). It
	// is called from the remote's video reader goroutine and must not block.
	OnKeyframeNeeded func()
	// OnClosed, if not nil, is called once when the remote has been removed: err is nil after Leave or
	// when its room closed (its last local participant left), ErrClosed after MCU.Close, ErrRemoved
	// when an operator removed it, otherwise why it failed. It must return quickly.
	OnClosed func(err error)
}

// RemoteStats are a remote participant's numbers now. Plain data.
type RemoteStats struct {
	// VideoPackets and AudioPackets count the packets taken into its queues.
	VideoPackets, AudioPackets uint64
	// Dropped counts the packets dropped because a queue was full (the oldest goes).
	Dropped uint64
	// KeyframeRequests counts the calls of RemoteOptions.OnKeyframeNeeded.
	KeyframeRequests uint64
}

// Remote is a participant of another server that holds the same room, reached over a link: a member of
// the room like any participant (in everyone's roster, a tile of the compositor and a voice of the
// mixer) whose media the link pushes as RTP (WriteVideoRTP, WriteAudioRTP). It receives nothing here: the
// other server serves it. Remove it with Leave; it also ends when its room closes. Its methods are safe
// for concurrent use.
type Remote struct {
	p *Participant
	t *remoteTransport
}

// JoinRemote adds a remote participant called displayName to the open room roomName, for a link that
// stands in for a participant of another server (what that server's Forwarder announced). The local
// participants get RosterJoined; the EventListener is not told (the other server reports it). The other
// server admitted it, so it counts neither towards Config.MaxParticipants nor MaxTotalParticipants, only
// towards MaxRemotes (ErrTooManyRemotes), and it does not keep a room open: a room whose last local
// participant leaves closes, and its remotes with it. It fails with ErrBadName, an error wrapping
// ErrNotFound for a room that is not open, ErrNoCodec for codecs it cannot decode, or ErrClosed. Safe
// for concurrent use.
func (m *MCU) JoinRemote(roomName, displayName string, o RemoteOptions) (*Remote, error) {
	if !ValidName(roomName) || !ValidName(displayName) {
		return nil, fmt.Errorf("join room %q as remote %q: %w", roomName, displayName, ErrBadName)
	}
	vc, ac := o.VideoCodec, o.AudioCodec
	if vc == 0 {
		vc = codec.H264
	}
	if ac == 0 {
		ac = Opus
	}
	if err := checkRemoteCodecs(vc, ac); err != nil {
		return nil, fmt.Errorf("join room %q as remote %q: %w", roomName, displayName, err)
	}
	p := m.newMember(displayName, remoteListener{o.OnClosed})
	p.kind, p.remote = kindRemote, true
	p.tier.Store(-1) // it receives nothing here
	p.audioMuted.Store(o.AudioMuted)
	p.videoMuted.Store(o.VideoMuted)
	t := &remoteTransport{p: p, onKeyframe: o.OnKeyframeNeeded, done: make(chan struct{}),
		video: remoteQueue{ch: make(chan remoteItem, remoteVideoQueue)},
		audio: remoteQueue{ch: make(chan remoteItem, remoteAudioQueue)}}
	t.video.stream.Store(&remoteStream{video: vc})
	t.audio.stream.Store(&remoteStream{audio: ac})
	p.t = t
	if err := m.join(roomName, p); err != nil {
		return nil, err
	}
	t.start()
	return &Remote{p: p, t: t}, nil
}

// checkRemoteCodecs refuses codecs a remote's readers cannot decode.
func checkRemoteCodecs(vc codec.VideoCodec, ac AudioCodec) error {
	if vc != 0 && vc != codec.H264 && vc != codec.VP8 {
		return fmt.Errorf("video codec %v: %w", vc, ErrNoCodec)
	}
	switch ac {
	case 0, Opus, PCMU, PCMA, G722:
		return nil
	}
	return fmt.Errorf("audio codec %v: %w", ac, ErrNoCodec)
}

// ID returns the remote's participant ID on this server (not the one it has on its own). Safe for
// concurrent use.
func (r *Remote) ID() ParticipantID { return r.p.id }

// Info returns what the local participants see of the remote now. Its Speaking is detected here, in the
// voice the link pushes. Safe for concurrent use.
func (r *Remote) Info() ParticipantInfo { return r.p.Info() }

// SetMuted applies the mute state the link reports (Forwarder.OnParticipant on the other server): a muted
// voice is mixed as silence, a muted camera is shown as a placeholder and not decoded. The local
// participants get RosterMuted if anything changed. Safe for concurrent use.
func (r *Remote) SetMuted(audio, video bool) { r.p.SetMuted(audio, video) }

// StartVideo says that a new video stream starts with the next packet written, in codec c (codec.H264 or
// codec.VP8; Forwarder.OnStream on the other server): the packets already queued are decoded first, then
// the video reader starts over with a new decoder (sequence numbers may start anywhere). It fails with
// ErrNoCodec for another codec, or ErrClosed once the remote has left. Safe for concurrent use; the
// ordering of StartVideo and WriteVideoRTP is the caller's.
func (r *Remote) StartVideo(c codec.VideoCodec) error {
	if c != codec.H264 && c != codec.VP8 {
		return fmt.Errorf("start video: codec %v: %w", c, ErrNoCodec)
	}
	if r.t.isClosed() {
		return fmt.Errorf("start video: %w", errRemoteClosed)
	}
	r.t.video.stream.Store(&remoteStream{video: c})
	return nil
}

// StartAudio is StartVideo for audio: codec Opus, PCMU, PCMA or G722 (in 20 ms packets).
func (r *Remote) StartAudio(c AudioCodec) error {
	if c == 0 || checkRemoteCodecs(0, c) != nil {
		return fmt.Errorf("start audio: codec %v: %w", c, ErrNoCodec)
	}
	if r.t.isClosed() {
		return fmt.Errorf("start audio: %w", errRemoteClosed)
	}
	r.t.audio.stream.Store(&remoteStream{audio: c})
	return nil
}

// WriteVideoRTP queues one RTP packet of the remote's camera for decoding. It never blocks: when the
// queue is full the oldest packet is dropped and counted (RemoteStats.Dropped, Stats.RemotePacketsDropped),
// which the decoder sees as a loss. pkt becomes the MCU's: the caller must not modify or reuse it, nor
// its payload, after the call. A packet that does not decode is counted (Stats.DecodeErrors) and makes
// the reader ask for a keyframe. It fails with ErrClosed once the remote has left. Safe for concurrent
// use.
func (r *Remote) WriteVideoRTP(pkt *rtp.Packet) error { return r.t.push(&r.t.video, pkt) }

// WriteAudioRTP is WriteVideoRTP for the remote's voice.
func (r *Remote) WriteAudioRTP(pkt *rtp.Packet) error { return r.t.push(&r.t.audio, pkt) }

// Stats returns the remote's numbers now. Safe for concurrent use.
func (r *Remote) Stats() RemoteStats {
	t := r.t
	return RemoteStats{VideoPackets: t.video.packets.Load(), AudioPackets: t.audio.packets.Load(),
		Dropped: t.dropped.Load(), KeyframeRequests: t.keyframes.Load()}
}

// Visible reports whether the remote's camera is shown in some picture here now (among the room's
// visible tiles, mixer.Compositor.Visible): a link stops forwarding a camera visible nowhere.
func (r *Remote) Visible() bool { return r.p.r.video.Visible(r.p.id) }

// Leave removes the remote from its room and waits for its readers (which may be calling
// RemoteOptions.OnKeyframeNeeded: do not call Leave holding a lock that it takes); the local participants
// get RosterLeft and RemoteOptions.OnClosed is called with nil. It is idempotent and safe for concurrent
// use.
func (r *Remote) Leave() { r.p.leave(nil) }

// remoteListener is the ParticipantListener of a remote: it has no peer here, only its OnClosed.
type remoteListener struct{ onClosed func(error) }

func (remoteListener) OnICECandidate(ICECandidate) {}
func (remoteListener) OnRoster(RosterEvent)        {}

func (l remoteListener) OnClosed(err error) {
	if l.onClosed != nil {
		l.onClosed(err)
	}
}

// remoteStream is one stream of a remote (JoinRemote's, then each StartVideo or StartAudio): its packets
// point to it, so that the reader knows where the next stream begins.
type remoteStream struct {
	video codec.VideoCodec
	audio AudioCodec
}

// remoteItem is one queued packet.
type remoteItem struct {
	pkt *rtp.Packet
	at  time.Time // when it was written: its arrival
	s   *remoteStream
}

// remoteQueue is the bounded queue of one kind of a remote's media, and its current stream.
type remoteQueue struct {
	ch      chan remoteItem
	stream  atomic.Pointer[remoteStream]
	packets atomic.Uint64
}

// remoteTransport is the transport of a Remote: the queues the link writes into and their two readers
// (the remote's ingest). It sends nothing: its peer is served by its own server.
type remoteTransport struct {
	p          *Participant
	onKeyframe func()

	video, audio remoteQueue
	dropped      atomic.Uint64
	keyframes    atomic.Uint64

	done chan struct{} // closed by close: the readers end

	mu     sync.Mutex
	closed bool
}

// start runs the readers, unless the remote is leaving already (its room closed as it joined).
func (t *remoteTransport) start() {
	p := t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	p.wg.Add(2)
	go t.runVideo()
	go t.runAudio()
}

func (t *remoteTransport) isClosed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// push queues pkt, dropping the oldest packets while the queue is full.
func (t *remoteTransport) push(q *remoteQueue, pkt *rtp.Packet) error {
	if t.isClosed() {
		return errRemoteClosed
	}
	if pkt == nil {
		return nil
	}
	it := remoteItem{pkt: pkt, at: time.Now(), s: q.stream.Load()}
	for {
		select {
		case q.ch <- it:
			q.packets.Add(1)
			return nil
		default:
		}
		select {
		case <-q.ch:
			t.dropped.Add(1)
			t.p.m.stats.RemotePacketsDropped.Add(1)
		default:
		}
	}
}

// reader returns the rtpReader of one stream s of queue q, starting with first: it ends with io.EOF
// when the remote closes (and sets *ended), or with errNewStream at the first packet of another stream,
// which it leaves in *next.
func (t *remoteTransport) reader(q *remoteQueue, s *remoteStream, first remoteItem, next *remoteItem,
	ended *bool) rtpReader {
	return func(pkt *rtp.Packet, _ []byte) (time.Time, error) {
		it := first
		first = remoteItem{}
		if it.pkt == nil {
			select {
			case it = <-q.ch:
			case <-t.done:
				*ended = true
				return time.Time{}, io.EOF
			}
		}
		if it.s != s {
			*next = it
			return time.Time{}, errNewStream
		}
		*pkt = *it.pkt // the payload is the remote's (WriteVideoRTP): the assembler may keep it
		return it.at, nil
	}
}

// runStreams runs read for each stream of q in turn, until the remote closes: read returns when its
// stream ends, after reading the next stream's first packet into next.
func (t *remoteTransport) runStreams(q *remoteQueue, read func(s *remoteStream, r rtpReader)) {
	p := t.p
	var next remoteItem
	for {
		if next.pkt == nil {
			select {
			case next = <-q.ch:
			case <-t.done:
				return
			}
		}
		first := next
		next = remoteItem{}
		ended := false
		read(first.s, t.reader(q, first.s, first, &next, &ended))
		if ended {
			return
		}
		if next.pkt == nil {
			// The stream's decoder did not open (logged): its packets are dropped from now on.
			p.log.Error("remote stream not decoded")
			<-t.done
			return
		}
	}
}

// runVideo is the remote's video reader: readVideo over each video stream.
func (t *remoteTransport) runVideo() {
	p := t.p
	defer p.wg.Done()
	defer p.m.catch(panicIngest, p.log, p.removeAsync)
	t.runStreams(&t.video, func(s *remoteStream, read rtpReader) {
		var d rtp.Depacketizer = &assembler.H264{}
		if s.video == codec.VP8 {
			d = &codecs.VP8Packet{}
		}
		p.log.Info("remote video stream started", "codec", s.video)
		p.readVideo(read, t.requestKeyframe, s.video, d, p.camera())
	})
}

// runAudio is the remote's audio reader: readAudio over each audio stream.
func (t *remoteTransport) runAudio() {
	p := t.p
	defer p.wg.Done()
	defer p.m.catch(panicIngest, p.log, p.removeAsync)
	t.runStreams(&t.audio, func(s *remoteStream, read rtpReader) {
		dec, err := newAudioDecoder(s.audio)
		if err != nil {
			p.log.Error("new audio decoder", "codec", s.audio, "err", err)
			return
		}
		defer dec.Close()
		p.log.Info("remote audio stream started", "codec", s.audio)
		p.readAudio(read, dec, nil, nil)
	})
}

// requestKeyframe is the remote's "PLI": it asks the link (RemoteOptions.OnKeyframeNeeded).
func (t *remoteTransport) requestKeyframe() error {
	t.keyframes.Add(1)
	if t.onKeyframe != nil {
		t.onKeyframe()
	}
	return nil
}

// close ends the readers (the participant waits for them); what is still queued is dropped.
func (t *remoteTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.done)
	}
}

// A remote sends nothing: it is never a listener or a receiver.
func (t *remoteTransport) writeAudio([]byte) bool                { return false }
func (t *remoteTransport) writeVideo([]byte, time.Duration) bool { return false }
func (t *remoteTransport) videoEncoding() videoEncoding          { return videoEncoding{} }
func (t *remoteTransport) audioCodec() AudioCodec                { return 0 }
func (t *remoteTransport) mediaUp() bool                         { return false }
func (t *remoteTransport) addStats(s *Stats)                     { s.Remotes++ }
