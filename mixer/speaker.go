package mixer

import (
	"math"

	"github.com/openmcu/mcu/codec"
)

// minLevelDBov is the level reported for digital silence: the floor of the RFC 6464 audio level.
const minLevelDBov = -127

// levelSmoothing is the weight of a new frame in the smoothed level (an exponential average of the mean
// square, time constant about 30 ms): enough to ignore a single click, fast enough to let a word's first
// frame through.
const levelSmoothing = 0.5

// mixHysteresisDB is the bonus an already mixed source gets when more sources are active than may be
// mixed, so two sources of similar level do not swap places (and keys) every tick.
const mixHysteresisDB = 3

// speakerDetector tracks one source's level and speaking state. It belongs to the mixing goroutine.
//
// A source is active (eligible for the mix) from its first frame with a smoothed level at or above the
// threshold until the level has stayed below it for the hangover. It is speaking (reported in events and
// ActiveSpeakers) once it has been above the threshold for the attack, and until it stops being active.
// Mixing needs no attack, so the start of a word is never cut; events do, so a click does not flap them.
type speakerDetector struct {
	power      float64 // smoothed mean square, relative to full scale squared
	levelDBov  float64
	above      int // consecutive frames at or above the threshold
	below      int // consecutive frames below it while active
	active     bool
	speaking   bool
	since      uint64  // tick at which speaking started
	startLevel float64 // level when speaking started, to order simultaneous starts
}

func newSpeakerDetector() speakerDetector {
	return speakerDetector{levelDBov: minLevelDBov}
}

// frameMeanSquare returns the mean square of frame relative to full scale squared: 1 for a full-scale
// square wave (0 dBov), 0.5 for a full-scale sine (-3 dBov).
func frameMeanSquare(frame *[codec.FrameSamples]int16) float64 {
	var acc int64
	for _, v := range frame {
		acc += int64(v) * int64(v)
	}
	return float64(acc) / (float64(codec.FrameSamples) * 32768 * 32768)
}

// powerToDBov converts a mean square relative to full scale squared to dBov, floored at minLevelDBov.
func powerToDBov(p float64) float64 {
	if p <= 0 {
		return minLevelDBov
	}
	return max(minLevelDBov, 10*math.Log10(p))
}

// update feeds one frame and reports whether the speaking state changed.
func (d *speakerDetector) update(frame *[codec.FrameSamples]int16, threshold float64, attackFrames, hangoverFrames int, seq uint64) bool {
	d.power += levelSmoothing * (frameMeanSquare(frame) - d.power)
	d.levelDBov = powerToDBov(d.power)
	if d.power >= threshold {
		d.above++
		d.below = 0
		d.active = true
	} else {
		d.above = 0
		if d.active {
			d.below++
			if d.below > hangoverFrames {
				d.active = false
				d.below = 0
			}
		}
	}
	switch {
	case !d.speaking && d.above >= attackFrames:
		d.speaking = true
		d.since = seq
		d.startLevel = d.levelDBov
		return true
	case d.speaking && !d.active:
		d.speaking = false
		return true
	}
	return false
}
