package mcu

import (
	"slices"
	"testing"
	"time"

	"github.com/openmcu/mcu/mixer"
)

// feed runs ticks of 20 ms from *now for d, every one late by late, and returns the last level.
func feed(g *videoGovernor, now *time.Time, d, late time.Duration) int {
	level := g.level()
	for end := now.Add(d); now.Before(end); *now = now.Add(20 * time.Millisecond) {
		level = g.observe(*now, late)
	}
	return level
}

// TestVideoGovernor walks the shed level through CPU pressure and relief: on-time ticks, a stray
// late one and a few per window shed nothing; sustained lateness raises one level per window up to the most; calm lowers one
// level per second; a level that has to come back soon after being lowered waits twice as long next time.
func TestVideoGovernor(t *testing.T) {
	var changes []int
	g := newVideoGovernor(false, 0, func(l int) { changes = append(changes, l) })
	now := time.Unix(1000, 0)
	if l := feed(g, &now, 10*time.Second, 3*time.Millisecond); l != 0 {
		t.Fatalf("on-time ticks: level %d, want 0", l)
	}
	for range 5 { // one late tick per second
		feed(g, &now, 980*time.Millisecond, 0)
		feed(g, &now, 20*time.Millisecond, 30*time.Millisecond)
	}
	if l := g.level(); l != 0 {
		t.Fatalf("one late tick a second: level %d, want 0", l)
	}
	for range 6 { // four late ticks every half second, as a burst of joins makes
		feed(g, &now, 80*time.Millisecond, 40*time.Millisecond)
		feed(g, &now, 420*time.Millisecond, 0)
	}
	if l := g.level(); l != 0 {
		t.Fatalf("four late ticks every half second: level %d, want 0", l)
	}
	if l := feed(g, &now, 1040*time.Millisecond, 25*time.Millisecond); l != 2 {
		t.Fatalf("1.04 s of late ticks: level %d, want 2 (one step per 500 ms window)", l)
	}
	if l := feed(g, &now, 10*time.Second, 50*time.Millisecond); l != mixer.MaxShedLevel {
		t.Fatalf("10 s of late ticks: level %d, want the most, %d", l, mixer.MaxShedLevel)
	}
	if l := feed(g, &now, 400*time.Millisecond, 0); l != mixer.MaxShedLevel {
		t.Fatalf("0.4 s calm after pressure: level %d, want still %d", l, mixer.MaxShedLevel)
	}
	if l := feed(g, &now, 1200*time.Millisecond, 0); l != mixer.MaxShedLevel-1 {
		t.Fatalf("1.6 s calm: level %d, want %d", l, mixer.MaxShedLevel-1)
	}
	// Lowering brought the lateness back: raised again, and the next lowering needs 2 s of calm.
	if l := feed(g, &now, 600*time.Millisecond, 20*time.Millisecond); l != mixer.MaxShedLevel {
		t.Fatalf("late again after lowering: level %d, want %d", l, mixer.MaxShedLevel)
	}
	if l := feed(g, &now, 1500*time.Millisecond, 0); l != mixer.MaxShedLevel {
		t.Fatalf("1.5 s calm after flapping: level %d, want still %d (needs 2 s now)", l, mixer.MaxShedLevel)
	}
	if l := feed(g, &now, time.Second, 0); l != mixer.MaxShedLevel-1 {
		t.Fatalf("2.5 s calm after flapping: level %d, want %d", l, mixer.MaxShedLevel-1)
	}
	if l := feed(g, &now, 60*time.Second, 0); l != 0 {
		t.Fatalf("a calm minute: level %d, want 0", l)
	}
	want := []int{1, 2, 3, 4, 3, 4, 3, 2, 1, 0}
	if len(changes) != len(want) {
		t.Fatalf("level changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("level changes %v, want %v", changes, want)
		}
	}

	// A flap doubles the calm needed once, not again for each raise of the same spell of pressure.
	changes = nil
	g = newVideoGovernor(false, 0, func(l int) { changes = append(changes, l) })
	feed(g, &now, 520*time.Millisecond, 30*time.Millisecond) // level 1 at the first window's end
	feed(g, &now, time.Second, 0)                            // two calm windows: lowered to 0
	if l := feed(g, &now, 1040*time.Millisecond, 30*time.Millisecond); l != 2 {
		t.Fatalf("late again after lowering: level %d, want 2", l) // the flap, then one more raise
	}
	if l := feed(g, &now, 4*time.Second, 0); l != 0 {
		t.Fatalf("4 s calm after one flap: level %d, want 0 (2 s a level)", l)
	}
	if want := []int{1, 0, 1, 2, 1, 0}; !slices.Equal(changes, want) {
		t.Fatalf("level changes %v, want %v", changes, want)
	}

	off := newVideoGovernor(true, 2, func(int) { t.Error("a disabled governor changed level") })
	if l := feed(off, &now, 5*time.Second, 100*time.Millisecond); l != 0 {
		t.Errorf("disabled: level %d, want 0", l)
	}
}

// TestVideoGovernorTierLevels: with tiers below the best, sustained pressure goes on past the
// compositor's last level, one tier step per 10 s of lateness, up to the lowest tier; calm gives the
// tiers back first (the levels past the compositor's), then the frame rates.
func TestVideoGovernorTierLevels(t *testing.T) {
	var changes []int
	g := newVideoGovernor(false, 2, func(l int) { changes = append(changes, l) })
	now := time.Unix(1000, 0)
	top := mixer.MaxShedLevel + 2
	hold := shedTierWindows * shedWindow
	if l := feed(g, &now, 2040*time.Millisecond, 40*time.Millisecond); l != mixer.MaxShedLevel {
		t.Fatalf("2 s of late ticks: level %d, want %d (one frame-rate level per window)", l, mixer.MaxShedLevel)
	}
	if l := feed(g, &now, hold-600*time.Millisecond, 40*time.Millisecond); l != mixer.MaxShedLevel {
		t.Fatalf("%v more of late ticks: level %d, want still %d (a tier step needs %v)", hold-600*time.Millisecond, l,
			mixer.MaxShedLevel, hold)
	}
	if l := feed(g, &now, time.Second, 40*time.Millisecond); l != mixer.MaxShedLevel+1 {
		t.Fatalf("%v more of late ticks: level %d, want %d (one tier step)", hold+400*time.Millisecond, l, mixer.MaxShedLevel+1)
	}
	if l := feed(g, &now, hold-600*time.Millisecond, 40*time.Millisecond); l != mixer.MaxShedLevel+1 {
		t.Fatalf("%v later: level %d, want still %d", hold-600*time.Millisecond, l, mixer.MaxShedLevel+1)
	}
	if l := feed(g, &now, hold+time.Second, 40*time.Millisecond); l != top {
		t.Fatalf("%v more of late ticks: level %d, want %d (the compositor's %d and two tiers)", hold+time.Second, l, top,
			mixer.MaxShedLevel)
	}
	if s := shedTierSteps(g.level()); s != 2 {
		t.Fatalf("at level %d: %d tier steps, want 2", g.level(), s)
	}
	if l := feed(g, &now, 1540*time.Millisecond, 0); l != top-1 || shedTierSteps(l) != 1 {
		t.Fatalf("1.5 s calm (the first window still had late ticks): level %d (%d tier steps), want %d (1)", l, shedTierSteps(l), top-1)
	}
	if l := feed(g, &now, 1040*time.Millisecond, 0); l != mixer.MaxShedLevel || shedTierSteps(l) != 0 {
		t.Fatalf("2.5 s calm: level %d (%d tier steps), want %d (0: tiers back, frame rates still shed)", l,
			shedTierSteps(l), mixer.MaxShedLevel)
	}
	want := []int{1, 2, 3, 4, 5, 6, 5, 4}
	if !slices.Equal(changes, want) {
		t.Fatalf("level changes %v, want %v", changes, want)
	}
	for level, steps := range []int{0, 0, 0, 0, 0, 1, 2, 3} {
		if got := shedTierSteps(level); got != steps {
			t.Errorf("shedTierSteps(%d) = %d, want %d", level, got, steps)
		}
	}
}
