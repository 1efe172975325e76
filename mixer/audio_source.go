package mixer

import (
	"fmt"
	"sync"
	"time"

	"github.com/openmcu/mcu/codec"
)

// AudioSource is one participant's input to an AudioMixer, returned by AddSource. Its decoder goroutine
// calls Write once per decoded 20 ms frame. Write is safe for concurrent use and never waits for the mixer
// beyond a 960-sample copy: the input is a ring of 5 frames, and when it is full the oldest frame is
// overwritten and counted in AudioStats.InputFramesDropped (M1).
//
// When the mixer finds the ring empty at a tick (an underrun), the source plays silence and buffers again
// until it holds 3 frames, so a source that alternates between one frame and none does not crackle.
type AudioSource struct {
	id       ParticipantID
	minusKey string
	stats    *audioCounters

	// mu guards the ring, shared by the writer and the mixing goroutine.
	mu        sync.Mutex
	ring      [inputBufferFrames][codec.FrameSamples]int16
	arrived   [inputBufferFrames]time.Time // when each ring frame's packet arrived (zero if unknown)
	head      int                          // index of the oldest frame
	count     int                          // buffered frames
	buffering bool
	removed   bool
	minCount  int // fewest frames buffered at a tick in this trim window
	ticks     int // ticks in this trim window

	// Everything below belongs to the mixing goroutine.
	frame        [codec.FrameSamples]int16 // this tick's frame (silence if none)
	frameArrived time.Time                 // when this tick's frame arrived; zero for silence
	det          speakerDetector
	contributing bool
	minusPCM     [codec.FrameSamples]int16
	minusLimiter limiter
}

func newAudioSource(id ParticipantID, stats *audioCounters, lim limiter) *AudioSource {
	return &AudioSource{
		id:           id,
		minusKey:     MinusMixKey(id),
		stats:        stats,
		buffering:    true,
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
		s.stats.dropped.Add(1)
	}
	i := (s.head + s.count) % inputBufferFrames
	copy(s.ring[i][:], pcm)
	s.arrived[i] = arrived
	s.count++
	return nil
}

// trimLocked drops a frame when the ring held trimMinFrames or more at every tick of the last
// trimWindow ticks (see trimMinFrames): a quiet one, or any one while the source is not in the mix (it
// contributed to no mix last tick: nobody hears what is dropped, and the source enters the mix later
// with less delay). Once the window is over it stays armed, looking at each tick's oldest frame, until
// one can be dropped or the ring runs low (a new window starts). Called at each tick before the read,
// on the mixing goroutine (which owns contributing).
func (s *AudioSource) trimLocked() {
	if s.buffering {
		s.ticks = 0
		return
	}
	if s.ticks == 0 || s.count < s.minCount {
		s.minCount = s.count
	}
	s.ticks++
	if s.ticks < trimWindow {
		return
	}
	if s.minCount < trimMinFrames {
		s.ticks = 0
		return
	}
	if !s.contributing || quiet(&s.ring[s.head]) {
		s.head = (s.head + 1) % inputBufferFrames
		s.count--
		s.stats.trimmed.Add(1)
		s.ticks = 0
	}
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

// read moves the oldest buffered frame into s.frame, or fills it with silence while the source is
// buffering or has starved. It reports whether a real frame was read. Mixing goroutine only.
func (s *AudioSource) read() bool {
	s.mu.Lock()
	ok := s.readLocked()
	s.mu.Unlock()
	if !ok {
		clear(s.frame[:])
		s.frameArrived = time.Time{}
	}
	return ok
}

func (s *AudioSource) readLocked() bool {
	s.trimLocked()
	if s.buffering {
		if s.count < inputResumeFrames {
			return false
		}
		s.buffering = false
	}
	if s.count == 0 {
		s.buffering = true
		s.stats.underruns.Add(1)
		return false
	}
	copy(s.frame[:], s.ring[s.head][:])
	s.frameArrived = s.arrived[s.head]
	s.head = (s.head + 1) % inputBufferFrames
	s.count--
	return true
}
