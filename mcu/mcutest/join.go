package mcutest

import (
	"fmt"

	"github.com/openmcu/mcu/mcu"
)

// Negotiate runs the offer/answer between c and the joined participant p: c's offer goes to p, p's
// answer back to c. Candidates gathered after the answer are not passed on: c must gather loopback host
// candidates (Config.IncludeLoopback) for the answer's to be enough.
func Negotiate(c *Client, p *mcu.Participant) error {
	offer, err := c.Offer()
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	answer, err := p.HandleOffer(offer)
	if err != nil {
		return fmt.Errorf("handle offer: %w", err)
	}
	if err := c.SetAnswer(answer); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	return nil
}
