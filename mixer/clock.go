package mixer

import "time"

// Clock is the source of time for the mixers' tick loops. Production code uses SystemClock; tests inject
// a manual clock (mixertest.Clock) and step it, so loops run deterministically and fast.
type Clock interface {
	// Now returns the current (monotonic) time.
	Now() time.Time
	// NewTicker returns a ticker that fires every d.
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers ticks on a channel, like time.Ticker.
type Ticker interface {
	// C returns the channel the ticks arrive on.
	C() <-chan time.Time
	// Stop turns the ticker off. It does not close the channel.
	Stop()
}

// SystemClock is the real clock. The zero value is ready to use and safe for concurrent use.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (SystemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (s systemTicker) C() <-chan time.Time { return s.t.C }
func (s systemTicker) Stop()               { s.t.Stop() }
