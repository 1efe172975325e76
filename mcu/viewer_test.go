package mcu_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// TestViewer checks a viewer (WHEP's participant): it sees everyone's tile and hears everyone's tone,
// has no tile of its own, is in the others' roster as a viewer (a hidden one, a recorder, is not), and
// what it sends is ignored.
func TestViewer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height = 640, 360
	m := newMCU(t, cfg)
	a := join(t, m, "room", "A", 0, 430)
	b := join(t, m, "room", "B", 1, 650)
	// The viewer sends blue and 1230 Hz: nobody may see or hear them.
	v := joinOpts(t, m, "room", "V", 2, 1230, mcutest.Config{}, mcu.JoinOptions{Viewer: true})
	h := joinOpts(t, m, "room", "H", 3, 1530, mcutest.Config{}, mcu.JoinOptions{Viewer: true, Hidden: true})
	defer func() {
		for _, p := range []*party{a, b, v, h} {
			p.client.Close()
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()
	hear := func(p *party, f float64) float64 {
		return codectest.LevelDB(p.client.Audio(500*time.Millisecond), codec.SampleRate, f)
	}
	want := map[*party][]string{
		a: {palette[1].Name}, // B only: the viewer has no tile
		b: {palette[0].Name},
		v: {palette[0].Name, palette[1].Name},
	}
	if err := codectest.Poll(20*time.Second, func() error {
		var errs []error
		for p, w := range want {
			got, err := partyTiles(p, len(w), false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !slices.Equal(got, w) {
				errs = append(errs, fmt.Errorf("%s sees %v, want %v", p.name, got, w))
			}
		}
		if la, lb := hear(v, a.tone), hear(v, b.tone); la < -30 || lb < -30 {
			errs = append(errs, fmt.Errorf("the viewer hears A at %.1f dB and B at %.1f dB", la, lb))
		}
		for _, p := range []*party{a, b} {
			if l, other := hear(p, v.tone), hear(p, a.tone+b.tone-p.tone); l > other-30 {
				errs = append(errs, fmt.Errorf("%s hears the viewer's tone at %.1f dB (the other at %.1f dB)", p.name, l, other))
			}
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*party{a, b} {
		if !p.l.hasViewer(mcu.RosterJoined, "V") {
			t.Errorf("%s was not told that the viewer joined, as a viewer", p.name)
		}
		if p.l.has(mcu.RosterJoined, "H") {
			t.Errorf("%s was told that the hidden viewer joined", p.name)
		}
	}
	if !v.l.has(mcu.RosterJoined, "A") || !v.l.has(mcu.RosterJoined, "B") {
		t.Error("the viewer was not told who is in the room")
	}
	if v.l.has(mcu.RosterJoined, "H") {
		t.Error("the viewer was told that the hidden viewer joined")
	}
	h.p.Leave()
	v.p.Leave()
	if err := codectest.Poll(5*time.Second, func() error {
		for _, p := range []*party{a, b} {
			if !p.l.has(mcu.RosterLeft, "V") {
				return fmt.Errorf("%s was not told that the viewer left", p.name)
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	for _, p := range []*party{a, b} {
		if p.l.has(mcu.RosterLeft, "H") {
			t.Errorf("%s was told that the hidden viewer left", p.name)
		}
	}
}
