package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
)

// Settings say what one soak does. Plain data.
type Settings struct {
	// Cycles is the number of cycles; 0 runs cycles while the next one is expected to end within
	// Duration of the start.
	Cycles   int
	Duration time.Duration
	// Rooms is the number of rooms per cycle and Bots the participants in each.
	Rooms, Bots int
	// Hold is how long the participants stay once every one of them receives video and audio.
	Hold time.Duration
	// JoinTimeout bounds the wait for media after joining; Settle the wait for the server to remove
	// every participant and for its goroutines to end, after they leave.
	JoinTimeout, Settle time.Duration
	Limits              Limits
	// LogDir receives the goroutine and heap profiles of the baseline and the last cycle.
	LogDir string
}

// soak churns participants through one running server and samples it after every cycle. Not safe for
// concurrent use.
type soak struct {
	set   Settings
	srv   *serverproc.Proc
	probe *probe
	load  *botLoad
	out   io.Writer // the per-cycle lines

	excessSaved bool // the goroutines of a cycle that ended above the baseline are saved
}

// run samples the idle server, then runs cycles until the settings say stop, ctx ends or a cycle
// fails. It returns the samples taken (the idle one first) and why it stopped early, if it did.
func (s *soak) run(ctx context.Context) ([]Sample, error) {
	start := time.Now()
	writeHeader(s.out)
	var samples []Sample
	limit := -1 // the goroutines a sample may settle at: any until there is a baseline
	var took time.Duration
	for c := 0; c == 0 || s.more(c, time.Since(start), took); c++ {
		t0 := time.Now()
		var err error
		if c == 0 {
			err = s.probe.waitIdle(ctx, s.set.Settle) // the server starts empty
		} else {
			err = s.cycle(ctx, c)
		}
		if err != nil {
			return samples, fmt.Errorf("cycle %d: %w", c, err)
		}
		smp, prof, err := s.probe.sample(ctx, limit, s.set.Settle)
		if err != nil {
			return samples, fmt.Errorf("sample after cycle %d: %w", c, err)
		}
		smp.Cycle, smp.At = c, time.Since(start)
		samples = append(samples, smp)
		writeSample(s.out, smp)
		if err := s.save(smp, prof, limit); err != nil {
			return samples, err
		}
		if c == s.set.Limits.Warmup {
			limit = smp.Goroutines + s.set.Limits.GoroutineSlack
		}
		took = time.Since(t0)
	}
	return samples, nil
}

// more reports whether to run cycle c, elapsed into the soak, when the last cycle took took.
func (s *soak) more(c int, elapsed, took time.Duration) bool {
	if s.set.Cycles > 0 {
		return c <= s.set.Cycles
	}
	return c == 1 || elapsed+took <= s.set.Duration
}

// cycle joins the participants, keeps them for the hold time, makes them leave and waits until the
// server has removed them all.
func (s *soak) cycle(ctx context.Context, c int) error {
	rooms := make([]string, s.set.Rooms)
	for r := range rooms {
		// New names every cycle: a room the server failed to forget would stay in mcu_rooms and the heap.
		rooms[r] = fmt.Sprintf("soak-%d-%d", c, r)
	}
	bots, err := s.load.join(ctx, rooms, s.set.Bots)
	if err != nil {
		return err
	}
	if err = waitReceiving(ctx, bots, s.set.JoinTimeout); err != nil {
		err = fmt.Errorf("wait for media: %w", err)
	}
	if err == nil {
		err = s.hold(ctx)
	}
	if err == nil {
		var o Occupancy
		o, err = s.probe.occupancy(ctx)
		if want := (Occupancy{Rooms: len(rooms), Participants: len(bots)}); err == nil && o != want {
			err = fmt.Errorf("server reports %d rooms and %d participants, want %d and %d", o.Rooms, o.Participants,
				want.Rooms, want.Participants)
		}
	}
	if n := ended(bots); err == nil && n > 0 {
		err = fmt.Errorf("the server ended %d of %d sessions", n, len(bots))
	}
	if lerr := leave(bots); err == nil && lerr != nil {
		err = fmt.Errorf("leave: %w", lerr)
	}
	if err != nil {
		return err
	}
	return s.probe.waitIdle(ctx, s.set.Settle)
}

// hold waits the hold time unless ctx ends or the server exits.
func (s *soak) hold(ctx context.Context) error {
	t := time.NewTimer(s.set.Hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.srv.Done():
		_, err := s.srv.Exited()
		return fmt.Errorf("server exited: %v", err)
	case <-t.C:
		return nil
	}
}

// save writes the profiles of the baseline and of the latest cycle to the log directory, and the
// goroutines of the first cycle that ended above limit (goroutines-cycle-N.txt).
func (s *soak) save(smp Sample, prof Profiles, limit int) error {
	write := func(name string, b []byte) error {
		if err := os.WriteFile(filepath.Join(s.set.LogDir, name), b, 0o644); err != nil {
			return fmt.Errorf("save profile: %w", err)
		}
		return nil
	}
	names := []string{"last"}
	if smp.Cycle == s.set.Limits.Warmup {
		names = append(names, "baseline")
	}
	for _, n := range names {
		if err := write("goroutines-"+n+".txt", prof.Goroutines); err != nil {
			return err
		}
		if err := write("heap-"+n+".pb.gz", prof.Heap); err != nil {
			return err
		}
	}
	if limit >= 0 && smp.Goroutines > limit && !s.excessSaved {
		s.excessSaved = true
		return write(fmt.Sprintf("goroutines-cycle-%d.txt", smp.Cycle), prof.Goroutines)
	}
	return nil
}
