package mixer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
)

// Errors returned by the AudioMixer. Check them with errors.Is.
var (
	// ErrAudioMixerClosed is returned by Run and by the membership methods after Close.
	ErrAudioMixerClosed = errors.New("audio mixer: closed")
	// ErrAudioMixerRunning is returned by Run when another Run call is already going.
	ErrAudioMixerRunning = errors.New("audio mixer: already running")
	// ErrAudioSourceExists is returned by AddSource for an ID that is already a source.
	ErrAudioSourceExists = errors.New("audio mixer: source already exists")
	// ErrAudioListenerExists is returned by AddListener for an ID that is already a listener.
	ErrAudioListenerExists = errors.New("audio mixer: listener already exists")
	// ErrAudioSourceRemoved is returned by AudioSource.Write once its source has been removed.
	ErrAudioSourceRemoved = errors.New("audio mixer: source removed")
)

// AllMixKey is the key of the shared mix that every listener who is not a contributing source hears.
const AllMixKey = "all"

// minusKeyPrefix starts the key of a contributing source's own mix: "minus:<id>".
const minusKeyPrefix = "minus:"

// MinusMixKey returns the key of the mix heard by id while id contributes to the sum: everyone who
// contributes, except id itself.
func MinusMixKey(id ParticipantID) string { return minusKeyPrefix + string(id) }

// inputBufferFrames is the depth of each source's input ring (5 x 20 ms) and the most ticks Run catches up
// after a late wakeup (STYLE 2.2, M1, M2).
const inputBufferFrames = 5

// inputResumeFrames is how many frames a starved source must have buffered before it plays again.
const inputResumeFrames = 2

// Latency trimming (AudioSource.trimLocked): a source whose ring held, at every tick of the last
// trimWindow ticks, at least trimMinSpare samples beyond the tick's frame that had arrived trimMargin or
// more before the tick has more buffered than its arrival jitter needs, and loses that much delay (up to
// a frame): a quiet frame (below trimQuietPower, a pause between words) or a frame nobody hears is
// dropped whole; a voice or a tone in the mix is shortened by a pitch-synchronous cross-fade instead
// (accelerate), since cutting 20 ms out of it is an audible click. A regular source then plays each frame
// at the first tick after it arrived when it arrives at least the margin before the tick, and one tick
// later otherwise, instead of keeping whatever delay a burst of late packets left behind. Each underrun
// widens that source's margin by trimMargin (up to trimMaxMargin, where it keeps a whole frame in hand);
// trimCleanWindows windows without one narrow it again.
const (
	trimWindow       = 50 // ticks: 1 s
	trimMinSpare     = codec.FrameSamples / 2
	trimMargin       = 5 * time.Millisecond
	trimMaxMargin    = 20 * time.Millisecond
	trimCleanWindows = 10
	trimQuietPower   = 1.0e-5 // mean square relative to full scale: -50 dBov
	accelerateFade   = codec.FrameSamples / 2
	// accelerateTolerance is how much worse (in normalised correlation) than the best lag a longer lag
	// may match and still be taken.
	accelerateTolerance = 0.05
)

// AudioConfig is the serialisable configuration of an AudioMixer. Start from DefaultAudioConfig, change
// what you need, and call Validate. Durations are rounded up to whole 20 ms frames.
type AudioConfig struct {
	// SpeakerThresholdDBov is the smoothed frame level (RMS in dB relative to a full-scale square wave,
	// so a full-scale sine is -3 dBov) above which a source counts as active.
	SpeakerThresholdDBov float64 `json:"speaker_threshold_dbov"`
	// SpeakerAttack is how long a source must stay above the threshold before it is reported speaking.
	// It does not delay mixing: a source contributes from its first frame above the threshold.
	SpeakerAttack time.Duration `json:"speaker_attack"`
	// SpeakerHangover is how long a source stays active (mixed) and speaking after its level drops below
	// the threshold, so that pauses between words neither cut the audio nor flap the events.
	SpeakerHangover time.Duration `json:"speaker_hangover"`
	// MaxMixedSpeakers caps how many active sources are mixed at once: the loudest ones win, with a small
	// preference for those already mixed. It also bounds the number of distinct mixes to MaxMixedSpeakers+1.
	MaxMixedSpeakers int `json:"max_mixed_speakers"`
	// LimiterCeilingDBov is the peak level (dB relative to full scale, at most -0.5) the limiter keeps
	// every output sample under.
	LimiterCeilingDBov float64 `json:"limiter_ceiling_dbov"`
	// LimiterRelease is the time constant with which the limiter's gain returns to unity after a peak,
	// once its hold time (one frame) has passed.
	LimiterRelease time.Duration `json:"limiter_release"`
}

// DefaultAudioConfig returns the default configuration: threshold -45 dBov, attack 40 ms, hangover
// 500 ms, at most 4 mixed speakers, limiter ceiling -1 dBov with a 100 ms release.
func DefaultAudioConfig() AudioConfig {
	return AudioConfig{
		SpeakerThresholdDBov: -45,
		SpeakerAttack:        2 * codec.FrameDuration,
		SpeakerHangover:      500 * time.Millisecond,
		MaxMixedSpeakers:     4,
		LimiterCeilingDBov:   -1,
		LimiterRelease:       100 * time.Millisecond,
	}
}

// Validate reports the first field of c that is out of range, or nil.
func (c AudioConfig) Validate() error {
	switch {
	case math.IsNaN(c.SpeakerThresholdDBov) || c.SpeakerThresholdDBov < minLevelDBov || c.SpeakerThresholdDBov > 0:
		return fmt.Errorf("audio config: speaker_threshold_dbov %v not in [%d, 0]", c.SpeakerThresholdDBov, minLevelDBov)
	case c.SpeakerAttack < 0 || c.SpeakerAttack > 2*time.Second:
		return fmt.Errorf("audio config: speaker_attack %v not in [0, 2s]", c.SpeakerAttack)
	case c.SpeakerHangover < 0 || c.SpeakerHangover > 10*time.Second:
		return fmt.Errorf("audio config: speaker_hangover %v not in [0, 10s]", c.SpeakerHangover)
	case c.MaxMixedSpeakers < 1 || c.MaxMixedSpeakers > 64:
		return fmt.Errorf("audio config: max_mixed_speakers %d not in [1, 64]", c.MaxMixedSpeakers)
	case math.IsNaN(c.LimiterCeilingDBov) || c.LimiterCeilingDBov < -20 || c.LimiterCeilingDBov > -0.5:
		return fmt.Errorf("audio config: limiter_ceiling_dbov %v not in [-20, -0.5]", c.LimiterCeilingDBov)
	case c.LimiterRelease < codec.FrameDuration || c.LimiterRelease > 5*time.Second:
		return fmt.Errorf("audio config: limiter_release %v not in [20ms, 5s]", c.LimiterRelease)
	}
	return nil
}

// AudioParams holds what an AudioMixer needs from its owner besides configuration.
type AudioParams struct {
	// Clock paces Run; nil means SystemClock.
	Clock Clock
	// Logger receives lifecycle messages and once-a-second drop reports; nil discards them.
	Logger *slog.Logger
	// Listener receives every tick's mixes and the speaking changes; nil discards them.
	Listener AudioListener
}

// AudioListener receives the output of an AudioMixer. Its methods are called one at a time, from the
// goroutine that runs the mixer (Run, or the caller of a test tick), with no mixer lock held: they may call
// back into the mixer (AddSource, ActiveSpeakers, ...). They must return quickly; hand encoding to another
// goroutine if it could stall the 20 ms cadence.
type AudioListener interface {
	// OnAudioTick receives one tick's distinct mixes. tick and everything it points to (the Mixes slice,
	// each PCM and Listeners slice) are owned by the mixer and valid only until the call returns; copy
	// what you keep, or encode it before returning.
	OnAudioTick(tick AudioTick)
	// OnSpeakingChanged receives the speaking changes of one tick, in source order. It is only called when
	// at least one source started or stopped speaking. The slice is valid only during the call.
	OnSpeakingChanged(changes []SpeakingChange)
}

// AudioTick is one 20 ms output of the mixer.
type AudioTick struct {
	// Seq counts the ticks of this mixer from 0, without gaps: the RTP timestamp of the frame is
	// Seq*codec.FrameSamples (plus a random offset) for a 48 kHz clock rate.
	Seq uint64
	// Mixes are the distinct mixes of this tick: one per contributing source that is also a listener
	// (key MinusMixKey(id)), plus the shared AllMixKey mix when at least one listener is not contributing.
	// Each listener appears in exactly one mix.
	Mixes []AudioMix
	// Arrived is the earliest arrival time (AudioSource.WriteAt) among the frames that this tick is the
	// first to carry (a source's tick may end one frame and start the next, after an accelerate), or zero
	// when nothing with a known arrival time was mixed. Output time minus Arrived is the latency the mixer
	// added for the longest-waiting voice, each frame counted once.
	Arrived time.Time
	// Late is how long after its due time this tick was mixed: Run's wakeup delay plus any ticks it
	// caught up before this one. It grows when the process is short of CPU time (zero when the
	// caller runs the ticks itself).
	Late time.Duration
}

// AudioMix is one distinct mix of a tick. Run one encoder per Key and send its output to every listener
// in Listeners.
//
// Keys change when a participant starts or stops contributing: a listener moves from AllMixKey to
// MinusMixKey(itself) when its voice enters the mix, and back after the hangover. The caller then switches
// that listener to the encoder of the new key (creating it, or closing the old one when it no longer has
// listeners). The limiter gain carries over across such a switch, so the level does not jump.
type AudioMix struct {
	// Key names the mix: AllMixKey, or MinusMixKey(id) for the mix of contributing listener id.
	Key string
	// PCM is codec.FrameSamples samples, in a buffer the mixer reuses at the next tick.
	PCM []int16
	// Listeners are the participants who hear this mix, in ID order; reused at the next tick.
	Listeners []ParticipantID
}

// SpeakingChange reports that a source started or stopped speaking.
type SpeakingChange struct {
	// ID is the source.
	ID ParticipantID
	// Speaking is the new state.
	Speaking bool
	// LevelDBov is the source's smoothed level at the change.
	LevelDBov float64
}

// AudioStats are the mixer's counters since it was created. A plain value: a snapshot.
type AudioStats struct {
	// Ticks is the number of mixed frames.
	Ticks uint64
	// InputFramesDropped counts input frames overwritten because a source's ring was full.
	InputFramesDropped uint64
	// Underruns counts how often a source had no frame for a tick and went back to buffering.
	Underruns uint64
	// InputFramesTrimmed counts frames dropped whole because a source had more buffered than it needed
	// (see trimWindow), and InputSamplesAccelerated the samples (48 kHz) cross-faded away for the same
	// reason while the source was in the mix.
	InputFramesTrimmed      uint64
	InputSamplesAccelerated uint64
	// TimingResets counts late wakeups of Run that were longer than the input buffer, after which the
	// tick clock was reset instead of catching up.
	TimingResets uint64
}

type audioCounters struct {
	ticks, dropped, underruns, timingResets, trimmed, accelerated atomic.Uint64
}

// listenerEntry is one listener as the mixing goroutine sees it: src is its own source, if it is one.
type listenerEntry struct {
	id  ParticipantID
	src *AudioSource
}

// AudioMixer mixes the audio of a room: every 20 ms it takes one frame from each source, finds who is
// speaking, and gives each listener the sum of the active sources minus their own voice, through a soft
// limiter that lowers the gain instead of clipping (design notes in audio_limiter.go). Listeners who are not
// themselves in the mix share one output, so the number of encodes grows with the number of people
// talking, not with the size of the room.
//
// Build it with NewAudioMixer, drive it with Run, stop it with Close. Membership methods, Stats and
// ActiveSpeakers are safe for concurrent use, also while Run is going; the listener is called from Run's
// goroutine.
type AudioMixer struct {
	cfg      AudioConfig
	clock    Clock
	log      *slog.Logger
	listener AudioListener
	stats    audioCounters

	// Derived from cfg at construction.
	thresholdPower float64 // linear mean-square threshold, relative to full scale squared
	attackFrames   int
	hangoverFrames int

	// mu guards the membership (the control side) and the speaker snapshot.
	mu        sync.Mutex
	closed    bool
	running   bool
	sources   map[ParticipantID]*AudioSource
	listeners map[ParticipantID]struct{}
	version   uint64          // bumped on every membership change
	speakers  []ParticipantID // snapshot for ActiveSpeakers, ordered
	closing   chan struct{}   // closed by Close
	runDone   sync.WaitGroup  // Run's goroutine

	// Everything below belongs to the goroutine that calls mixOnce.
	builtVersion uint64
	seq          uint64
	late         time.Duration   // the current tick's AudioTick.Late, set by Run
	srcs         []*AudioSource  // sorted by ID
	lsn          []listenerEntry // sorted by ID
	removed      []*AudioSource  // sources removed since the last tick, for their final events
	ranked       []*AudioSource  // scratch: active sources by score
	mixed        []*AudioSource  // contributing sources this tick
	speaking     []*AudioSource  // scratch: speaking sources for the snapshot
	changes      []SpeakingChange
	mixes        []AudioMix
	ids          []ParticipantID
	sum          [codec.FrameSamples]int32
	allPCM       [codec.FrameSamples]int16
	allLimiter   limiter
}

// NewAudioMixer returns a mixer with no sources or listeners. It starts no goroutine. cfg should have
// passed Validate; if it does not, the error is logged and DefaultAudioConfig is used instead.
func NewAudioMixer(cfg AudioConfig, p AudioParams) *AudioMixer {
	if p.Clock == nil {
		p.Clock = SystemClock{}
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Listener == nil {
		p.Listener = nopAudioListener{}
	}
	if err := cfg.Validate(); err != nil {
		p.Logger.Error("invalid audio config, using defaults", "err", err)
		cfg = DefaultAudioConfig()
	}
	m := &AudioMixer{
		cfg:            cfg,
		clock:          p.Clock,
		log:            p.Logger,
		listener:       p.Listener,
		thresholdPower: math.Pow(10, cfg.SpeakerThresholdDBov/10),
		attackFrames:   max(1, framesCeil(cfg.SpeakerAttack)),
		hangoverFrames: framesCeil(cfg.SpeakerHangover),
		sources:        make(map[ParticipantID]*AudioSource),
		listeners:      make(map[ParticipantID]struct{}),
		closing:        make(chan struct{}),
		ranked:         make([]*AudioSource, 0, 8),
		mixed:          make([]*AudioSource, 0, cfg.MaxMixedSpeakers),
	}
	m.allLimiter = newLimiter(cfg.LimiterCeilingDBov, cfg.LimiterRelease)
	return m
}

// framesCeil converts d to a whole number of frames, rounding up.
func framesCeil(d time.Duration) int {
	return int((d + codec.FrameDuration - 1) / codec.FrameDuration)
}

// AddSource adds id as a source and returns the handle its decoder writes to. The source is mixed from the
// next tick on, once it has buffered a few frames. Safe for concurrent use.
func (m *AudioMixer) AddSource(id ParticipantID) (*AudioSource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("add source %s: %w", id, ErrAudioMixerClosed)
	}
	if _, ok := m.sources[id]; ok {
		return nil, fmt.Errorf("add source %s: %w", id, ErrAudioSourceExists)
	}
	s := newAudioSource(id, &m.stats, newLimiter(m.cfg.LimiterCeilingDBov, m.cfg.LimiterRelease))
	m.sources[id] = s
	m.version++
	return s, nil
}

// RemoveSource removes source id and reports whether it existed. Its handle's Write fails from then on; if
// it was speaking, a final "stopped speaking" change is delivered at the next tick. Safe for concurrent use.
func (m *AudioMixer) RemoveSource(id ParticipantID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sources[id]
	if !ok {
		return false
	}
	delete(m.sources, id)
	s.remove()
	m.version++
	return true
}

// AddListener adds id as a listener: from the next tick on it appears in exactly one AudioMix per tick.
// Safe for concurrent use.
func (m *AudioMixer) AddListener(id ParticipantID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("add listener %s: %w", id, ErrAudioMixerClosed)
	}
	if _, ok := m.listeners[id]; ok {
		return fmt.Errorf("add listener %s: %w", id, ErrAudioListenerExists)
	}
	m.listeners[id] = struct{}{}
	m.version++
	return nil
}

// RemoveListener removes listener id and reports whether it existed. Safe for concurrent use.
func (m *AudioMixer) RemoveListener(id ParticipantID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.listeners[id]; !ok {
		return false
	}
	delete(m.listeners, id)
	m.version++
	return true
}

// ActiveSpeakers returns the sources speaking now (including those in their hangover), the one who most
// recently started speaking first; sources that started at the same tick are ordered loudest first. The
// slice is the caller's. Safe for concurrent use.
func (m *AudioMixer) ActiveSpeakers() []ParticipantID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]ParticipantID(nil), m.speakers...)
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (m *AudioMixer) Stats() AudioStats {
	return AudioStats{
		Ticks:                   m.stats.ticks.Load(),
		InputFramesDropped:      m.stats.dropped.Load(),
		Underruns:               m.stats.underruns.Load(),
		TimingResets:            m.stats.timingResets.Load(),
		InputFramesTrimmed:      m.stats.trimmed.Load(),
		InputSamplesAccelerated: m.stats.accelerated.Load(),
	}
}

// Run mixes one frame every codec.FrameDuration of the injected clock until ctx is cancelled or Close is
// called, and then returns nil. After a late wakeup it mixes the frames it missed, at most the input buffer
// depth (5 frames); beyond that it resets its schedule and counts a timing reset. Only one Run may be going
// at a time; Run after Close returns ErrAudioMixerClosed.
func (m *AudioMixer) Run(ctx context.Context) error {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return fmt.Errorf("run: %w", ErrAudioMixerClosed)
	case m.running:
		m.mu.Unlock()
		return fmt.Errorf("run: %w", ErrAudioMixerRunning)
	}
	m.running = true
	m.runDone.Add(1)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
		m.runDone.Done()
	}()

	const period = codec.FrameDuration
	ticker := m.clock.NewTicker(period)
	defer ticker.Stop()
	m.log.Info("audio mixer started")
	defer m.log.Info("audio mixer stopped")

	last := m.clock.Now()
	var reported AudioStats
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.closing:
			return nil
		case <-ticker.C():
		}
		now := m.clock.Now()
		// Mix as many frames as wall-clock time says are due, not one per ticker event (M2). The quarter
		// period absorbs wakeup jitter.
		n := int((now.Sub(last) + period/4) / period)
		first := last.Add(period) // due time of the first tick mixed now
		last = last.Add(time.Duration(n) * period)
		if n > inputBufferFrames {
			n = inputBufferFrames
			m.stats.timingResets.Add(1)
			last = now
		}
		for i := range n {
			m.late = max(0, m.clock.Now().Sub(first.Add(time.Duration(i)*period)))
			m.mixOnce()
			if m.seq%50 == 0 {
				reported = m.reportDrops(reported)
			}
		}
	}
}

// reportDrops logs, at most once a second, the counters that grew since the previous report.
func (m *AudioMixer) reportDrops(prev AudioStats) AudioStats {
	s := m.Stats()
	if s.InputFramesDropped != prev.InputFramesDropped || s.Underruns != prev.Underruns || s.TimingResets != prev.TimingResets {
		m.log.Warn("audio mixer drops",
			"input_frames_dropped", s.InputFramesDropped-prev.InputFramesDropped,
			"underruns", s.Underruns-prev.Underruns,
			"timing_resets", s.TimingResets-prev.TimingResets)
	}
	return s
}

// Close stops Run, waits for it to return, and makes further AddSource, AddListener and Run calls fail.
// It is idempotent and safe for concurrent use; it must not be called from the listener.
func (m *AudioMixer) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.closing)
	}
	m.mu.Unlock()
	m.runDone.Wait()
	return nil
}

type nopAudioListener struct{}

func (nopAudioListener) OnAudioTick(AudioTick)              {}
func (nopAudioListener) OnSpeakingChanged([]SpeakingChange) {}
