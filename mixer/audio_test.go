package mixer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
)

// recordedMix is a deep copy of one AudioMix.
type recordedMix struct {
	Key       string
	PCM       []int16
	Listeners []ParticipantID
}

// recorder is a fake AudioListener that keeps copies of everything it receives. Safe for concurrent use.
type recorder struct {
	mu      sync.Mutex
	ticks   []uint64
	arrived []time.Time
	mixes   [][]recordedMix
	changes []SpeakingChange
	// changeSeq is the tick (count of ticks seen before) at which each change arrived.
	changeSeq []int
}

func (r *recorder) OnAudioTick(t AudioTick) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks = append(r.ticks, t.Seq)
	r.arrived = append(r.arrived, t.Arrived)
	var ms []recordedMix
	for _, m := range t.Mixes {
		ms = append(ms, recordedMix{Key: m.Key, PCM: slices.Clone(m.PCM), Listeners: slices.Clone(m.Listeners)})
	}
	r.mixes = append(r.mixes, ms)
}

func (r *recorder) OnSpeakingChanged(cs []SpeakingChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		r.changes = append(r.changes, c)
		r.changeSeq = append(r.changeSeq, len(r.ticks))
	}
}

func (r *recorder) tickCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ticks)
}

// last returns the mixes of the last tick by key.
func (r *recorder) last() map[string]recordedMix {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]recordedMix{}
	if len(r.mixes) == 0 {
		return out
	}
	for _, m := range r.mixes[len(r.mixes)-1] {
		out[m.Key] = m
	}
	return out
}

// heard returns the concatenated PCM that listener id received over all recorded ticks.
func (r *recorder) heard(id ParticipantID) []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pcm []int16
	for _, ms := range r.mixes {
		for _, m := range ms {
			if slices.Contains(m.Listeners, id) {
				pcm = append(pcm, m.PCM...)
			}
		}
	}
	return pcm
}

func newTestAudioMixer(t testing.TB, cfg AudioConfig) (*AudioMixer, *recorder) {
	t.Helper()
	rec := &recorder{}
	m := NewAudioMixer(cfg, AudioParams{Listener: rec})
	t.Cleanup(func() { _ = m.Close() })
	return m, rec
}

func constFrame(v int16) []int16 {
	f := make([]int16, codec.FrameSamples)
	for i := range f {
		f[i] = v
	}
	return f
}

// toneSource feeds a continuous sine into an AudioSource, frame after frame.
type toneSource struct {
	src   *AudioSource
	freq  float64
	amp   int16
	phase float64
	sent  []int16 // everything written, in order
}

func (ts *toneSource) write(t testing.TB) {
	t.Helper()
	var f []int16
	if ts.amp == 0 {
		f = make([]int16, codec.FrameSamples)
	} else {
		f = codectest.Tone(ts.freq, ts.amp, codec.FrameSamples, codec.SampleRate, &ts.phase)
	}
	if err := ts.src.Write(f); err != nil {
		t.Fatalf("write %s: %v", ts.src.ID(), err)
	}
	ts.sent = append(ts.sent, f...)
}

// writeAt writes the tone's next frame as arrived at at.
func (ts *toneSource) writeAt(t testing.TB, at time.Time) {
	t.Helper()
	f := codectest.Tone(ts.freq, ts.amp, codec.FrameSamples, codec.SampleRate, &ts.phase)
	if err := ts.src.WriteAt(f, at); err != nil {
		t.Fatalf("write %s: %v", ts.src.ID(), err)
	}
	ts.sent = append(ts.sent, f...)
}

// ampForDBov returns the peak amplitude of a sine whose RMS level is dbov.
func ampForDBov(dbov float64) int16 {
	return int16(math.Round(32768 * math.Sqrt2 * math.Pow(10, dbov/20)))
}

func mustAddSource(t testing.TB, m *AudioMixer, id ParticipantID) *AudioSource {
	t.Helper()
	s, err := m.AddSource(id)
	if err != nil {
		t.Fatalf("AddSource(%s): %v", id, err)
	}
	return s
}

func mustAddListener(t testing.TB, m *AudioMixer, id ParticipantID) {
	t.Helper()
	if err := m.AddListener(id); err != nil {
		t.Fatalf("AddListener(%s): %v", id, err)
	}
}

func TestAudioConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*AudioConfig)
		ok     bool
	}{
		{"default", func(*AudioConfig) {}, true},
		{"threshold above 0", func(c *AudioConfig) { c.SpeakerThresholdDBov = 1 }, false},
		{"threshold NaN", func(c *AudioConfig) { c.SpeakerThresholdDBov = math.NaN() }, false},
		{"negative attack", func(c *AudioConfig) { c.SpeakerAttack = -1 }, false},
		{"negative hangover", func(c *AudioConfig) { c.SpeakerHangover = -1 }, false},
		{"zero hangover", func(c *AudioConfig) { c.SpeakerHangover = 0 }, true},
		{"no speakers", func(c *AudioConfig) { c.MaxMixedSpeakers = 0 }, false},
		{"ceiling at full scale", func(c *AudioConfig) { c.LimiterCeilingDBov = 0 }, false},
		{"release too short", func(c *AudioConfig) { c.LimiterRelease = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultAudioConfig()
			tt.modify(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%t", c, err, tt.ok)
			}
		})
	}
}

// TestAudioMixMinus checks the sums on exact constant frames, far below the limiter's ceiling so the
// limiter is transparent, and the number and keys of the distinct mixes.
func TestAudioMixMinus(t *testing.T) {
	type want struct {
		value     int16
		listeners []ParticipantID
	}
	tests := []struct {
		name      string
		sources   map[ParticipantID]int16
		listeners []ParticipantID
		maxMixed  int
		want      map[string]want
	}{
		{
			name:      "three talkers and a pure listener",
			sources:   map[ParticipantID]int16{"a": 1000, "b": 2000, "c": 4000},
			listeners: []ParticipantID{"a", "b", "c", "d"},
			want: map[string]want{
				"all":     {7000, []ParticipantID{"d"}},
				"minus:a": {6000, []ParticipantID{"a"}},
				"minus:b": {5000, []ParticipantID{"b"}},
				"minus:c": {3000, []ParticipantID{"c"}},
			},
		},
		{
			name:      "everyone talks: no shared mix",
			sources:   map[ParticipantID]int16{"a": 1000, "b": 2000, "c": 4000},
			listeners: []ParticipantID{"a", "b", "c"},
			want: map[string]want{
				"minus:a": {6000, []ParticipantID{"a"}},
				"minus:b": {5000, []ParticipantID{"b"}},
				"minus:c": {3000, []ParticipantID{"c"}},
			},
		},
		{
			name:      "silent sources share the mix",
			sources:   map[ParticipantID]int16{"a": 1000, "b": -3000, "s1": 0, "s2": 0},
			listeners: []ParticipantID{"a", "b", "s1", "s2", "d"},
			want: map[string]want{
				"all":     {-2000, []ParticipantID{"d", "s1", "s2"}},
				"minus:a": {-3000, []ParticipantID{"a"}},
				"minus:b": {1000, []ParticipantID{"b"}},
			},
		},
		{
			name:      "publisher who does not listen",
			sources:   map[ParticipantID]int16{"pub": 3000, "a": 1000},
			listeners: []ParticipantID{"a", "d"},
			want: map[string]want{
				"all":     {4000, []ParticipantID{"d"}},
				"minus:a": {3000, []ParticipantID{"a"}},
			},
		},
		{
			name:      "capped at the two loudest",
			sources:   map[ParticipantID]int16{"a": 1000, "b": 2000, "c": 4000},
			listeners: []ParticipantID{"a", "b", "c", "d"},
			maxMixed:  2,
			want: map[string]want{
				"all":     {6000, []ParticipantID{"a", "d"}},
				"minus:b": {4000, []ParticipantID{"b"}},
				"minus:c": {2000, []ParticipantID{"c"}},
			},
		},
		{
			name:      "nobody talks",
			sources:   map[ParticipantID]int16{"a": 0, "b": 0},
			listeners: []ParticipantID{"a", "b"},
			want:      map[string]want{"all": {0, []ParticipantID{"a", "b"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultAudioConfig()
			if tt.maxMixed != 0 {
				cfg.MaxMixedSpeakers = tt.maxMixed
			}
			m, rec := newTestAudioMixer(t, cfg)
			srcs := map[ParticipantID]*AudioSource{}
			for id := range tt.sources {
				srcs[id] = mustAddSource(t, m, id)
			}
			for _, id := range tt.listeners {
				mustAddListener(t, m, id)
			}
			write := func() {
				for id, s := range srcs {
					if err := s.Write(constFrame(tt.sources[id])); err != nil {
						t.Fatalf("write %s: %v", id, err)
					}
				}
			}
			for range inputResumeFrames - 1 { // prime the rings
				write()
			}
			for tick := range 5 {
				write()
				m.mixOnce()
				got := rec.last()
				if len(got) != len(tt.want) {
					t.Fatalf("tick %d: %d distinct mixes %v, want %d", tick, len(got), keys(got), len(tt.want))
				}
				for key, w := range tt.want {
					g, ok := got[key]
					if !ok {
						t.Fatalf("tick %d: no mix %q among %v", tick, key, keys(got))
					}
					if !slices.Equal(g.Listeners, w.listeners) {
						t.Errorf("tick %d: mix %q goes to %v, want %v", tick, key, g.Listeners, w.listeners)
					}
					if len(g.PCM) != codec.FrameSamples {
						t.Fatalf("tick %d: mix %q has %d samples", tick, key, len(g.PCM))
					}
					if i := slices.IndexFunc(g.PCM, func(v int16) bool { return v != w.value }); i >= 0 {
						t.Errorf("tick %d: mix %q sample %d = %d, want %d (sources %v)", tick, key, i, g.PCM[i], w.value, tt.sources)
					}
				}
			}
		})
	}
}

func keys(m map[string]recordedMix) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestAudioLimiterNoClipping mixes two in-phase 440 Hz sines at 0.8 of full scale (a sum of 1.6): the
// shared mix must stay under the ceiling without pinned samples, and its third harmonic must stay at
// least 30 dB below the fundamental, which hard clipping would not achieve. A contributor, who hears one
// sine below the ceiling, must get it untouched.
func TestAudioLimiterNoClipping(t *testing.T) {
	m, rec := newTestAudioMixer(t, DefaultAudioConfig())
	a := &toneSource{src: mustAddSource(t, m, "a"), freq: 440, amp: 26214}
	b := &toneSource{src: mustAddSource(t, m, "b"), freq: 440, amp: 26214}
	for _, id := range []ParticipantID{"a", "d"} {
		mustAddListener(t, m, id)
	}
	for range inputResumeFrames - 1 {
		a.write(t)
		b.write(t)
	}
	const ticks = 50
	for range ticks {
		a.write(t)
		b.write(t)
		m.mixOnce()
	}
	input := b.sent[:ticks*codec.FrameSamples] // what b sent, in the order it was mixed

	out := rec.heard("d")
	if len(out) != ticks*codec.FrameSamples {
		t.Fatalf("d heard %d samples, want %d", len(out), ticks*codec.FrameSamples)
	}
	ceiling := int(math.Ceil(32767 * math.Pow(10, DefaultAudioConfig().LimiterCeilingDBov/20)))
	peak, run, longest := 0, 0, 0
	for _, v := range out {
		av := int(v)
		if av < 0 {
			av = -av
		}
		peak = max(peak, av)
		if av >= 32767 {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if peak > ceiling {
		t.Errorf("peak %d above the ceiling %d", peak, ceiling)
	}
	if longest > 0 {
		t.Errorf("%d consecutive samples pinned at full scale", longest)
	}
	if peak < ceiling*9/10 {
		t.Errorf("peak %d: the limiter reduced far more than needed (ceiling %d)", peak, ceiling)
	}
	steady := out[len(out)/2:] // after the first attack
	spec := codectest.NewSpectrum(steady, codec.SampleRate)
	if f := spec.Peak(); math.Abs(f-440) > 2*spec.BinHz() {
		t.Errorf("peak frequency %.1f Hz, want 440", f)
	}
	fund, third := spec.Level(440), spec.Level(1320)
	// The mix is deterministic (no codec, no network): 122.6 dB apart, measured; the bound keeps the
	// README's claim honest with a margin for a change of window or FFT size.
	if fund-third < 110 {
		t.Errorf("3rd harmonic %.1f dB, fundamental %.1f dB: only %.1f dB apart, want >= 110", third, fund, fund-third)
	}
	t.Logf("peak %d (ceiling %d); fundamental %.1f dBFS, 3rd harmonic %.1f dBFS", peak, ceiling, fund, third)

	if got := rec.heard("a"); !slices.Equal(got, input) {
		i := 0
		for i < len(got) && got[i] == input[i] {
			i++
		}
		t.Errorf("a's mix (b alone, below the ceiling) differs from b's input from sample %d", i)
	}
}

func TestLimiter(t *testing.T) {
	ceilingDB := -1.0
	ceiling := float64(32767) * math.Pow(10, ceilingDB/20)
	square := func(amp int32, from int) func(i int) int32 {
		return func(i int) int32 {
			if i < from {
				return 0
			}
			if (i/24)%2 == 0 {
				return amp
			}
			return -amp
		}
	}
	tests := []struct {
		name   string
		signal func(i int) int32 // sample i of the sum
		frames int
		// check runs on every output frame.
		check func(t *testing.T, frame int, in, out []int32)
	}{
		{
			name:   "quiet passes untouched",
			signal: square(20000, 0),
			frames: 5,
			check: func(t *testing.T, frame int, in, out []int32) {
				if !slices.Equal(in, out) {
					t.Errorf("frame %d changed below the ceiling", frame)
				}
			},
		},
		{
			name:   "loud burst in mid frame stays under the ceiling",
			signal: square(150000, 500),
			frames: 5,
			check: func(t *testing.T, frame int, in, out []int32) {
				for i, v := range out {
					if math.Abs(float64(v)) > ceiling+1 {
						t.Fatalf("frame %d sample %d = %d above the ceiling %.0f (input %d)", frame, i, v, ceiling, in[i])
					}
					if (v > 0) != (in[i] > 0) && in[i] != 0 {
						t.Fatalf("frame %d sample %d = %d has the wrong sign (input %d)", frame, i, v, in[i])
					}
				}
			},
		},
		{
			name:   "64 full-scale sources do not wrap",
			signal: square(64*32767, 0),
			frames: 3,
			check: func(t *testing.T, frame int, in, out []int32) {
				for i, v := range out {
					if (v > 0) != (in[i] > 0) || math.Abs(float64(v)) > ceiling+1 {
						t.Fatalf("frame %d sample %d = %d for input %d", frame, i, v, in[i])
					}
				}
			},
		},
		{
			name: "gain releases after the peak",
			signal: func(i int) int32 {
				if i < codec.FrameSamples {
					return square(100000, 0)(i)
				}
				return square(10000, 0)(i)
			},
			frames: 30, // hold 20 ms, then 100 ms time constant: 5 time constants by frame 27
			check: func(t *testing.T, frame int, in, out []int32) {
				if frame == 29 {
					for i, v := range out {
						if r := float64(v) / float64(in[i]); r < 0.99 {
							t.Fatalf("frame %d sample %d: gain %.3f, want released to >= 0.99", frame, i, r)
						}
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(ceilingDB, DefaultAudioConfig().LimiterRelease)
			var sum [codec.FrameSamples]int32
			var out [codec.FrameSamples]int16
			for f := range tt.frames {
				in := make([]int32, codec.FrameSamples)
				for i := range sum {
					sum[i] = tt.signal(f*codec.FrameSamples + i)
					in[i] = sum[i]
				}
				l.process(&sum, nil, &out)
				got := make([]int32, codec.FrameSamples)
				for i, v := range out {
					got[i] = int32(v)
				}
				tt.check(t, f, in, got)
			}
		})
	}
}

// TestAudioSpeakerDetection follows one source through silence, a tone and silence again.
func TestAudioSpeakerDetection(t *testing.T) {
	cfg := DefaultAudioConfig()
	m, rec := newTestAudioMixer(t, cfg)
	a := &toneSource{src: mustAddSource(t, m, "a"), freq: 440}
	mustAddListener(t, m, "l")
	tick := func(n int) {
		for range n {
			a.write(t)
			m.mixOnce()
		}
	}
	for range inputResumeFrames - 1 {
		a.write(t)
	}

	tick(50) // one second of silence
	if len(rec.changes) != 0 || len(m.ActiveSpeakers()) != 0 {
		t.Fatalf("silence: changes %v, speakers %v; want none", rec.changes, m.ActiveSpeakers())
	}

	// The ring holds inputResumeFrames-1 frames of silence ahead of what is written now.
	a.amp = ampForDBov(-20)
	tick(inputResumeFrames - 1) // still silence coming out of the ring
	start := rec.tickCount()    // the first tone frame is mixed at this tick
	attack := framesCeil(cfg.SpeakerAttack)
	tick(attack - 1)
	if len(rec.changes) != 0 {
		t.Fatalf("speaking after %d of %d attack frames: %v", attack-1, attack, rec.changes)
	}
	tick(1)
	if len(rec.changes) != 1 || !rec.changes[0].Speaking || rec.changes[0].ID != "a" {
		t.Fatalf("after the attack: changes %v, want a speaking", rec.changes)
	}
	if got := rec.changeSeq[0] - start; got != attack-1 {
		t.Errorf("speaking reported at tone frame %d, want %d", got, attack-1)
	}
	if lvl := rec.changes[0].LevelDBov; lvl < -25 || lvl > -19 {
		t.Errorf("level at start %.1f dBov, want about -20", lvl)
	}
	if got := m.ActiveSpeakers(); !slices.Equal(got, []ParticipantID{"a"}) {
		t.Errorf("ActiveSpeakers() = %v, want [a]", got)
	}

	tick(50)
	if len(rec.changes) != 1 {
		t.Fatalf("events while speaking steadily: %v", rec.changes)
	}

	a.amp = 0
	tick(inputResumeFrames - 1)
	stop := rec.tickCount() // first silent frame mixed here
	hangover := framesCeil(cfg.SpeakerHangover)
	tick(hangover)
	if len(rec.changes) != 1 {
		t.Fatalf("stopped speaking within the hangover (%v): %v", cfg.SpeakerHangover, rec.changes)
	}
	// The smoothed level falls about 3 dB per frame: -20 dBov reaches -45 within 9 frames.
	tick(10)
	if len(rec.changes) != 2 || rec.changes[1].Speaking {
		t.Fatalf("after hangover and decay: changes %v, want a stopped", rec.changes)
	}
	t.Logf("stopped %d ticks after the tone ended (hangover %d frames)", rec.changeSeq[1]-stop, hangover)
	if got := m.ActiveSpeakers(); len(got) != 0 {
		t.Errorf("ActiveSpeakers() = %v after the hangover, want none", got)
	}
	tick(50)
	if len(rec.changes) != 2 {
		t.Errorf("events during silence: %v", rec.changes[2:])
	}
}

// TestAudioActiveSpeakersOrder checks the order: the most recent start first, simultaneous starts loudest
// first. Removing a speaking source reports it stopped.
func TestAudioActiveSpeakersOrder(t *testing.T) {
	m, rec := newTestAudioMixer(t, DefaultAudioConfig())
	srcs := map[ParticipantID]*toneSource{}
	for i, id := range []ParticipantID{"a", "b", "c", "d"} {
		srcs[id] = &toneSource{src: mustAddSource(t, m, id), freq: 300 + 100*float64(i)}
	}
	tick := func(n int) {
		for range n {
			for _, s := range srcs {
				s.write(t)
			}
			m.mixOnce()
		}
	}
	tick(inputResumeFrames - 1)
	steps := []struct {
		start map[ParticipantID]float64 // dBov
		want  []ParticipantID
	}{
		{map[ParticipantID]float64{"a": -20}, []ParticipantID{"a"}},
		{map[ParticipantID]float64{"b": -30}, []ParticipantID{"b", "a"}},
		{map[ParticipantID]float64{"c": -30, "d": -15}, []ParticipantID{"d", "c", "b", "a"}},
	}
	for i, st := range steps {
		for id, db := range st.start {
			srcs[id].amp = ampForDBov(db)
		}
		tick(10)
		if got := m.ActiveSpeakers(); !slices.Equal(got, st.want) {
			t.Errorf("step %d: ActiveSpeakers() = %v, want %v", i, got, st.want)
		}
	}

	n := len(rec.changes)
	m.RemoveSource("c")
	delete(srcs, "c")
	tick(1)
	if got := rec.changes[n:]; len(got) != 1 || got[0].ID != "c" || got[0].Speaking {
		t.Errorf("after removing c: changes %v, want c stopped", got)
	}
	if got, want := m.ActiveSpeakers(), []ParticipantID{"d", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("after removing c: ActiveSpeakers() = %v, want %v", got, want)
	}
}

// TestAudioKeysFollowContribution checks that a listener moves from the shared mix to its own while it
// talks, and back after the hangover.
func TestAudioKeysFollowContribution(t *testing.T) {
	m, rec := newTestAudioMixer(t, DefaultAudioConfig())
	a := &toneSource{src: mustAddSource(t, m, "a"), freq: 440}
	b := &toneSource{src: mustAddSource(t, m, "b"), freq: 660, amp: ampForDBov(-20)}
	mustAddListener(t, m, "a")
	mustAddListener(t, m, "b")
	tick := func(n int) {
		for range n {
			a.write(t)
			b.write(t)
			m.mixOnce()
		}
	}
	keyOf := func(id ParticipantID) string {
		for k, mx := range rec.last() {
			if slices.Contains(mx.Listeners, id) {
				return k
			}
		}
		return ""
	}
	tick(inputResumeFrames + 5)
	if k := keyOf("a"); k != AllMixKey {
		t.Errorf("silent a hears %q, want %q", k, AllMixKey)
	}
	a.amp = ampForDBov(-20)
	tick(inputResumeFrames + 5)
	if k := keyOf("a"); k != MinusMixKey("a") {
		t.Errorf("talking a hears %q, want %q", k, MinusMixKey("a"))
	}
	a.amp = 0
	tick(inputResumeFrames + 40)
	if k := keyOf("a"); k != AllMixKey {
		t.Errorf("a, silent again after the hangover, hears %q, want %q", k, AllMixKey)
	}
}

// TestAudioInputOverflow writes more frames than the ring holds with no mixer running: the writer
// returns at once, the oldest frames are dropped and counted, and the newest five are played in order.
func TestAudioInputOverflow(t *testing.T) {
	m, rec := newTestAudioMixer(t, DefaultAudioConfig())
	s := mustAddSource(t, m, "a")
	mustAddListener(t, m, "l")
	const written = 12
	for i := range written {
		if err := s.Write(constFrame(int16(1000 * (i + 1)))); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got, want := m.Stats().InputFramesDropped, uint64(written-inputBufferFrames); got != want {
		t.Errorf("InputFramesDropped = %d, want %d", got, want)
	}
	for range inputBufferFrames + 1 {
		m.mixOnce()
	}
	out := rec.heard("l")
	var got []int16
	for i := 0; i < len(out); i += codec.FrameSamples {
		got = append(got, out[i])
	}
	// "l" is not a source: it hears a's frames through the shared mix; a's level is well above the
	// threshold from the first frame.
	want := []int16{8000, 9000, 10000, 11000, 12000, 0}
	if !slices.Equal(got, want) {
		t.Errorf("first samples of each tick %v, want %v", got, want)
	}
	if st := m.Stats(); st.Underruns != 1 {
		t.Errorf("Underruns = %d, want 1 (%+v)", st.Underruns, st)
	}
}

func TestAudioSourceErrors(t *testing.T) {
	m, _ := newTestAudioMixer(t, DefaultAudioConfig())
	s := mustAddSource(t, m, "a")
	if _, err := m.AddSource("a"); !errors.Is(err, ErrAudioSourceExists) {
		t.Errorf("second AddSource(a) = %v, want ErrAudioSourceExists", err)
	}
	mustAddListener(t, m, "a")
	if err := m.AddListener("a"); !errors.Is(err, ErrAudioListenerExists) {
		t.Errorf("second AddListener(a) = %v, want ErrAudioListenerExists", err)
	}
	if err := s.Write(make([]int16, 100)); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("Write(100 samples) = %v, want ErrFrameSize", err)
	}
	if !m.RemoveSource("a") || m.RemoveSource("a") {
		t.Errorf("RemoveSource(a) twice: want true then false")
	}
	if err := s.Write(constFrame(1)); !errors.Is(err, ErrAudioSourceRemoved) {
		t.Errorf("Write after RemoveSource = %v, want ErrAudioSourceRemoved", err)
	}
	if !m.RemoveListener("a") || m.RemoveListener("a") {
		t.Errorf("RemoveListener(a) twice: want true then false")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := m.AddSource("b"); !errors.Is(err, ErrAudioMixerClosed) {
		t.Errorf("AddSource after Close = %v, want ErrAudioMixerClosed", err)
	}
	if err := m.AddListener("b"); !errors.Is(err, ErrAudioMixerClosed) {
		t.Errorf("AddListener after Close = %v, want ErrAudioMixerClosed", err)
	}
}

// TestAudioMixOnceAllocs checks the steady state of a tick allocates nothing.
func TestAudioMixOnceAllocs(t *testing.T) {
	for _, n := range []int{3, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m, feed := newBenchMixer(t, n, nopAudioListener{})
			for range 100 {
				feed()
				m.mixOnce()
			}
			if allocs := testing.AllocsPerRun(100, func() { feed(); m.mixOnce() }); allocs != 0 {
				t.Errorf("%d sources: %.1f allocations per tick, want 0", n, allocs)
			}
		})
	}
}

// newBenchMixer builds a mixer with n talking sources that also listen, plus n pure listeners, and returns
// a function that writes one frame to every source.
func newBenchMixer(t testing.TB, n int, l AudioListener) (*AudioMixer, func()) {
	m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Listener: l})
	t.Cleanup(func() { _ = m.Close() })
	const cycle = 50
	var srcs []*AudioSource
	var frames [][][]int16
	for i := range n {
		id := ParticipantID(fmt.Sprintf("p%03d", i))
		srcs = append(srcs, mustAddSource(t, m, id))
		mustAddListener(t, m, id)
		mustAddListener(t, m, ParticipantID(fmt.Sprintf("q%03d", i)))
		var ph float64
		var fs [][]int16
		for range cycle {
			fs = append(fs, codectest.Tone(200+37*float64(i), ampForDBov(-20-float64(i%10)), codec.FrameSamples, codec.SampleRate, &ph))
		}
		frames = append(frames, fs)
	}
	k := 0
	feed := func() {
		for i, s := range srcs {
			_ = s.Write(frames[i][k%cycle])
		}
		k++
	}
	for range inputResumeFrames - 1 {
		feed()
	}
	return m, feed
}

// BenchmarkMixOnce measures one tick: one Write per source and the mix, with every source talking (so
// MaxMixedSpeakers of them contribute) and as many pure listeners as sources.
func BenchmarkMixOnce(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) {
			m, feed := newBenchMixer(b, n, nopAudioListener{})
			for range 100 {
				feed()
				m.mixOnce()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				feed()
				m.mixOnce()
			}
		})
	}
}

func TestAudioTickReportsEarliestArrival(t *testing.T) {
	m, rec := newTestAudioMixer(t, DefaultAudioConfig())
	a, _ := m.AddSource("a")
	b, _ := m.AddSource("b")
	quiet, _ := m.AddSource("quiet")
	if err := m.AddListener("l"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(100, 0)
	for i := range inputResumeFrames {
		at := t0.Add(time.Duration(i) * codec.FrameDuration)
		if err := a.WriteAt(constFrame(8000), at.Add(3*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteAt(constFrame(8000), at.Add(1*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		// A silent source's older frames do not count: it is not mixed.
		if err := quiet.WriteAt(constFrame(0), at.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	m.mixOnce()
	m.mixOnce()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, got := range rec.arrived {
		want := t0.Add(time.Duration(i)*codec.FrameDuration + time.Millisecond)
		if !got.Equal(want) {
			t.Errorf("tick %d Arrived = %v, want the earliest mixed frame's arrival %v", i, got.Sub(t0), want.Sub(t0))
		}
	}
}

// stepClock is a Clock that only moves when told; mixOnce reads it, nothing here runs Run.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                 { return c.now }
func (c *stepClock) NewTicker(time.Duration) Ticker { panic("stepClock has no ticker") }

// TestAudioTrimsExcessLatency drives one source tick by tick on a manual clock, its frames arriving a
// given time before the ticks they are written for, and counts the whole frames trimmed (quiet frames)
// and the samples accelerated (a loud one), and what the ring holds at the end.
func TestAudioTrimsExcessLatency(t *testing.T) {
	tests := []struct {
		name        string
		prime       int
		pattern     []int         // frames written before each tick, repeated
		before      time.Duration // how long before its tick a frame arrives (primed frames: long before)
		loud        bool
		wantTrimmed uint64
		wantAccel   uint64
		wantHeld    int // frames in the ring after the last tick's read
	}{
		// Frames are quiet (-56 dBov) unless loud is set.
		{"a burst behind a steady source on time: trimmed to the frame of the tick", 4, []int{1}, 10 * time.Millisecond, false, 4, 0, 0},
		{"steady source arriving 2 ms before the tick (inside the margin): one frame kept in hand", 1, []int{1}, 2 * time.Millisecond, false, 0, 0, 1},
		{"steady source arriving 10 ms before the tick with one frame in hand: trimmed", 1, []int{1}, 10 * time.Millisecond, false, 1, 0, 0},
		{"jittery source (0 or 2 per tick): trimmed while it never starves", 3, []int{0, 2}, 10 * time.Millisecond, false, 2, 0, 1},
		{"a loud source (in the mix) is accelerated, never cut", 4, []int{1}, 10 * time.Millisecond, true, 0, 4 * uint64(codec.FrameSamples), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &stepClock{now: time.Unix(1000, 0)}
			m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: clk, Listener: &recorder{}})
			defer m.Close()
			src := mustAddSource(t, m, "a")
			mustAddListener(t, m, "l")
			level := int16(50) // -56 dBov
			if tt.loud {
				level = 3000
			}
			for range tt.prime {
				if err := src.WriteAt(constFrame(level), clk.now.Add(-time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 5*trimWindow + 2 {
				clk.now = clk.now.Add(codec.FrameDuration)
				for range tt.pattern[i%len(tt.pattern)] {
					if err := src.WriteAt(constFrame(level), clk.now.Add(-tt.before)); err != nil {
						t.Fatal(err)
					}
				}
				m.mixOnce()
			}
			st := m.Stats()
			src.mu.Lock()
			held := src.avail()
			src.mu.Unlock()
			if st.InputFramesTrimmed != tt.wantTrimmed || st.InputSamplesAccelerated != tt.wantAccel || st.Underruns != 0 ||
				held != tt.wantHeld*codec.FrameSamples {
				t.Errorf("trimmed %d frames, accelerated %d samples, %d underruns, %d samples held; want %d, %d, 0, %d",
					st.InputFramesTrimmed, st.InputSamplesAccelerated, st.Underruns, held, tt.wantTrimmed, tt.wantAccel,
					tt.wantHeld*codec.FrameSamples)
			}
		})
	}
}

// TestAudioTrimsUnheardSources: of five loud sources with a burst behind them, the four in the mix
// (MaxMixedSpeakers) lose their excess delay by acceleration (cutting speech is a click), the fifth,
// heard by nobody, by dropping whole frames, like a quiet one.
func TestAudioTrimsUnheardSources(t *testing.T) {
	cfg := DefaultAudioConfig()
	clk := &stepClock{now: time.Unix(1000, 0)}
	m := NewAudioMixer(cfg, AudioParams{Clock: clk, Listener: &recorder{}})
	defer m.Close()
	var srcs []*AudioSource
	for _, id := range []ParticipantID{"a", "b", "c", "d", "e"} {
		srcs = append(srcs, mustAddSource(t, m, id))
	}
	write := func(at time.Time) {
		for i, src := range srcs {
			if err := src.WriteAt(constFrame(int16(3000-100*i)), at); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 4 {
		write(clk.now.Add(-time.Second))
	}
	for range 3*trimWindow + 2 {
		clk.now = clk.now.Add(codec.FrameDuration)
		write(clk.now.Add(-10 * time.Millisecond))
		m.mixOnce()
	}
	if cfg.MaxMixedSpeakers != 4 {
		t.Fatalf("MaxMixedSpeakers %d: the test assumes 4", cfg.MaxMixedSpeakers)
	}
	st := m.Stats()
	if st.InputFramesTrimmed != 3 || st.InputSamplesAccelerated != 4*3*uint64(codec.FrameSamples) || st.Underruns != 0 {
		t.Errorf("trimmed %d frames, accelerated %d samples, %d underruns; want the unheard source's 3 frames, "+
			"the others' 3 frames each and none", st.InputFramesTrimmed, st.InputSamplesAccelerated, st.Underruns)
	}
	for _, src := range srcs {
		src.mu.Lock()
		n := src.avail()
		src.mu.Unlock()
		if n != codec.FrameSamples {
			t.Errorf("source %s holds %d samples after the tick, want one frame (%d): the burst of 4 less 3", src.id, n, codec.FrameSamples)
		}
	}
}

// toneMixer returns a mixer on a manual clock with one source, a, a 440 Hz tone at -12 dBov, and one
// listener, l (closed when the test ends).
func toneMixer(t *testing.T) (*stepClock, *recorder, *AudioMixer, *toneSource) {
	t.Helper()
	clk := &stepClock{now: time.Unix(1000, 0)}
	rec := &recorder{}
	m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: clk, Listener: rec})
	t.Cleanup(func() { _ = m.Close() })
	ts := &toneSource{src: mustAddSource(t, m, "a"), freq: 440, amp: ampForDBov(-12)}
	mustAddListener(t, m, "l")
	return clk, rec, m, ts
}

// TestAudioAccelerateIsClean: a 440 Hz tone (period 109.1 samples, no whole number of them in a frame)
// with 60 ms of burst behind it loses that delay by acceleration while it is heard, and what the
// listener hears stays a clean tone: no sample step larger than the tone's own steepest, and everything
// but 440 Hz at least 35 dB down.
func TestAudioAccelerateIsClean(t *testing.T) {
	clk, rec, m, ts := toneMixer(t)
	write := func(at time.Time) { ts.writeAt(t, at) }
	for range 4 {
		write(clk.now.Add(-time.Second))
	}
	const ticks = 5*trimWindow + 2
	for range ticks {
		clk.now = clk.now.Add(codec.FrameDuration)
		write(clk.now.Add(-10 * time.Millisecond))
		m.mixOnce()
	}
	st := m.Stats()
	if st.InputSamplesAccelerated < 3*uint64(codec.FrameSamples)-200 || st.InputFramesTrimmed != 0 || st.Underruns != 0 {
		t.Fatalf("accelerated %d samples, trimmed %d frames, %d underruns; want about 3 frames' worth, 0, 0",
			st.InputSamplesAccelerated, st.InputFramesTrimmed, st.Underruns)
	}
	pcm := rec.heard("l")
	start := 3 * codec.FrameSamples // past the attack
	maxStep := 0.0
	steepest := 2 * math.Pi * 440 / codec.SampleRate * float64(ts.amp)
	for i := start + 1; i < len(pcm); i++ {
		maxStep = max(maxStep, math.Abs(float64(pcm[i])-float64(pcm[i-1])))
	}
	if maxStep > 1.1*steepest {
		t.Errorf("largest step between samples %.0f, the tone's steepest is %.0f: a click", maxStep, steepest)
	}
	// A tone whose phase jumps at each accelerate is not one sinusoid over the whole span: measure per
	// frame, where at most one cross-fade falls.
	worst := math.Inf(-1)
	for f := start; f+codec.FrameSamples <= len(pcm); f += codec.FrameSamples {
		worst = max(worst, residualDB(pcm[f:f+codec.FrameSamples], 440))
	}
	if worst > -35 {
		t.Errorf("worst frame has everything but 440 Hz at %.1f dB of the tone, want at most -35 dB", worst)
	}
}

// residualDB fits a sinusoid of freq to x (least squares over amplitude and phase) and returns the
// energy of what is left relative to the fit, in dB.
func residualDB(x []int16, freq float64) float64 {
	var ss, cc, sc, xs, xc float64
	for i, v := range x {
		ph := 2 * math.Pi * freq * float64(i) / codec.SampleRate
		s, c := math.Sin(ph), math.Cos(ph)
		ss += s * s
		cc += c * c
		sc += s * c
		xs += float64(v) * s
		xc += float64(v) * c
	}
	det := ss*cc - sc*sc
	a := (xs*cc - xc*sc) / det
	b := (xc*ss - xs*sc) / det
	var fit, res float64
	for i, v := range x {
		ph := 2 * math.Pi * freq * float64(i) / codec.SampleRate
		y := a*math.Sin(ph) + b*math.Cos(ph)
		fit += y * y
		d := float64(v) - y
		res += d * d
	}
	return 10 * math.Log10(res/fit)
}

// TestAudioTickArrivalAfterAccelerate: once an accelerate has left a source part-way through a frame,
// a tick carries the end of one frame and the start of the next; Arrived is the next one's arrival (this
// tick is the first to carry it; the previous one already carried the start of the other).
func TestAudioTickArrivalAfterAccelerate(t *testing.T) {
	clk, rec, m, ts := toneMixer(t)
	var arrivals []time.Time // of frame k, in write order
	write := func(at time.Time) {
		ts.writeAt(t, at)
		arrivals = append(arrivals, at)
	}
	for k := range 4 {
		write(clk.now.Add(-time.Second + time.Duration(k)*time.Millisecond))
	}
	for range trimWindow + 3 {
		clk.now = clk.now.Add(codec.FrameDuration)
		write(clk.now.Add(-10 * time.Millisecond))
		m.mixOnce()
	}
	accel := int(m.Stats().InputSamplesAccelerated)
	if accel == 0 || accel%codec.FrameSamples == 0 {
		t.Fatalf("accelerated %d samples: want a part of a frame", accel)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := trimWindow; i < len(rec.arrived); i++ {
		// Tick i starts at sample i*960 plus what was accelerated before it (at tick trimWindow-1).
		pos := i*codec.FrameSamples + accel
		first := (pos + codec.FrameSamples - 1) / codec.FrameSamples // the first frame starting at or after pos
		if got := rec.arrived[i]; !got.Equal(arrivals[first]) {
			t.Errorf("tick %d (sample %d) Arrived = frame arrived %v, want frame %d's %v", i, pos,
				got.Sub(clk.now), first, arrivals[first].Sub(clk.now))
		}
	}
}

// TestAudioOverflowDropsAPartlyPlayedFrame: when the ring overflows while its oldest frame is part-way
// played (after an accelerate), that frame goes whole and the next plays from its first sample.
func TestAudioOverflowDropsAPartlyPlayedFrame(t *testing.T) {
	m, rec := newTestAudioMixer(t, DefaultAudioConfig())
	s := mustAddSource(t, m, "a")
	mustAddListener(t, m, "l")
	for i := range inputBufferFrames {
		if err := s.Write(constFrame(int16(1000 * (i + 1)))); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	s.off = 480 // half of the 1000s played
	s.mu.Unlock()
	if err := s.Write(constFrame(6000)); err != nil {
		t.Fatal(err)
	}
	m.mixOnce()
	out := rec.heard("l")
	if len(out) != codec.FrameSamples || out[0] != 2000 || out[len(out)-1] != 2000 {
		t.Errorf("after the overflow the tick played %d samples from %v to %v, want the 2000 frame whole", len(out), out[0], out[len(out)-1])
	}
}
