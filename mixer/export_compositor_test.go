package mixer

import (
	"image"
	"time"
)

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

// Background is the canvas colour around tiles and around a letterboxed screen.
var Background = background

// RenderText draws text px pixels high into an alpha mask with the labels' font, for tests that need
// text in a picture.
func RenderText(text string, px, maxW int) (*image.Alpha, error) {
	r, err := newTextRenderer()
	if err != nil {
		return nil, err
	}
	return r.render(text, px, maxW), nil
}
