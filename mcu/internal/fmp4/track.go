package fmp4

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// sample is one access unit of a track: where its payload lies in track.data and its time.
type sample struct {
	ticks     int64 // presentation time in the track's timescale, on the caller's clock
	dur       int64 // ticks until the next sample; known once that sample arrives
	off, size int
	sync      bool
}

// track gathers the samples of one track for the fragment being built. The newest sample waits in pend
// until the next one gives its duration; the others are in samples, their payloads back to back in data.
type track struct {
	id        int
	timescale int64
	// limit is the longest this track's part of a fragment may be, in ticks.
	limit int64
	// lead tracks decide where fragments are cut (video, or audio in an audio-only file); the other
	// track only forces a cut when the lead one stalls.
	lead bool

	data      []byte
	samples   []sample
	fragTicks int64 // sum of the durations in samples
	pend      sample
	hasPend   bool

	first      time.Duration // time of the first sample ever accepted
	hasFirst   bool
	lastDur    int64 // duration of the newest finished sample, for the last one at Close
	defaultDur int64 // the last one's duration at Close if there was no other sample
	waitKey    bool  // video: drop samples until the next keyframe

	written, dropped int
}

// newTrack returns a track whose part of a fragment lasts at most fragment (plus leadSlack unless it
// leads); defaultDur is in the track's timescale.
func newTrack(id int, timescale int64, fragment time.Duration, lead bool, defaultDur int64) *track {
	limit := toTicks(fragment, timescale)
	if !lead {
		limit += toTicks(leadSlack, timescale)
	}
	return &track{id: id, timescale: timescale, limit: limit, lead: lead, defaultDur: defaultDur}
}

// aacFrameSamples is the duration of an AAC-LC access unit in samples.
const aacFrameSamples = 1024

// leadSlack is how much longer than FragmentDuration the non-lead track's part of a fragment may grow
// before it forces a cut itself: only when the lead track stalls.
const leadSlack = 500 * time.Millisecond

// wantsCut reports whether the fragment must be cut before s (whose duration is now known) joins it:
// when s would make this track's part longer than the limit, or, on the lead track, when s is a
// keyframe and the fragment is at least half full (so that fragments start at keyframes when the
// encoder makes them often enough).
func (t *track) wantsCut(s sample) bool {
	if len(t.samples) == 0 {
		return false
	}
	if t.fragTicks+s.dur > t.limit {
		return true
	}
	return t.lead && s.sync && 2*t.fragTicks >= t.limit
}

// part returns the track's finished samples as a fragment part, its base time counted from origin
// (ticks in this track's timescale), or nil if there are none. The samples view t.data until reset.
func (t *track) part(origin int64) *fmp4.PartTrack {
	if len(t.samples) == 0 {
		return nil
	}
	p := &fmp4.PartTrack{ID: t.id, BaseTime: uint64(t.samples[0].ticks - origin), Samples: make([]*fmp4.Sample, len(t.samples))}
	for i, s := range t.samples {
		p.Samples[i] = &fmp4.Sample{
			Duration:        uint32(s.dur),
			IsNonSyncSample: !s.sync,
			Payload:         t.data[s.off : s.off+s.size],
		}
	}
	return p
}

// reset drops the finished samples once they are written. What follows them in data (the pending
// sample's payload, and a new one being pushed) moves to the start.
func (t *track) reset() {
	t.written += len(t.samples)
	from := len(t.data)
	if t.hasPend {
		from = t.pend.off
	} else if len(t.samples) > 0 {
		last := t.samples[len(t.samples)-1]
		from = last.off + last.size
	}
	t.data = t.data[:copy(t.data, t.data[from:])]
	t.pend.off -= from
	t.samples = t.samples[:0]
	t.fragTicks = 0
}
