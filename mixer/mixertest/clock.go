// Package mixertest holds fakes for testing code built on package mixer.
package mixertest

import (
	"sync"
	"time"

	"github.com/openmcu/mcu/mixer"
)

// Clock is a manual mixer.Clock: time stands still until Advance moves it, and tickers fire (without
// blocking, dropping ticks a slow reader has not taken, like time.Ticker) as Advance passes their
// deadlines. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*ticker
}

// NewClock returns a manual clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a ticker whose first tick comes d after the current time.
func (c *Clock) NewTicker(d time.Duration) mixer.Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &ticker{clock: c, period: d, next: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	return t
}

// Advance moves the clock forward by d, firing every ticker deadline it passes in order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	var fire []func()
	for _, t := range c.tickers {
		for !t.stopped && !t.next.After(end) {
			at, ch := t.next, t.ch
			fire = append(fire, func() {
				select {
				case ch <- at:
				default:
				}
			})
			t.next = t.next.Add(t.period)
		}
	}
	c.now = end
	c.mu.Unlock()
	for _, f := range fire {
		f()
	}
}

type ticker struct {
	clock   *Clock
	period  time.Duration
	next    time.Time
	stopped bool
	ch      chan time.Time
}

func (t *ticker) C() <-chan time.Time { return t.ch }

func (t *ticker) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.stopped = true
}

// Tickers returns how many tickers are running (created and not stopped). Tests use it to wait until a
// loop started in another goroutine has made its ticker before they Advance the clock.
func (c *Clock) Tickers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.tickers {
		if !t.stopped {
			n++
		}
	}
	return n
}
