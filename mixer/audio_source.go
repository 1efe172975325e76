package mixer

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/openmcu/mcu/codec"
)

// AudioSource is one participant's input to an AudioMixer, returned by AddSource. Its decoder goroutine
// calls Write once per decoded 20 ms frame. Write is safe for concurrent use and never waits for the mixer
// beyond a 960-sample copy: the input is a ring of 5 frames, and when it is full the oldest frame is
// overwritten and counted in AudioStats.InputFramesDropped (M1).
//
// When the mixer finds less than a frame buffered at a tick (an underrun), the source plays silence and
// buffers again until it holds 2 frames, so a source that alternates between one frame and none does not
// crackle. The ring then shrinks back to what the source's arrival jitter needs (see trimLocked): a
// source whose frames arrive on time, some margin before the tick, plays each frame at the first tick
// after it arrived.
type AudioSource struct {
	id       ParticipantID
	minusKey string
	stats    *audioCounters

	// mu guards the ring, shared by the writer and the mixing goroutine.
	mu        sync.Mutex
	ring      [inputBufferFrames][codec.FrameSamples]int16
	arrived   [inputBufferFrames]time.Time // when each ring frame's packet arrived (zero if unknown)
	head      int                          // index of the oldest frame
	count     int                          // buffered frames, the head one included
	off       int                          // samples of the head frame already played
	buffering bool
	removed   bool
	minSpare  int           // least spare (see trimLocked) at a tick in this trim window, in samples
	ticks     int           // ticks in this trim window
	margin    time.Duration // how long before a tick a frame must have arrived to count as spare
	clean     int           // trim windows in a row without an underrun

	// Everything below belongs to the mixing goroutine.
	frame        [codec.FrameSamples]int16 // this tick's frame (silence if none)
	frameArrived time.Time                 // when the frame this tick starts to play arrived; zero for silence
	det          speakerDetector
	contributing bool
	minusPCM     [codec.FrameSamples]int16
	minusLimiter limiter
	span         [2 * codec.FrameSamples]int16 // scratch for accelerate
}

func newAudioSource(id ParticipantID, stats *audioCounters, lim limiter) *AudioSource {
	return &AudioSource{
		id:           id,
		minusKey:     MinusMixKey(id),
		stats:        stats,
		buffering:    true,
		margin:       trimMargin,
		minusLimiter: lim,
		det:          newSpeakerDetector(),
	}
}

// ID returns the participant this source belongs to. Safe for concurrent use.
func (s *AudioSource) ID() ParticipantID { return s.id }

// Write copies one frame of codec.FrameSamples samples into the source's ring. It returns an error
// wrapping codec.ErrFrameSize for a frame of another length, and ErrAudioSourceRemoved after RemoveSource.
// Safe for concurrent use; it never blocks on the mixer.
func (s *AudioSource) Write(pcm []int16) error { return s.WriteAt(pcm, time.Time{}) }

// WriteAt is Write for a frame whose packet arrived at the given time: the mixer reports, with each tick,
// the earliest arrival among the frames it mixed (AudioTick.Arrived), so the caller can measure the
// latency the mixer adds.
func (s *AudioSource) WriteAt(pcm []int16, arrived time.Time) error {
	if len(pcm) != codec.FrameSamples {
		return fmt.Errorf("write audio source %s: %d samples, want %d: %w", s.id, len(pcm), codec.FrameSamples, codec.ErrFrameSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return fmt.Errorf("write audio source %s: %w", s.id, ErrAudioSourceRemoved)
	}
	if s.count == inputBufferFrames {
		// Full: drop the oldest frame to keep latency bounded.
		s.head = (s.head + 1) % inputBufferFrames
		s.count--
		s.off = 0 // the frame being played went: the next plays from its start
		s.stats.dropped.Add(1)
	}
	i := (s.head + s.count) % inputBufferFrames
	copy(s.ring[i][:], pcm)
	s.arrived[i] = arrived
	s.count++
	return nil
}

// quiet reports whether a frame's mean square is below trimQuietPower.
func quiet(f *[codec.FrameSamples]int16) bool {
	var sum int64
	for _, v := range f {
		sum += int64(v) * int64(v)
	}
	return float64(sum)/float64(len(f))/(32768*32768) < trimQuietPower
}

// remove makes later Writes fail. Called with the mixer's lock held.
func (s *AudioSource) remove() {
	s.mu.Lock()
	s.removed = true
	s.mu.Unlock()
}

// read moves the next 960 samples into s.frame, or fills it with silence while the source is buffering
// or has starved. It reports whether a real frame was read. now is the tick's time. Mixing goroutine
// only.
func (s *AudioSource) read(now time.Time) bool {
	s.mu.Lock()
	ok := s.readLocked(now)
	s.mu.Unlock()
	if !ok {
		clear(s.frame[:])
		s.frameArrived = time.Time{}
	}
	return ok
}

// avail returns the samples buffered and not yet played.
func (s *AudioSource) avail() int { return s.count*codec.FrameSamples - s.off }

func (s *AudioSource) readLocked(now time.Time) bool {
	if s.buffering {
		if s.avail() < inputResumeFrames*codec.FrameSamples {
			return false
		}
		s.buffering = false
		s.ticks = 0
	}
	if s.avail() < codec.FrameSamples {
		s.buffering = true
		s.stats.underruns.Add(1)
		// Frames came later than the margin allowed for: keep more in hand from now on.
		s.margin = min(s.margin+trimMargin, trimMaxMargin)
		s.clean = 0
		return false
	}
	s.frameArrived = s.firstArrivalLocked()
	drop, accel := s.trimLocked(now)
	if accel > 0 {
		s.accelerateLocked(accel)
		return true
	}
	if drop {
		// A quiet frame, or one nobody hears: dropped whole, then the next one is read.
		s.advanceLocked(codec.FrameSamples)
		s.stats.trimmed.Add(1)
		s.frameArrived = s.firstArrivalLocked()
	}
	s.copyLocked(s.frame[:])
	s.advanceLocked(codec.FrameSamples)
	return true
}

// firstArrivalLocked returns the arrival of the frame whose first sample the next read carries: the
// head frame when none of it was played, else the next one (whose start falls in the next 960 samples).
// Each frame is so reported once, at the first mixed frame that carries it.
func (s *AudioSource) firstArrivalLocked() time.Time {
	if s.off == 0 {
		return s.arrived[s.head]
	}
	return s.arrived[(s.head+1)%inputBufferFrames]
}

// copyLocked copies the next len(dst) buffered samples into dst without consuming them; they must be
// buffered.
func (s *AudioSource) copyLocked(dst []int16) {
	i, off := s.head, s.off
	for n := 0; n < len(dst); {
		k := copy(dst[n:], s.ring[i][off:])
		n += k
		i, off = (i+1)%inputBufferFrames, 0
	}
}

// advanceLocked consumes n buffered samples.
func (s *AudioSource) advanceLocked(n int) {
	n += s.off
	s.head = (s.head + n/codec.FrameSamples) % inputBufferFrames
	s.count -= n / codec.FrameSamples
	s.off = n % codec.FrameSamples
}

// spareLocked returns the samples buffered beyond this tick's frame that arrived at least the margin
// before now: what the source could lose without this tick having starved had its newest frames come a
// margin later. A frame of unknown arrival (Write) is never spare: only a source that says when its
// frames arrived (WriteAt) is trimmed.
func (s *AudioSource) spareLocked(now time.Time) int {
	n := -s.off
	for k := range s.count {
		a := s.arrived[(s.head+k)%inputBufferFrames]
		if a.IsZero() || now.Sub(a) < s.margin {
			break
		}
		n += codec.FrameSamples
	}
	return n - codec.FrameSamples
}

// trimLocked decides whether this tick drops a whole frame before reading one, or how many samples it
// accelerates away (accelerateLocked); neither, mostly. A source whose
// spare (spareLocked) stayed at trimMinSpare samples or more at every tick of the last trimWindow ticks
// has more buffered than its arrival jitter needs, so it loses delay: a whole frame when it is quiet or
// not in the mix (it contributed to no mix last tick: nobody hears what is dropped) and that much was
// spare, else, by accelerating (accelerateLocked), as much as was spare, up to a frame. Each loss starts a
// new window. A source's margin grows by trimMargin at each underrun (up to trimMaxMargin) and shrinks
// back after trimCleanWindows windows without one.
func (s *AudioSource) trimLocked(now time.Time) (drop bool, accel int) {
	spare := s.spareLocked(now)
	if s.ticks == 0 || spare < s.minSpare {
		s.minSpare = spare
	}
	s.ticks++
	if s.ticks < trimWindow {
		return false, 0
	}
	s.ticks = 0
	if s.clean++; s.clean >= trimCleanWindows {
		s.clean = 0
		s.margin = max(s.margin-trimMargin, trimMargin)
	}
	switch {
	case s.minSpare >= codec.FrameSamples && (!s.contributing || quiet(&s.ring[s.head])):
		return true, 0
	case s.minSpare >= trimMinSpare:
		return false, min(s.minSpare, codec.FrameSamples)
	}
	return false, 0
}

// accelerateLocked fills s.frame from the next 960+k samples, k at most maxDrop and at least
// trimMinSpare: it finds where the signal best repeats itself k samples later (the lag of highest
// normalised correlation over a 10 ms window, as a pitch period or a multiple of it) and cross-fades from
// the signal to itself k samples later over that window, so that a voice or a tone loses k samples
// without a click (WSOLA; NetEq's "accelerate"). Counted in AudioStats.InputSamplesAccelerated.
func (s *AudioSource) accelerateLocked(maxDrop int) {
	const fade = accelerateFade
	x := s.span[:codec.FrameSamples+maxDrop]
	s.copyLocked(x)
	var scores [codec.FrameSamples - trimMinSpare + 1]float64
	var e0 float64
	for i := range fade {
		e0 += float64(x[i]) * float64(x[i])
	}
	lo := trimMinSpare
	var eL float64
	for i := range fade {
		eL += float64(x[lo+i]) * float64(x[lo+i])
	}
	top := -2.0
	for k := lo; k <= maxDrop; k++ {
		if k > lo { // slide the energy window of x[k:k+fade]
			a, b := float64(x[k-1]), float64(x[k+fade-1])
			eL += b*b - a*a
		}
		var c float64
		for i := range fade {
			c += float64(x[i]) * float64(x[k+i])
		}
		score := 1.0 // silence matches anything
		if e0 > 0 && eL > 1 {
			score = c / math.Sqrt(e0*eL)
		}
		scores[k-lo] = score
		top = max(top, score)
	}
	// The longest lag at a peak of the correlation that matches nearly as well as the best: as much delay
	// gone per accelerate as a clean splice allows (a tone matches itself at every period).
	best := maxDrop
	for k := maxDrop; k >= lo; k-- {
		sc := scores[k-lo]
		if sc < top-accelerateTolerance {
			continue
		}
		if (k == maxDrop || sc >= scores[k+1-lo]) && (k == lo || sc >= scores[k-1-lo]) {
			best = k
			break
		}
	}
	for i := range fade {
		s.frame[i] = int16((int32(x[i])*int32(fade-i) + int32(x[i+best])*int32(i)) / int32(fade))
	}
	copy(s.frame[fade:], x[fade+best:codec.FrameSamples+best])
	s.advanceLocked(codec.FrameSamples + best)
	s.stats.accelerated.Add(uint64(best))
}
