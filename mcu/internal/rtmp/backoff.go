package rtmp

import "time"

// Defaults of a Backoff's zero fields.
const (
	DefaultBackoffMin    = time.Second
	DefaultBackoffMax    = 30 * time.Second
	DefaultBackoffStable = time.Minute
)

// Backoff paces reconnections: after each failure it waits twice as long as after the one before, from
// Min up to Max (1, 2, 4, 8, 16, 30, 30 ... s by default), and it starts again from Min once a connection
// has stayed up for Stable. Times are passed in, so it needs no clock and tests need no sleeping.
//
// Set the fields (or leave them zero for the defaults) before the first call. A Backoff belongs to one
// goroutine, the one that reconnects; it is not safe for concurrent use.
type Backoff struct {
	// Min is the first delay; zero means DefaultBackoffMin.
	Min time.Duration
	// Max caps the delay; zero means DefaultBackoffMax.
	Max time.Duration
	// Stable is how long a connection must stay up to reset the delay to Min; zero means
	// DefaultBackoffStable.
	Stable time.Duration

	next    time.Duration // the delay Failed returns next; zero before the first failure
	upSince time.Time
	up      bool
}

// Connected records that a connection came up at now.
func (b *Backoff) Connected(now time.Time) {
	b.upSince, b.up = now, true
}

// Failed records that a connection attempt failed, or a connection went down, at now, and returns how
// long to wait before the next attempt.
func (b *Backoff) Failed(now time.Time) time.Duration {
	lo, hi, stable := b.Min, b.Max, b.Stable
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	if stable <= 0 {
		stable = DefaultBackoffStable
	}
	if b.up && now.Sub(b.upSince) >= stable {
		b.next = 0
	}
	b.up = false
	if b.next == 0 {
		b.next = lo
	}
	d := min(b.next, hi)
	b.next = min(2*b.next, hi)
	return d
}

// Reset forgets past failures: the next Failed returns Min.
func (b *Backoff) Reset() {
	b.next, b.up = 0, false
}
