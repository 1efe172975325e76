package live

import "time"

// clock paces a synthetic source: successive waits return at start, start+interval, start+2·interval,
// ... (start is the first wait, which returns at once). After a late wakeup the next waits return at
// once until the clock has caught up, by at most maxLag; a source later than that drops the missed
// ticks and restarts from now. It belongs to one goroutine.
type clock struct {
	interval, maxLag time.Duration
	next             time.Time
	timer            *time.Timer
}

// wait blocks until the next tick is due.
func (c *clock) wait() {
	now := time.Now()
	if c.next.IsZero() {
		c.next = now
	}
	if d := c.next.Sub(now); d > 0 {
		if c.timer == nil {
			c.timer = time.NewTimer(d)
		} else {
			c.timer.Reset(d)
		}
		<-c.timer.C
	} else if -d > c.maxLag {
		c.next = now
	}
	c.next = c.next.Add(c.interval)
}

// stop releases the timer.
func (c *clock) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
}
