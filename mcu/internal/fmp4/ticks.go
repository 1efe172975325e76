package fmp4

import "time"

// toTicks converts d to ticks of a clock of rate Hz, rounded to the nearest tick (halves up). It is
// exact for any duration (no overflow of the intermediate product) and monotonic, so differences of
// converted times never drift from the times themselves.
func toTicks(d time.Duration, rate int64) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	if rem < 0 {
		sec--
		rem += int64(time.Second)
	}
	return sec*rate + (rem*rate+int64(time.Second)/2)/int64(time.Second)
}
