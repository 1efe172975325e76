package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// RecvStats is what one synthetic participant has received so far (cumulative), as the benchmark reads
// it from the load generator. Plain data.
type RecvStats struct {
	VideoFrames      uint64
	VideoBytes       uint64
	VideoPacketsLost uint64
	VideoFreezes     uint64
	MaxFrameGap      time.Duration // longest gap between two received pictures since joining
	AudioPackets     uint64
	AudioPacketsLost uint64
	AudioUnderruns   uint64
}

// Downstream sums up what every participant received during the measurement window.
type Downstream struct {
	Participants int     `json:"participants"`
	FPSMin       float64 `json:"fps_min"`
	FPSAvg       float64 `json:"fps_avg"`
	// MissingFrames adds up, over participants, the frames short of the tier's frame rate over the window
	// (late or dropped frames, as a receiver sees them).
	MissingFrames    int64         `json:"missing_frames"`
	VideoKbpsAvg     float64       `json:"video_kbps_avg"`
	VideoPacketsLost uint64        `json:"video_packets_lost"`
	Freezes          uint64        `json:"freezes"`
	MaxFrameGap      time.Duration `json:"max_frame_gap_since_join_ns"`
	AudioPPSMin      float64       `json:"audio_packets_per_second_min"`
	AudioPacketsLost uint64        `json:"audio_packets_lost"`
	AudioUnderruns   uint64        `json:"audio_underruns"`
}

// aggregate turns per-participant stats taken at the start and the end of a window of length elapsed
// into the window's figures. before and after are in the same participant order.
func aggregate(before, after []RecvStats, elapsed time.Duration, frameRate int) (Downstream, error) {
	if len(before) != len(after) {
		return Downstream{}, fmt.Errorf("aggregate: %d participants before, %d after", len(before), len(after))
	}
	if len(after) == 0 || elapsed <= 0 {
		return Downstream{}, fmt.Errorf("aggregate: %d participants over %v", len(after), elapsed)
	}
	sec := elapsed.Seconds()
	expected := float64(frameRate) * sec
	d := Downstream{Participants: len(after), FPSMin: math.Inf(1), AudioPPSMin: math.Inf(1)}
	var fpsSum, kbpsSum float64
	for i := range after {
		a, b := after[i], before[i]
		frames := sub(a.VideoFrames, b.VideoFrames)
		fps := float64(frames) / sec
		fpsSum += fps
		d.FPSMin = min(d.FPSMin, fps)
		if miss := int64(math.Round(expected)) - int64(frames); miss > 0 {
			d.MissingFrames += miss
		}
		kbpsSum += float64(sub(a.VideoBytes, b.VideoBytes)) * 8 / 1000 / sec
		d.VideoPacketsLost += sub(a.VideoPacketsLost, b.VideoPacketsLost)
		d.Freezes += sub(a.VideoFreezes, b.VideoFreezes)
		d.MaxFrameGap = max(d.MaxFrameGap, a.MaxFrameGap)
		d.AudioPPSMin = min(d.AudioPPSMin, float64(sub(a.AudioPackets, b.AudioPackets))/sec)
		d.AudioPacketsLost += sub(a.AudioPacketsLost, b.AudioPacketsLost)
		d.AudioUnderruns += sub(a.AudioUnderruns, b.AudioUnderruns)
	}
	d.FPSAvg = fpsSum / float64(len(after))
	d.VideoKbpsAvg = kbpsSum / float64(len(after))
	return d, nil
}

// sub is a - b for cumulative counters, zero if the counter went backwards.
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// judge decides whether a run held in real time: it completed, every participant received at least 29
// of 30 frames per second (scaled to the tier's rate), and no participant's audio ran dry. The reason
// says what failed, empty when it held.
func judge(r *Run) (held bool, reason string) {
	if r.Error != "" {
		return false, r.Error
	}
	var why []string
	if want := r.Tier.RealTimeFPS(); r.Down.FPSMin < want {
		why = append(why, fmt.Sprintf("min fps %.1f < %.1f", r.Down.FPSMin, want))
	}
	if r.Down.AudioUnderruns > 0 {
		why = append(why, fmt.Sprintf("%d audio underruns", r.Down.AudioUnderruns))
	}
	if len(why) > 0 && r.VideoFramesShed > 0 {
		why = append(why, fmt.Sprintf("the server shed %.0f pictures to keep audio on time", r.VideoFramesShed))
	}
	return len(why) == 0, strings.Join(why, ", ")
}

// largestRealTime returns the largest N of tier and content that held in real time, 0 if none did.
func largestRealTime(runs []Run, tier Tier, content string) int {
	best := 0
	for _, r := range runs {
		if r.Tier == tier && r.ContentName() == content && r.RealTime {
			best = max(best, r.N)
		}
	}
	return best
}
