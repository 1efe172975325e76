package mcu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/mixer"
)

// Video shedding: when the process is short of CPU time, the audio mixers wake late or wait for the CPU
// while they send; a listener hears a gap when a tick's packets go out 40 ms late (two frames). Audio is
// the cheap, essential part of a call and video the expensive one, so the server gives up video frames
// first: every room reports how late each tick's last packet went out (mixer.AudioTick.Late plus the
// time the tick took) to one governor for the whole server, which raises a shed level
// when ticks run late and lowers it again after a calm spell; every room's compositor draws at that
// level (mixer.Compositor.SetShedLevel: the least-shared views lose frames first, then all, down to 5
// fps). Audio is never shed.
const (
	// shedLate is how late a tick must be to count as a sign of CPU pressure: a frame, half way to the
	// gap a listener hears (two frames).
	shedLate = 20 * time.Millisecond
	// shedWindow is how often the governor decides: at most one level up or down per window.
	shedWindow = 500 * time.Millisecond
	// shedLateTicks is how many late ticks in one window (of 25) raise the level: sustained pressure, not
	// the few late ticks of a burst of joins (DTLS handshakes, first keyframes).
	shedLateTicks = 5
	// shedCalm is how many calm windows in a row lower the level again (1 s), doubled, up to
	// shedMaxCalm, each time a lowered level had to be raised again soon after (so that a server just
	// past capacity does not flap between levels).
	shedCalm    = 2
	shedMaxCalm = 120
)

// videoGovernor turns the audio mixers' lateness into the server's video shed level. observe is called
// from every room's mixer goroutine; level from anywhere.
type videoGovernor struct {
	cur      atomic.Int32
	disabled bool
	onChange func(level int) // called with mu held when the level changes; may be nil

	mu      sync.Mutex
	start   time.Time // of the current window
	late    int       // late ticks in the current window
	calm    int       // calm windows in a row
	need    int       // calm windows needed to lower the level
	lowered time.Time // when the level was last lowered, zero once raised again
}

func newVideoGovernor(disabled bool, onChange func(level int)) *videoGovernor {
	return &videoGovernor{disabled: disabled, onChange: onChange, need: shedCalm}
}

// level returns the current shed level (0: none).
func (g *videoGovernor) level() int { return int(g.cur.Load()) }

// observe takes one mixed tick, mixed at now, late by late, and returns the shed level to draw at.
func (g *videoGovernor) observe(now time.Time, late time.Duration) int {
	if g.disabled {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if late >= shedLate {
		g.late++
	}
	if g.start.IsZero() {
		g.start = now
	}
	if now.Sub(g.start) < shedWindow {
		return int(g.cur.Load())
	}
	level := int(g.cur.Load())
	switch {
	case g.late >= shedLateTicks:
		g.calm = 0
		if level < mixer.MaxShedLevel {
			// A flap is the first raise soon after a lowering: it doubles the calm needed, once. The
			// raises that follow in the same spell of pressure are not flaps (doubling for each of them
			// kept a server at 5 fps for 16 s after a burst of joins that had ended).
			if !g.lowered.IsZero() && now.Sub(g.lowered) < time.Duration(2*g.need)*shedWindow {
				g.need = min(2*g.need, shedMaxCalm)
			}
			g.lowered = time.Time{}
			g.set(level + 1)
		}
	case level > 0:
		g.calm++
		if g.calm >= g.need {
			g.calm = 0
			g.lowered = now
			g.set(level - 1)
		}
	default:
		// At rest: forget past flapping once the server has been calm for the longest spell.
		if g.calm++; g.calm >= shedMaxCalm {
			g.calm, g.need = 0, shedCalm
		}
	}
	g.start, g.late = now, 0
	return int(g.cur.Load())
}

func (g *videoGovernor) set(level int) {
	g.cur.Store(int32(level))
	if g.onChange != nil {
		g.onChange(level)
	}
}
