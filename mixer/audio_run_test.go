package mixer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/openmcu/mcu/codec"
	. "github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/mixer/mixertest"
)

// audioRecorder is a fake AudioListener that counts ticks and keeps the first sample each listener heard
// at each tick. Safe for concurrent use.
type audioRecorder struct {
	mu    sync.Mutex
	seqs  []uint64
	late  []time.Duration
	first []map[ParticipantID]int16
}

func (r *audioRecorder) OnAudioTick(t AudioTick) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs = append(r.seqs, t.Seq)
	r.late = append(r.late, t.Late)
	first := map[ParticipantID]int16{}
	for _, mx := range t.Mixes {
		for _, id := range mx.Listeners {
			first[id] = mx.PCM[0]
		}
	}
	r.first = append(r.first, first)
}

func (r *audioRecorder) OnSpeakingChanged([]SpeakingChange) {}

func (r *audioRecorder) tickCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs)
}

func (r *audioRecorder) ticks() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.seqs...)
}

// firstSample returns the first sample id heard at tick i.
func (r *audioRecorder) firstSample(i int, id ParticipantID) int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[i][id]
}

func audioFrame(v int16) []int16 {
	f := make([]int16, codec.FrameSamples)
	for i := range f {
		f[i] = v
	}
	return f
}

// startRun starts m.Run in a goroutine and returns a function that stops it and checks its result.
func startAudioRun(t *testing.T, m *AudioMixer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	return func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	}
}

// TestAudioRunTicks steps the manual clock and counts the ticks Run mixes, including a catch-up after a
// late wakeup and a reset after a wakeup later than the input buffer.
func TestAudioRunTicks(t *testing.T) {
	steps := []struct {
		name      string
		advance   []time.Duration // each followed by letting Run settle
		wantTicks int
		wantReset uint64
	}{
		{"one period", []time.Duration{codec.FrameDuration}, 1, 0},
		{"fifty periods one by one", repeatDuration(codec.FrameDuration, 50), 50, 0},
		{"three periods at once", []time.Duration{3 * codec.FrameDuration}, 3, 0},
		{"half periods", repeatDuration(codec.FrameDuration/2, 8), 4, 0},
		{"late wakeup of 5 periods catches up", []time.Duration{5 * codec.FrameDuration}, 5, 0},
		{"late wakeup of 12 periods resets", []time.Duration{12 * codec.FrameDuration}, InputBufferFrames, 1},
		{"after a reset the cadence resumes", append([]time.Duration{12 * codec.FrameDuration}, repeatDuration(codec.FrameDuration, 10)...), InputBufferFrames + 10, 1},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clk := mixertest.NewClock(time.Unix(1000, 0))
				rec := &audioRecorder{}
				m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: clk, Listener: rec})
				if err := m.AddListener("l"); err != nil {
					t.Fatal(err)
				}
				stop := startAudioRun(t, m)
				synctest.Wait() // Run has made its ticker
				for _, d := range tt.advance {
					clk.Advance(d)
					synctest.Wait()
				}
				if got := rec.tickCount(); got != tt.wantTicks {
					t.Errorf("advancing %v: %d ticks, want %d", tt.advance, got, tt.wantTicks)
				}
				if got := m.Stats().TimingResets; got != tt.wantReset {
					t.Errorf("advancing %v: %d timing resets, want %d", tt.advance, got, tt.wantReset)
				}
				for i, seq := range rec.ticks() {
					if seq != uint64(i) {
						t.Fatalf("tick %d has Seq %d", i, seq)
					}
				}
				stop()
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		})
	}
}

// TestAudioRunReportsLateness checks AudioTick.Late: ticks mixed on time report zero, and a wakeup three
// periods late mixes the overdue ticks reporting how late each one is (what the server's video shedding
// watches).
func TestAudioRunReportsLateness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := mixertest.NewClock(time.Unix(1000, 0))
		rec := &audioRecorder{}
		m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: clk, Listener: rec})
		stop := startAudioRun(t, m)
		synctest.Wait()
		clk.Advance(codec.FrameDuration)
		synctest.Wait()
		clk.Advance(3*codec.FrameDuration + 5*time.Millisecond)
		synctest.Wait()
		stop()
		rec.mu.Lock()
		got := rec.late
		rec.mu.Unlock()
		want := []time.Duration{0, 45 * time.Millisecond, 25 * time.Millisecond, 5 * time.Millisecond}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Late per tick = %v, want %v", got, want)
		}
		_ = m.Close()
	})
}

func repeatDuration(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// TestAudioRunRebuffers starves a source under Run: it plays what it has, underruns once, and only plays
// again once three frames are buffered.
func TestAudioRunRebuffers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := mixertest.NewClock(time.Unix(1000, 0))
		rec := &audioRecorder{}
		m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: clk, Listener: rec})
		src, err := m.AddSource("a")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.AddListener("l"); err != nil {
			t.Fatal(err)
		}
		stop := startAudioRun(t, m)
		defer stop()
		synctest.Wait()

		next := int16(1000)
		write := func(n int) {
			for range n {
				if err := src.Write(audioFrame(next)); err != nil {
					t.Fatalf("write: %v", err)
				}
				next += 1000
			}
		}
		tick := func() int16 {
			n := rec.tickCount()
			clk.Advance(codec.FrameDuration)
			synctest.Wait()
			if rec.tickCount() != n+1 {
				t.Fatalf("advancing one period gave %d ticks", rec.tickCount()-n)
			}
			return rec.firstSample(n, "l")
		}
		steps := []struct {
			write int
			want  int16 // first sample heard at this tick
		}{
			{1, 0},    // buffering: 1 of 2 frames
			{2, 1000}, // 3 buffered (2 needed): plays
			{0, 2000},
			{0, 3000},
			{0, 0},    // starved: underrun, buffering again
			{1, 0},    // 1 of 2
			{1, 4000}, // 2 of 2: plays again, in order
			{1, 5000},
			{1, 6000},
		}
		for i, st := range steps {
			write(st.write)
			if got := tick(); got != st.want {
				t.Errorf("step %d (wrote %d): heard %d, want %d", i, st.write, got, st.want)
			}
		}
		if got := m.Stats().Underruns; got != 1 {
			t.Errorf("Underruns = %d, want 1", got)
		}
	})
}

// TestAudioClose checks that Close stops Run, waits for it, is idempotent, and that Run refuses to start
// twice or after Close. goleak (TestMain) checks nothing is left behind.
func TestAudioClose(t *testing.T) {
	tests := []struct {
		name  string
		clock Clock
	}{
		{"manual clock", mixertest.NewClock(time.Unix(0, 0))},
		{"system clock", SystemClock{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: tt.clock})
			errc := make(chan error, 1)
			go func() { errc <- m.Run(context.Background()) }()
			// Wait, by bounded polling, until Run has taken the mixer; then a second Run is refused.
			for deadline := time.Now().Add(5 * time.Second); !m.IsRunning(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("Run did not start within 5 s")
				}
			}
			if err := m.Run(context.Background()); !errors.Is(err, ErrAudioMixerRunning) {
				t.Errorf("second Run = %v, want ErrAudioMixerRunning", err)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Close waits for Run's loop to end; Run's return value then reaches errc a moment later (the
			// goroutine above still has to send it), hence a short bound rather than none.
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run after Close returned %v, want nil", err)
				}
			case <-time.After(time.Second):
				t.Fatal("Run did not return within 1 s of Close")
			}
			if err := m.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := m.Run(context.Background()); !errors.Is(err, ErrAudioMixerClosed) {
				t.Errorf("Run after Close = %v, want ErrAudioMixerClosed", err)
			}
		})
	}
}

// TestAudioConcurrentUse runs the mixer on a manual clock while other goroutines write audio and add and
// remove sources and listeners, for the race detector; writers must never block.
func TestAudioConcurrentUse(t *testing.T) {
	clk := mixertest.NewClock(time.Unix(0, 0))
	m := NewAudioMixer(DefaultAudioConfig(), AudioParams{Clock: clk, Listener: &audioRecorder{}})
	defer func() { _ = m.Close() }()
	stop := startAudioRun(t, m)

	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			id := ParticipantID(fmt.Sprintf("w%d", w))
			frame := audioFrame(int16(1000 * (w + 1)))
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				src, err := m.AddSource(id)
				if err != nil {
					t.Errorf("AddSource(%s): %v", id, err)
					return
				}
				_ = m.AddListener(id)
				for range 20 {
					if err := src.Write(frame); err != nil {
						t.Errorf("Write(%s): %v", id, err)
						return
					}
				}
				_ = m.ActiveSpeakers()
				_ = m.Stats()
				m.RemoveSource(id)
				if i%2 == 0 {
					m.RemoveListener(id)
				}
			}
		})
	}
	for range 200 {
		clk.Advance(codec.FrameDuration)
		time.Sleep(100 * time.Microsecond) // let Run, the writers and the membership changes interleave
	}
	close(done)
	wg.Wait()
	stop()
	if st := m.Stats(); st.Ticks == 0 {
		t.Errorf("no ticks: %+v", st)
	}
}
