package mixer

import (
	"math"
	"time"

	"github.com/openmcu/mcu/codec"
)

// The limiter keeps a mix under its ceiling without clipping, so loud simultaneous speakers neither wrap
// around nor grow the odd harmonics that hard clipping makes.
//
// Design: a gain limiter with one frame of free lookahead. The mixer holds the whole 20 ms frame before it
// outputs anything, so the limiter splits it into 2 ms segments, measures each segment's peak, and derives
// the gain each segment needs (ceiling/peak, or 1). The gain follows those needs with
//   - instant attack: it drops to the needed value at the segment boundary before the peak, ramping down
//     over the preceding 2 ms segment instead of stepping;
//   - hold: it stays put for one frame after the last reduction, so a steady loud tone (whose every
//     segment holds a peak) gets a constant gain and no modulation sidebands;
//   - slow release: then it returns toward unity with time constant AudioConfig.LimiterRelease.
//
// Within a segment the gain is interpolated linearly between the gains at its two boundaries, and both are
// at most what that segment needs, so every output sample is provably at or below the ceiling. That is why
// there is no soft-knee safety curve after the gain stage: it would never engage. The final conversion to
// int16 still saturates, as a guard. The only gain step that remains is at a frame boundary when a new
// peak falls in the first 2 ms of a frame, which would need more than one frame of lookahead (latency) to
// avoid.
const (
	limiterSegment      = codec.FrameSamples / 10 // 2 ms
	limiterSegments     = codec.FrameSamples / limiterSegment
	limiterHoldSegments = limiterSegments // one frame
)

// limiter is the state of one output's limiter. The zero value is not usable; use newLimiter. It belongs
// to the mixing goroutine.
type limiter struct {
	ceiling float32 // peak allowed, in sample units
	release float32 // per segment, the fraction of (1 - gain) left after releasing
	gain    float32 // at the end of the previous frame
	hold    int     // segments left before releasing
}

func newLimiter(ceilingDBov float64, release time.Duration) limiter {
	seg := float64(codec.FrameDuration) / float64(limiterSegments)
	return limiter{
		ceiling: float32(32767 * math.Pow(10, ceilingDBov/20)),
		release: float32(math.Exp(-seg / float64(release))),
		gain:    1,
	}
}

// process writes sum minus own (own may be nil) to out, limited. It does not allocate.
func (l *limiter) process(sum *[codec.FrameSamples]int32, own *[codec.FrameSamples]int16, out *[codec.FrameSamples]int16) {
	// Segment peaks of the input and the gain each segment may have.
	prev := l.gain
	var seg [limiterSegments]float32
	for k := range seg {
		var peak int32
		for i := k * limiterSegment; i < (k+1)*limiterSegment; i++ {
			v := sum[i]
			if own != nil {
				v -= int32(own[i])
			}
			if v < 0 {
				v = -v
			}
			peak = max(peak, v)
		}
		need := float32(1)
		if p := float32(peak); p > l.ceiling {
			need = l.ceiling / p
		}
		g := l.gain
		switch {
		case need < g:
			g = need
			l.hold = limiterHoldSegments
		case l.hold > 0:
			l.hold--
		default:
			g = min(need, 1-(1-g)*l.release)
		}
		l.gain = g
		seg[k] = g
	}

	// Boundary k starts segment k; both boundaries of a segment are at most its gain.
	start := min(prev, seg[0])
	for k := range seg {
		end := seg[k]
		if k+1 < limiterSegments {
			end = min(end, seg[k+1])
		}
		base := k * limiterSegment
		if start == 1 && end == 1 {
			for i := base; i < base+limiterSegment; i++ {
				v := sum[i]
				if own != nil {
					v -= int32(own[i])
				}
				out[i] = saturate16(v)
			}
		} else {
			step := (end - start) / float32(limiterSegment)
			for j := range limiterSegment {
				v := sum[base+j]
				if own != nil {
					v -= int32(own[base+j])
				}
				y := float32(v) * (start + step*float32(j))
				out[base+j] = saturate16(int32(roundHalfAway(y)))
			}
		}
		start = end
	}
}

func roundHalfAway(y float32) float32 {
	if y < 0 {
		return y - 0.5
	}
	return y + 0.5
}

func saturate16(v int32) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < -math.MaxInt16:
		return -math.MaxInt16
	}
	return int16(v)
}
