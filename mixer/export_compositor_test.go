package mixer

import "time"

// Test seams for the external compositor tests (package mixer_test, which can import mixertest).

func (c *Compositor) ComposeOnce(now time.Time) { c.composeOnce(now) }

func (c *Compositor) Shutdown() { c.shutdown() }

// DrainOutputs releases whatever frame waits on each output, as a consumer would.
func (c *Compositor) DrainOutputs() {
	for _, p := range c.plans {
		select {
		case f := <-p.out.Frames():
			f.Release()
		default:
		}
	}
}

var PlaceholderColour = placeholderColour
