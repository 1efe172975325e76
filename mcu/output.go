package mcu

// Outputs: a recording or a live stream of a room. Each is a hidden member of the room whose transport,
// instead of a peer, is a sink: a fragmented MP4 file (record.go) or an RTMP push (stream.go). It
// receives what a hidden viewer receives (the full mix, as L16, and a grid of everyone as H.264 with an
// IDR every outputKeyframeInterval), copies it into a bounded queue without ever blocking the room, and
// a writer goroutine of its own encodes the mix to AAC and hands both to the sink, which may block on a
// disk or a network. A new kind of output is a new sink; nothing here or in the room changes.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/aac"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/l16"
)

// The kinds of output (ParticipantDetail.Kind of their hidden member).
const (
	kindRecording = "recording"
	kindStream    = "stream"
)

// errStopped ends an output's writer that was stopped while its sink was connecting: not a failure.
var errStopped = errors.New("output stopped")

// ErrTooManyOutputs is returned by Record and Stream for a room that already has Config.MaxOutputs
// recordings and streams.
var ErrTooManyOutputs = errors.New("mcu: too many recordings and streams in the room")

const (
	// outputKeyframeInterval is the longest time between two IDRs of an output's video: a fragment of a
	// recording, or a segment a streaming platform cuts, starts on one.
	outputKeyframeInterval = 2 * time.Second
	// outputQueue is how many frames (audio and video together, about a second) an output's writer may
	// fall behind before frames are dropped.
	outputQueue = 96
	// outputAudioBitrate is the AAC bitrate of an output without OutputOptions.AudioBitrate.
	outputAudioBitrate = 128_000
	// audioResync is how far the audio written may drift from the clock (a mixer stall, dropped frames)
	// before the writer fills the gap with silence or drops a frame.
	audioResync = 60 * time.Millisecond
)

// OutputState is where an Output stands.
type OutputState int

// Output states, in the order they usually come.
const (
	// OutputStarting: joined, nothing written yet (waiting for the first picture, or connecting).
	OutputStarting OutputState = iota + 1
	// OutputActive: media is being written.
	OutputActive
	// OutputRetrying: a live stream lost its connection and is reconnecting (the error says why).
	OutputRetrying
	// OutputEnded: the output is over. The error is nil after Stop or at the end of the room (or
	// ErrClosed when the server shut down), otherwise why it failed (a full disk, a stream that could
	// not be reconnected).
	OutputEnded
)

// String returns "starting", "active", "retrying" or "ended".
func (s OutputState) String() string {
	switch s {
	case OutputStarting:
		return "starting"
	case OutputActive:
		return "active"
	case OutputRetrying:
		return "retrying"
	case OutputEnded:
		return "ended"
	}
	return fmt.Sprintf("OutputState(%d)", int(s))
}

// OutputOptions are what recordings and live streams have in common. The zero value writes the best
// tier with 128 kbit/s AAC and reports nothing.
type OutputOptions struct {
	// Tier is the name of the video tier written (one of Config.Tiers); empty: the best one.
	Tier string
	// AudioBitrate is the AAC bitrate in bit/s (aac.MinBitrate..aac.MaxBitrate); 0: 128 kbit/s.
	AudioBitrate int
	// OnState, if not nil, is told each change of state, with the error that caused it (OutputRetrying,
	// OutputEnded). It is called from the output's own goroutine, one call at a time, and must return
	// quickly.
	OnState func(OutputState, error)
}

// OutputStats are an output's numbers now. Plain data.
type OutputStats struct {
	State OutputState
	// Started is when the output joined its room.
	Started time.Time
	// Duration is the media time written: from the first frame to the last.
	Duration time.Duration
	// FirstAt is when the room handed over the first frame written (the start of the media), ActiveAt
	// the same for the first frame since the last restart (a stream's time zero after a reconnection).
	FirstAt, ActiveAt time.Time
	// Bytes written to the file or the connection (the current one, for a stream).
	Bytes int64
	// VideoFrames and AudioFrames are the access units handed to the sink.
	VideoFrames, AudioFrames uint64
	// Dropped counts the frames the writer did not take in time (a slow disk or network), and the
	// pictures skipped while waiting for a keyframe after a loss.
	Dropped uint64
	// Retries counts a stream's reconnections.
	Retries int
}

// Output is a recording or live stream of a room: a hidden member that the others do not see in their
// roster (they are told the room is recorded or streamed: RosterRoom). It ends when stopped, when the
// last participant leaves the room, or when its sink fails. Its methods are safe for concurrent use.
type Output struct {
	p *Participant
	t *outputTransport
}

// ID returns the output's participant ID, unique within the MCU.
func (o *Output) ID() ParticipantID { return o.p.id }

// Room returns the name of the room the output records or streams.
func (o *Output) Room() string { return o.p.r.name }

// Stop ends the output and waits until its sink is finished (the file's last fragment written and the
// file closed, the stream's connection closed). It is idempotent.
func (o *Output) Stop() { o.p.leave(nil) }

// Done is closed when the output has ended and its sink is finished.
func (o *Output) Done() <-chan struct{} { return o.t.done }

// Err returns why the output ended: nil while it runs, after Stop or at the end of its room; ErrClosed
// when the server shut down; otherwise the sink's error.
func (o *Output) Err() error {
	o.t.mu.Lock()
	defer o.t.mu.Unlock()
	return o.t.err
}

// Stats returns the output's numbers now.
func (o *Output) Stats() OutputStats {
	t := o.t
	t.mu.Lock()
	s := t.stats
	t.mu.Unlock()
	s.Dropped += t.dropped.Load()
	return s
}

// startOutput adds an output of kind ("recording", "stream") writing into s to the open room roomName:
// a hidden viewer on the tier o names (audio only without video), whose writer starts at once.
func (m *MCU) startOutput(roomName, kind string, s sink, video bool, o OutputOptions) (*Output, error) {
	caps := Caps{MaxBitrate: 1} // no tier fits: audio only
	if video {
		i := 0
		if o.Tier != "" {
			i = slices.IndexFunc(m.tiers.tiers, func(t Tier) bool { return t.Name == o.Tier })
		}
		if i < 0 {
			s.close()
			return nil, fmt.Errorf("room %q: tier %q: %w", roomName, o.Tier, ErrBadName)
		}
		t := m.tiers.tiers[i]
		caps = Caps{MaxWidth: t.Width, MaxHeight: t.Height, MaxFrameRate: t.FrameRate}
	}
	if o.AudioBitrate != 0 && (o.AudioBitrate < aac.MinBitrate || o.AudioBitrate > aac.MaxBitrate) {
		s.close()
		return nil, fmt.Errorf("room %q: audio bitrate %d: want %d..%d", roomName, o.AudioBitrate, aac.MinBitrate, aac.MaxBitrate)
	}
	p := m.newMember(kind, outputListener{})
	p.kind, p.viewer, p.hidden, p.output = kind, true, true, true
	p.caps = caps
	t := newOutputTransport(p, s, video, o)
	p.t = t
	if err := m.join(roomName, p); err != nil {
		return nil, err // join closed the transport, and so the sink
	}
	t.start()
	if err := p.applyTier("output"); err != nil {
		p.leave(err)
		return nil, fmt.Errorf("room %q: %w", roomName, err)
	}
	p.r.roomStateChanged()
	p.log.Info("output started", "kind", kind, "video", video, "tier", p.tierName(int(p.tier.Load())))
	return &Output{p: p, t: t}, nil
}

// outputListener is the ParticipantListener of an output: it has no peer to tell.
type outputListener struct{}

func (outputListener) OnICECandidate(ICECandidate) {}
func (outputListener) OnRoster(RosterEvent)        {}
func (outputListener) OnClosed(error)              {}

// sink is where an output's media goes: a container or a protocol. Its methods are called from the
// output's writer goroutine only, and may block.
type sink interface {
	// start prepares the sink for media (opens the file's tracks, connects the stream), before anything
	// else. asc is the AAC AudioSpecificConfig. It gives up when ctx ends. report tells the output's
	// owner of a retry (OutputRetrying) while it starts or restarts.
	start(ctx context.Context, asc []byte, report func(OutputState, error)) error
	// writeVideo writes one H.264 access unit (Annex-B) decoded at dts; key: an IDR.
	writeVideo(dts time.Duration, au []byte, key bool) error
	// writeAudio writes one AAC access unit presented at pts.
	writeAudio(pts time.Duration, au []byte) error
	// bytes returns the bytes written so far.
	bytes() int64
	// close finishes the sink (the last fragment, the file or connection closed).
	close() error
}

// restarter is a sink that can recover from a write error by starting over (a live stream reconnects).
// The writer then waits for the next keyframe before it writes video again.
type restarter interface {
	restart(ctx context.Context) error
}

// outputItem is one frame in an output's queue. buf comes from outputBufs and goes back after writing.
type outputItem struct {
	video bool
	at    time.Duration // when the room handed it over, since the output started
	buf   *[]byte
}

// outputBufs recycles the queue's frame buffers (pictures and 20 ms of L16) for every output.
var outputBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// outputTransport is the transport of an Output: the bounded queue the room writes into and the writer
// goroutine that drains it into the sink.
type outputTransport struct {
	p       *Participant
	sink    sink
	video   bool // a video track (false: an audio-only recording)
	bitrate int  // AAC
	onState func(OutputState, error)

	t0      time.Time // the output's clock: every timestamp counts from here (monotonic)
	queue   chan outputItem
	dropped atomic.Uint64
	// lostVideo: a picture was dropped, so the writer must wait for a keyframe (one was asked for).
	lostVideo atomic.Bool
	up        atomic.Bool // accepting media: from start until close

	ctx    context.Context // ends at close: a blocked sink gives up
	cancel context.CancelFunc
	stop   chan struct{} // closed by close: drain the queue and finish
	done   chan struct{} // closed when the writer is finished

	mu      sync.Mutex
	started bool // the writer runs (start)
	closed  bool // close was called
	stats   OutputStats
	err     error
}

func newOutputTransport(p *Participant, s sink, video bool, o OutputOptions) *outputTransport {
	t := &outputTransport{p: p, sink: s, video: video, bitrate: o.AudioBitrate, onState: o.OnState,
		t0: time.Now(), queue: make(chan outputItem, outputQueue),
		stop: make(chan struct{}), done: make(chan struct{})}
	if t.bitrate == 0 {
		t.bitrate = outputAudioBitrate
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.stats = OutputStats{State: OutputStarting, Started: t.t0}
	return t
}

// start runs the writer goroutine and accepts media, unless the output was closed already (its room
// finished as it joined).
func (t *outputTransport) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.started = true
	t.p.wg.Add(1)
	t.up.Store(true)
	go t.run()
}

func (t *outputTransport) writeAudio(payload []byte) bool { return t.enqueue(false, payload) }

func (t *outputTransport) writeVideo(frame []byte, _ time.Duration) bool {
	if !t.enqueue(true, frame) {
		// One keyframe request per loss, within the keyframe rate limit: the encoder may be shared with
		// viewers, and a writer that stays behind must not turn every picture into an IDR.
		if !t.lostVideo.Swap(true) {
			t.p.requestKeyframe(false)
		}
		return false
	}
	return true
}

// enqueue copies data into the queue, or drops and counts it when the writer is behind.
func (t *outputTransport) enqueue(video bool, data []byte) bool {
	if !t.up.Load() {
		return false
	}
	if len(t.queue) == cap(t.queue) { // behind: no copy to throw away (the select below decides)
		t.dropped.Add(1)
		t.p.m.stats.OutputFramesDropped.Add(1)
		return false
	}
	buf := outputBufs.Get().(*[]byte)
	*buf = append((*buf)[:0], data...)
	select {
	case t.queue <- outputItem{video: video, at: time.Since(t.t0), buf: buf}:
		return true
	default:
		outputBufs.Put(buf)
		t.dropped.Add(1)
		t.p.m.stats.OutputFramesDropped.Add(1)
		return false
	}
}

func (t *outputTransport) videoEncoding() videoEncoding {
	if !t.video {
		return videoEncoding{}
	}
	return videoEncoding{codec: codec.H264, keyframeInterval: outputKeyframeInterval}
}

func (t *outputTransport) audioCodec() AudioCodec { return L16 }
func (t *outputTransport) mediaUp() bool          { return t.up.Load() }
func (t *outputTransport) addStats(s *Stats)      { s.Outputs++ }

// close stops the output: the writer drains the queue and finishes the sink (the participant waits for
// it). An output closed before it started closes its sink at once.
func (t *outputTransport) close() {
	t.mu.Lock()
	started, closed := t.started, t.closed
	t.closed = true
	t.up.Store(false)
	t.mu.Unlock()
	t.cancel()
	switch {
	case closed:
	case started:
		close(t.stop)
	default:
		if err := t.sink.close(); err != nil {
			t.p.log.Warn("output sink close", "err", err)
		}
		t.end(nil)
		close(t.done)
	}
}

// run is the writer goroutine: it starts the sink, writes the queue into it until the output closes
// (then what is still queued) and finishes the sink. A sink error that no restart cures ends the output,
// and so does a panic (recovered and counted like the room's).
func (t *outputTransport) run() {
	defer t.p.wg.Done()
	defer close(t.done)
	defer t.p.m.catch(panicOutput, t.p.log, t.end)
	w, err := newOutputWriter(t)
	if err == nil {
		err = t.loop(w)
		if cerr := w.finish(); err == nil {
			err = cerr
		}
	} else if cerr := t.sink.close(); cerr != nil {
		t.p.log.Warn("output sink close", "err", cerr)
	}
	if errors.Is(err, errStopped) {
		err = nil
	}
	t.end(err)
}

// end records why the output ended, reports it, and removes the output if it failed.
func (t *outputTransport) end(err error) {
	t.mu.Lock()
	t.err = err
	t.stats.State = OutputEnded
	t.mu.Unlock()
	if err != nil {
		t.p.log.Error("output failed", "kind", t.p.kind, "err", err)
		t.p.removeAsync(err)
	}
	t.report(OutputEnded, err)
}

// loop writes queued frames until the output closes, then drains the queue.
func (t *outputTransport) loop(w *outputWriter) error {
	for {
		select {
		case it := <-t.queue:
			if err := w.write(it); err != nil {
				return err
			}
		case <-t.stop:
			for {
				select {
				case it := <-t.queue:
					if err := w.write(it); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		}
	}
}

// setState records and reports a state change.
func (t *outputTransport) setState(s OutputState, err error) {
	t.mu.Lock()
	changed := t.stats.State != s
	t.stats.State = s
	t.mu.Unlock()
	if changed {
		t.report(s, err)
	}
}

func (t *outputTransport) report(s OutputState, err error) {
	if t.onState != nil {
		t.onState(s, err)
	}
}

// outputWriter is the writer goroutine's state: the AAC encoder, the audio time line and whether video
// waits for a keyframe.
type outputWriter struct {
	t   *outputTransport
	enc *aac.Encoder
	pcm []int16

	audioBase    time.Duration // the output time of the first audio sample fed to the encoder
	audioSamples int64         // samples fed to the encoder
	audioStarted bool

	waitKey          bool          // video is written from the next IDR on
	lastVideo        time.Duration // the time of the last picture written; -1: none yet
	first, last      time.Duration
	wrote            bool // something was written: first is set
	active           bool // OutputActive was reported since the start or the last restart
	videoN, audioN   uint64
	skipped, retries int
}

func newOutputWriter(t *outputTransport) (*outputWriter, error) {
	enc, err := aac.NewEncoder(aac.WithBitrate(t.bitrate))
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	w := &outputWriter{t: t, enc: enc, pcm: make([]int16, codec.FrameSamples), lastVideo: -1}
	if err := t.sink.start(t.ctx, enc.AudioSpecificConfig(), t.setState); err != nil {
		enc.Close()
		if t.ctx.Err() != nil {
			return nil, errStopped
		}
		return nil, fmt.Errorf("output: %w", err)
	}
	return w, nil
}

// write hands one queued frame to the sink and recycles its buffer.
func (w *outputWriter) write(it outputItem) error {
	defer outputBufs.Put(it.buf)
	var err error
	if it.video {
		err = w.writeVideo(it.at, *it.buf)
	} else {
		err = w.writeAudio(it.at, *it.buf)
	}
	if err == nil {
		return nil
	}
	r, ok := w.t.sink.(restarter)
	if !ok {
		return err
	}
	return w.restart(r, err)
}

// restart recovers a restartable sink after err: video waits for a keyframe, which is asked for.
func (w *outputWriter) restart(r restarter, cause error) error {
	t := w.t
	t.setState(OutputRetrying, cause)
	t.p.log.Warn("output lost: restarting", "kind", t.p.kind, "err", cause)
	if err := r.restart(t.ctx); err != nil {
		if t.ctx.Err() != nil {
			return errStopped
		}
		return fmt.Errorf("%w (after: %v)", err, cause)
	}
	w.retries++
	w.waitKey, w.active = true, false
	t.p.requestKeyframe(true)
	t.mu.Lock()
	t.stats.Retries = w.retries
	t.mu.Unlock()
	return nil
}

func (w *outputWriter) writeVideo(at time.Duration, au []byte) error {
	key := h264.IsKeyframe(au)
	if w.t.lostVideo.Swap(false) {
		w.waitKey = true
	}
	if w.waitKey && !key {
		w.skipped++
		w.t.dropped.Add(1)
		return nil
	}
	w.waitKey = false
	// A picture is stamped when the room handed it over, which keeps it in step with the audio (a
	// variable frame rate where the room was late); two pictures at once (an output switch) stay in order.
	at = max(at, w.lastVideo+time.Millisecond)
	w.lastVideo = at
	if err := w.t.sink.writeVideo(at, au, key); err != nil {
		return err
	}
	w.videoN++
	w.wrote1(at)
	return nil
}

// writeAudio feeds 20 ms of L16 to the AAC encoder on a time line of its own (samples), which stays on
// the output's clock: a gap (a mixer stall, frames dropped) is filled with silence, and a frame that
// comes too early is dropped.
func (w *outputWriter) writeAudio(at time.Duration, payload []byte) error {
	n := l16.Decode(w.pcm, payload)
	clear(w.pcm[n:])
	start := at - codec.FrameDuration // the tick's audio ends when it is handed over
	if !w.audioStarted {
		w.audioStarted, w.audioBase = true, start
	}
	written := aac.SamplesToDuration(w.audioSamples)
	switch ahead := written - (start - w.audioBase); {
	case ahead > audioResync:
		w.t.dropped.Add(1)
		return nil
	case ahead < -audioResync:
		silence := make([]int16, codec.FrameSamples) // rare: a stall of the room
		for ; ahead < -codec.FrameDuration/2; ahead += codec.FrameDuration {
			if err := w.encode(silence); err != nil {
				return err
			}
		}
	}
	return w.encode(w.pcm)
}

// encode feeds one frame to the AAC encoder and writes the access units it returns.
func (w *outputWriter) encode(pcm []int16) error {
	aus, err := w.enc.Encode(pcm)
	if err != nil {
		return fmt.Errorf("output: aac: %w", err)
	}
	w.audioSamples += int64(len(pcm))
	return w.writeAUs(aus)
}

func (w *outputWriter) writeAUs(aus []aac.AccessUnit) error {
	for _, au := range aus {
		at := w.audioBase + au.Time() // the first unit, the encoder's priming, starts before audioBase
		if at < 0 {
			continue
		}
		if err := w.t.sink.writeAudio(at, au.Data); err != nil {
			return err
		}
		w.audioN++
		w.wrote1(at)
	}
	return nil
}

// wrote1 notes a frame written at at.
func (w *outputWriter) wrote1(at time.Duration) {
	t := w.t
	if !w.active {
		t.mu.Lock()
		if !w.wrote {
			w.wrote, w.first = true, at
			t.stats.FirstAt = t.t0.Add(at)
		}
		t.stats.ActiveAt = t.t0.Add(at)
		t.mu.Unlock()
		w.active = true
		t.setState(OutputActive, nil)
	}
	w.last = max(w.last, at)
	t.mu.Lock()
	t.stats.Duration = w.last - w.first
	t.stats.Bytes = t.sink.bytes()
	t.stats.VideoFrames, t.stats.AudioFrames = w.videoN, w.audioN
	t.mu.Unlock()
}

// finish writes the encoder's last audio and closes the sink.
func (w *outputWriter) finish() error {
	defer w.enc.Close()
	var err error
	if aus, ferr := w.enc.Flush(); ferr == nil {
		err = w.writeAUs(aus)
	}
	if cerr := w.t.sink.close(); err == nil {
		err = cerr
	}
	w.t.mu.Lock()
	w.t.stats.Bytes = w.t.sink.bytes()
	w.t.mu.Unlock()
	return err
}
