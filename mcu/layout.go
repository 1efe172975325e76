package mcu

import "github.com/openmcu/mcu/mixer"

// Layout is how a participant's composed picture arranges the tiles (re-exported from mixer so that
// signalling never imports the media packages).
type Layout = mixer.Layout

// Layouts a participant can choose.
const (
	LayoutGrid    = mixer.Grid
	LayoutSpeaker = mixer.Speaker
)

// ParseLayout turns "grid" or "speaker" into a Layout.
func ParseLayout(s string) (Layout, error) { return mixer.ParseLayout(s) }
