package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Tier is one output tier the server is measured at: the size of each composed picture, its frame rate
// and the target bitrate of each video encoder. Plain data.
type Tier struct {
	Width     int `json:"width"`
	Height    int `json:"height"`
	FrameRate int `json:"frame_rate"`
	Bitrate   int `json:"bitrate"` // bit/s
}

// String is the tier in the syntax ParseTiers reads: 1280x720@30:1500k.
func (t Tier) String() string {
	return fmt.Sprintf("%dx%d@%d:%s", t.Width, t.Height, t.FrameRate, formatBitrate(t.Bitrate))
}

// Canvas is the tier's size as the server's -canvas flag takes it.
func (t Tier) Canvas() string { return fmt.Sprintf("%dx%d", t.Width, t.Height) }

// RealTimeFPS is the lowest downstream frame rate that still counts as real time: 29 of 30 frames,
// scaled to the tier's frame rate.
func (t Tier) RealTimeFPS() float64 { return float64(t.FrameRate) * 29 / 30 }

// DefaultTiers is the value of -tiers: the server's default canvas and its lower tier.
const DefaultTiers = "1280x720@30:1500k,640x360@30:500k"

// ParseTiers reads a comma-separated list of tiers, each WIDTHxHEIGHT[@FPS][:BITRATE]; the frame rate
// defaults to 30 and the bitrate to 1500k. Bitrates take a k or M suffix.
func ParseTiers(s string) ([]Tier, error) {
	var tiers []Tier
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		t := Tier{FrameRate: 30, Bitrate: 1_500_000}
		rest := f
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			b, err := parseBitrate(rest[i+1:])
			if err != nil {
				return nil, fmt.Errorf("tier %q: %w", f, err)
			}
			t.Bitrate, rest = b, rest[:i]
		}
		if i := strings.IndexByte(rest, '@'); i >= 0 {
			fps, err := strconv.Atoi(rest[i+1:])
			if err != nil || fps < 1 || fps > 120 {
				return nil, fmt.Errorf("tier %q: frame rate %q: want 1..120", f, rest[i+1:])
			}
			t.FrameRate, rest = fps, rest[:i]
		}
		w, h, ok := strings.Cut(rest, "x")
		var err1, err2 error
		if ok {
			t.Width, err1 = strconv.Atoi(w)
			t.Height, err2 = strconv.Atoi(h)
		}
		if !ok || err1 != nil || err2 != nil || t.Width < 2 || t.Height < 2 || t.Width%2 != 0 || t.Height%2 != 0 {
			return nil, fmt.Errorf("tier %q: size %q: want even WIDTHxHEIGHT", f, rest)
		}
		tiers = append(tiers, t)
	}
	if len(tiers) == 0 {
		return nil, fmt.Errorf("no tiers in %q", s)
	}
	return tiers, nil
}

// parseBitrate reads a bitrate in bit/s with an optional k (1000) or M (1000000) suffix.
func parseBitrate(s string) (int, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bitrate %q: want a positive number with an optional k or M suffix", s)
	}
	return int(v * mult), nil
}

// formatBitrate writes a bitrate the way parseBitrate reads it, as short as it is exact.
func formatBitrate(b int) string {
	switch {
	case b%1_000_000 == 0:
		return strconv.Itoa(b/1_000_000) + "M"
	case b%1000 == 0:
		return strconv.Itoa(b/1000) + "k"
	}
	return strconv.Itoa(b)
}

// ParseCounts reads the -n list: participant counts, each at least 2, returned sorted and without
// duplicates.
func ParseCounts(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			return nil, fmt.Errorf("participant count %q: want an integer >= 2", f)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("no participant counts in %q", s)
	}
	slices.Sort(ns)
	return slices.Compact(ns), nil
}

// Schedule walks the participant counts of one tier: the listed counts first, then, while the last run
// held in real time, the last count plus step, up to max. Tell it each result with Next. Plain data, not
// safe for concurrent use.
type Schedule struct {
	counts    []int
	step, max int
	i         int
	last      int
}

// NewSchedule returns a schedule over counts (sorted, as ParseCounts returns them). A step or max of
// zero or less stops after the list.
func NewSchedule(counts []int, step, max int) *Schedule {
	return &Schedule{counts: counts, step: step, max: max}
}

// Next returns the next count to run, given whether the previous one held in real time (ignored on the
// first call), and false when the tier is done: after the first count that did not hold, or past the list
// and max.
func (s *Schedule) Next(prevHeld bool) (int, bool) {
	if s.last != 0 && !prevHeld {
		return 0, false
	}
	var n int
	switch {
	case s.i < len(s.counts):
		n = s.counts[s.i]
		s.i++
	case s.step > 0 && s.last+s.step <= s.max:
		n = s.last + s.step
	default:
		return 0, false
	}
	s.last = n
	return n, true
}
