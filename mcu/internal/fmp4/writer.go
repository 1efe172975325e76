package fmp4

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/openmcu/mcu/codec/h264"
)

var (
	// ErrTimestamp is returned for a sample whose time is not after the previous one of its track. The
	// sample is dropped; the Writer stays usable.
	ErrTimestamp = errors.New("fmp4: timestamp not increasing")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("fmp4: writer closed")
)

// Stats counts what a Writer did. Samples are counted once written in a fragment.
type Stats struct {
	Fragments                  int
	Bytes                      int64
	VideoSamples, AudioSamples int
	// VideoDropped counts access units dropped before the first keyframe (or, rarely, stamped before
	// the file's time zero); AudioDropped counts access units dropped before the init segment could be
	// written (while waiting for the first video keyframe) or stamped before time zero.
	VideoDropped, AudioDropped int
}

// Writer writes one fragmented MP4 stream to an io.Writer.
//
// Create it with NewWriter, feed it with WriteVideo and WriteAudio in the order the media is produced,
// and end it with Close, which writes the last fragment (it does not close the io.Writer). Any error
// from the io.Writer (or its Sync) is final: every later call returns it. A Writer belongs to one
// goroutine; it is not safe for concurrent use.
type Writer struct {
	w      io.Writer
	syncer interface{ Sync() error }
	cfg    Config
	asc    *mpeg4audio.AudioSpecificConfig

	video, audio *track
	sps, pps     []byte // the init segment's parameter sets
	inited       bool
	origin       time.Duration // the file's time zero on the caller's clock, once set
	originSet    bool
	seq          uint32

	buf   seekablebuffer.Buffer
	stats Stats
	err   error // sticky: a failed write or Close
}

// NewWriter returns a Writer that writes to w. If w has a Sync method (an *os.File) and cfg.NoSync is
// false, the Writer calls it after the init segment and after each fragment. Nothing is written until
// the first sample is accepted.
func NewWriter(w io.Writer, cfg Config) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fw := &Writer{w: w, cfg: cfg}
	if s, ok := w.(interface{ Sync() error }); ok && !cfg.NoSync {
		fw.syncer = s
	}
	frag := cfg.fragmentDuration()
	id := 1
	if cfg.Video {
		fw.video = newTrack(id, VideoTimeScale, frag, true, VideoTimeScale/30)
		fw.video.waitKey = true
		id++
	}
	if cfg.Audio {
		asc, err := parseAudioConfig(cfg.AudioConfig)
		if err != nil {
			return nil, err
		}
		fw.asc = asc
		fw.audio = newTrack(id, int64(asc.SampleRate), frag, !cfg.Video, aacFrameSamples)
	}
	return fw, nil
}

// WriteVideo adds one H.264 access unit in Annex-B form, decoded (and presented) at dts. key says it is
// an IDR picture. Until the first IDR that carries SPS and PPS, access units are dropped (counted in
// Stats); that IDR's parameter sets go into the init segment, which is then written. au is copied: the
// caller may reuse it at once. An error wrapping ErrTimestamp drops only this access unit (and the
// Writer then waits for the next keyframe); other errors are final.
func (w *Writer) WriteVideo(dts time.Duration, au []byte, key bool) error {
	if w.err != nil {
		return w.err
	}
	t := w.video
	if t == nil {
		return errors.New("fmp4: write video to a file without a video track")
	}
	if !w.inited {
		if !key {
			t.dropped++
			return nil
		}
		sps, pps := h264.ParameterSets(au)
		if sps == nil || pps == nil {
			t.dropped++
			return nil
		}
		w.sps, w.pps = append([]byte(nil), sps...), append([]byte(nil), pps...)
		if err := w.writeInit(); err != nil {
			return err
		}
	}
	if t.waitKey && !key {
		t.dropped++
		return nil
	}
	if err := w.check(t, dts); err != nil {
		t.waitKey = true
		return err
	}
	if w.originSet && dts < w.origin {
		t.dropped++
		t.waitKey = true
		return nil
	}
	var size int
	t.data, size = appendAVCC(t.data, au, w.sps, w.pps)
	if size == 0 {
		// Nothing but parameter sets the init segment already has, or delimiters.
		t.dropped++
		return nil
	}
	t.waitKey = false
	return w.push(t, dts, size, key)
}

// WriteAudio adds one AAC access unit (without ADTS header) presented at pts. With a video track, audio
// is dropped (counted in Stats) until the first video keyframe has started the file. au is copied. An
// error wrapping ErrTimestamp drops only this access unit; other errors are final.
func (w *Writer) WriteAudio(pts time.Duration, au []byte) error {
	if w.err != nil {
		return w.err
	}
	t := w.audio
	if t == nil {
		return errors.New("fmp4: write audio to a file without an audio track")
	}
	if len(au) == 0 {
		return errors.New("fmp4: empty audio access unit")
	}
	if !w.inited {
		if w.cfg.Video {
			t.dropped++
			return nil
		}
		if err := w.writeInit(); err != nil {
			return err
		}
	}
	if err := w.check(t, pts); err != nil {
		return err
	}
	if w.originSet && pts < w.origin {
		t.dropped++
		return nil
	}
	t.data = append(t.data, au...)
	return w.push(t, pts, len(au), true)
}

// check returns an error wrapping ErrTimestamp if at is not after the pending sample of t, in t's
// timescale.
func (w *Writer) check(t *track, at time.Duration) error {
	if t.hasPend && toTicks(at, t.timescale) <= t.pend.ticks {
		return fmt.Errorf("track %d: sample at %v after one at %d/%d s: %w", t.id, at, t.pend.ticks, t.timescale, ErrTimestamp)
	}
	return nil
}

// push makes the sample whose payload was just appended at the end of t.data (size bytes) the pending
// one of t, after the previous pending sample, now of known duration, has joined the fragment (cutting
// the fragment first if it must, which moves the payloads that stay).
func (w *Writer) push(t *track, at time.Duration, size int, sync bool) error {
	ticks := toTicks(at, t.timescale)
	if !t.hasFirst {
		t.first, t.hasFirst = at, true
	}
	if t.hasPend {
		t.pend.dur = ticks - t.pend.ticks
		if err := w.finish(t); err != nil {
			return err
		}
	}
	t.pend = sample{ticks: ticks, off: len(t.data) - size, size: size, sync: sync}
	t.hasPend = true
	return nil
}

// finish adds the pending sample of t, whose duration is now known, to the fragment being built, writing
// that fragment first if the sample must start the next one.
func (w *Writer) finish(t *track) error {
	if t.wantsCut(t.pend) {
		if err := w.writeFragment(); err != nil {
			return err
		}
	}
	t.samples = append(t.samples, t.pend)
	t.fragTicks += t.pend.dur
	t.lastDur = t.pend.dur
	return nil
}

// Flush writes the samples gathered so far as a fragment, except the newest of each track, whose
// duration is not known yet. It does nothing if there are none.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	return w.writeFragment()
}

// Close writes everything still held, the newest sample of each track lasting as long as the one before
// it, and syncs. It does not close the underlying io.Writer. It is idempotent: it returns the first
// error of the Writer, if any, every time; other calls return ErrClosed afterwards.
func (w *Writer) Close() error {
	if w.err != nil {
		if errors.Is(w.err, ErrClosed) {
			return nil
		}
		return w.err
	}
	var err error
	for _, t := range []*track{w.video, w.audio} {
		if t == nil || !t.hasPend {
			continue
		}
		t.pend.dur = t.lastDur
		if t.pend.dur <= 0 {
			t.pend.dur = t.defaultDur
		}
		if err = w.finish(t); err != nil {
			break
		}
		t.hasPend = false
	}
	if err == nil {
		err = w.writeFragment()
	}
	if err != nil {
		return err
	}
	w.err = ErrClosed
	return nil
}

// Stats returns what the Writer has done so far.
func (w *Writer) Stats() Stats {
	s := w.stats
	if w.video != nil {
		s.VideoSamples, s.VideoDropped = w.video.written, w.video.dropped
	}
	if w.audio != nil {
		s.AudioSamples, s.AudioDropped = w.audio.written, w.audio.dropped
	}
	return s
}

// writeInit writes the init segment.
func (w *Writer) writeInit() error {
	var init fmp4.Init
	if t := w.video; t != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{
			ID: t.id, TimeScale: uint32(t.timescale), Codec: &codecs.H264{SPS: w.sps, PPS: w.pps},
		})
	}
	if t := w.audio; t != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{
			ID: t.id, TimeScale: uint32(t.timescale), Codec: &codecs.MPEG4Audio{Config: *w.asc},
		})
	}
	w.buf.Reset()
	if err := init.Marshal(&w.buf); err != nil {
		return w.fail(fmt.Errorf("fmp4: marshal init segment: %w", err))
	}
	if err := w.output("init segment"); err != nil {
		return err
	}
	w.inited = true
	return nil
}

// writeFragment writes the finished samples of every track as one fragment, in one Write. The first
// fragment fixes the file's time zero: the earliest sample any track has had.
func (w *Writer) writeFragment() error {
	tracks := [2]*track{w.video, w.audio}
	ready := false
	for _, t := range tracks {
		ready = ready || (t != nil && len(t.samples) > 0)
	}
	if !ready {
		return nil
	}
	if !w.originSet {
		for _, t := range tracks {
			if t != nil && t.hasFirst && (!w.originSet || t.first < w.origin) {
				w.origin, w.originSet = t.first, true
			}
		}
	}
	w.seq++
	part := fmp4.Part{SequenceNumber: w.seq}
	for _, t := range tracks {
		if t == nil {
			continue
		}
		if p := t.part(toTicks(w.origin, t.timescale)); p != nil {
			part.Tracks = append(part.Tracks, p)
		}
	}
	w.buf.Reset()
	if err := part.Marshal(&w.buf); err != nil {
		return w.fail(fmt.Errorf("fmp4: marshal fragment %d: %w", w.seq, err))
	}
	if err := w.output(fmt.Sprintf("fragment %d", w.seq)); err != nil {
		return err
	}
	w.stats.Fragments++
	for _, t := range tracks {
		if t != nil {
			t.reset()
		}
	}
	return nil
}

// output writes the buffer in one Write and syncs.
func (w *Writer) output(what string) error {
	n, err := w.w.Write(w.buf.Bytes())
	w.stats.Bytes += int64(n)
	if err == nil && n < w.buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		return w.fail(fmt.Errorf("fmp4: write %s (%d bytes): %w", what, w.buf.Len(), err))
	}
	if w.syncer != nil {
		if err := w.syncer.Sync(); err != nil {
			return w.fail(fmt.Errorf("fmp4: sync after %s: %w", what, err))
		}
	}
	return nil
}

// fail makes err final.
func (w *Writer) fail(err error) error {
	w.err = err
	return err
}
