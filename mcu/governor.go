package mcu

import (
	"fmt"
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
// fps). Past the compositor's last level, each further level (after 10 s more of lateness each) moves
// every video receiver but the outputs one tier down (MCU.tierFloor: a smaller picture is a cheaper
// encode and is more often shared), down to the lowest tier; video is never turned off for CPU.
// Lowering the level gives the tiers back first, then the frame rates. Audio is never shed.
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
	// shedTierWindows is how many late windows in a row at a level of the compositor's last or above
	// raise the level into (or further into) the tier steps (10 s): a tier change costs every receiver a
	// keyframe, and a burst of joins makes ticks late for seconds without any lasting overload (41
	// WebRTC joins in 9 s on 2 cores kept ticks late for 6 s after the compositor's last level; with
	// tier steps as fast as the frame rates, or after 4 s, the room went down a tier during its joins).
	shedTierWindows = 20
)

// videoGovernor turns the audio mixers' lateness into the server's video shed level. observe is called
// from every room's mixer goroutine; level from anywhere.
type videoGovernor struct {
	cur      atomic.Int32
	disabled bool
	max      int             // the highest level: mixer.MaxShedLevel plus the tiers below the best
	onChange func(level int) // called with mu held when the level changes; may be nil

	mu      sync.Mutex
	start   time.Time // of the current window
	late    int       // late ticks in the current window
	lateRun int       // late windows in a row since the last raise
	calm    int       // calm windows in a row
	need    int       // calm windows needed to lower the level
	lowered time.Time // when the level was last lowered, zero once raised again
}

// newVideoGovernor returns a governor whose levels go up to mixer.MaxShedLevel plus tierSteps (the
// tiers below the best one that shedding may move receivers to).
func newVideoGovernor(disabled bool, tierSteps int, onChange func(level int)) *videoGovernor {
	return &videoGovernor{disabled: disabled, max: mixer.MaxShedLevel + max(tierSteps, 0), onChange: onChange,
		need: shedCalm}
}

// shedTierSteps returns how many tiers below the best the level moves video receivers (0 up to the
// compositor's last level).
func shedTierSteps(level int) int { return max(level-mixer.MaxShedLevel, 0) }

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
		g.lateRun++
		if level < g.max && (level < mixer.MaxShedLevel || g.lateRun >= shedTierWindows) {
			// A flap is the first raise soon after a lowering: it doubles the calm needed, once. The
			// raises that follow in the same spell of pressure are not flaps (doubling for each of them
			// kept a server at 5 fps for 16 s after a burst of joins that had ended).
			if !g.lowered.IsZero() && now.Sub(g.lowered) < time.Duration(2*g.need)*shedWindow {
				g.need = min(2*g.need, shedMaxCalm)
			}
			g.lowered, g.lateRun = time.Time{}, 0
			g.set(level + 1)
		}
	case level > 0:
		g.lateRun = 0
		g.calm++
		if g.calm >= g.need {
			g.calm = 0
			g.lowered = now
			g.set(level - 1)
		}
	default:
		g.lateRun = 0
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

// onShedLevel is the governor's onChange (called with its lock held: it must not wait): it logs the new
// level and, when the level moves the tier floor, re-applies every participant's tier on a goroutine of
// its own. Re-applications that overlap are harmless: each reads the floor when it runs, so the latest
// wins.
func (m *MCU) onShedLevel(level int) {
	m.log.Warn("audio running late: video shed level changed", "level", level)
	steps := int32(shedTierSteps(level))
	if m.tierFloor.Swap(steps) == steps {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.catch(panicCallback, m.log, nil)
		m.reapplyTiers(fmt.Sprintf("cpu: shed level %d", level))
	}()
}

// reapplyTiers puts every participant of every room on the tier its caps and the tier floor allow.
func (m *MCU) reapplyTiers(reason string) {
	for _, r := range m.openRooms() {
		for _, p := range r.members() {
			if err := p.applyTier(reason); err != nil {
				p.log.Warn("apply tier", "err", err)
			}
		}
	}
}
