package main

import (
	"strings"
	"testing"
	"time"
)

func TestAggregate(t *testing.T) {
	before := []RecvStats{
		{VideoFrames: 100, VideoBytes: 1000, AudioPackets: 500, AudioUnderruns: 2, VideoFreezes: 1},
		{VideoFrames: 50, AudioPackets: 400, AudioPacketsLost: 3},
	}
	// Over 10 s at 30 fps: the first receives all 300 frames (and 625 kB: 500 kbit/s), the second 285 of
	// them with one freeze, two lost audio packets and one underrun.
	after := []RecvStats{
		{VideoFrames: 400, VideoBytes: 1000 + 625_000, AudioPackets: 1000, AudioUnderruns: 2, VideoFreezes: 1,
			MaxFrameGap: 40 * time.Millisecond},
		{VideoFrames: 335, AudioPackets: 880, AudioPacketsLost: 5, AudioUnderruns: 1, VideoFreezes: 1,
			MaxFrameGap: 300 * time.Millisecond},
	}
	d, err := aggregate(before, after, 10*time.Second, 30)
	if err != nil {
		t.Fatal(err)
	}
	want := Downstream{Participants: 2, FPSMin: 28.5, FPSAvg: 29.25, MissingFrames: 15, VideoKbpsAvg: 250,
		Freezes: 1, MaxFrameGap: 300 * time.Millisecond, AudioPPSMin: 48, AudioPacketsLost: 2, AudioUnderruns: 1}
	if d != want {
		t.Errorf("aggregate =\n%+v, want\n%+v", d, want)
	}
	if _, err := aggregate(before, after[:1], 10*time.Second, 30); err == nil {
		t.Error("mismatched participant lists gave no error")
	}
	if _, err := aggregate(nil, nil, 10*time.Second, 30); err == nil {
		t.Error("no participants gave no error")
	}
}

func TestJudge(t *testing.T) {
	tier := Tier{1280, 720, 30, 1_500_000}
	tests := []struct {
		name string
		run  Run
		held bool
		why  []string
	}{
		{"held", Run{Tier: tier, Down: Downstream{FPSMin: 29.0}}, true, nil},
		{"slow", Run{Tier: tier, Down: Downstream{FPSMin: 28.9}}, false, []string{"min fps 28.9 < 29.0"}},
		{"underrun", Run{Tier: tier, Down: Downstream{FPSMin: 30, AudioUnderruns: 3}}, false, []string{"3 audio underruns"}},
		{"both", Run{Tier: tier, Down: Downstream{FPSMin: 12, AudioUnderruns: 1}}, false, []string{"min fps 12.0", "1 audio underruns"}},
		{"error", Run{Tier: tier, Error: "server exited", Down: Downstream{FPSMin: 30}}, false, []string{"server exited"}},
		{"15 fps tier", Run{Tier: Tier{640, 360, 15, 500_000}, Down: Downstream{FPSMin: 14.6}}, true, nil},
		{"shed", Run{Tier: tier, VideoFramesShed: 120, Down: Downstream{FPSMin: 24}}, false,
			[]string{"min fps 24.0", "the server shed 120 pictures"}},
		{"shed, held", Run{Tier: tier, VideoFramesShed: 3, Down: Downstream{FPSMin: 29.5}}, true, nil},
	}
	for _, tt := range tests {
		held, why := judge(&tt.run)
		if held != tt.held {
			t.Errorf("%s: judge(%+v) held = %v, want %v (%s)", tt.name, tt.run.Down, held, tt.held, why)
		}
		for _, w := range tt.why {
			if !strings.Contains(why, w) {
				t.Errorf("%s: reason %q lacks %q", tt.name, why, w)
			}
		}
		if held && why != "" {
			t.Errorf("%s: held with a reason %q", tt.name, why)
		}
	}
}

func TestLargestRealTime(t *testing.T) {
	a, b := Tier{1280, 720, 30, 1_500_000}, Tier{640, 360, 30, 500_000}
	runs := []Run{{Tier: a, N: 2, RealTime: true}, {Tier: a, N: 4, RealTime: true}, {Tier: a, N: 9},
		{Tier: b, N: 2}, {Tier: b, N: 4}}
	if got := largestRealTime(runs, a, "noise"); got != 4 {
		t.Errorf("largest real-time N of %v = %d, want 4", a, got)
	}
	if got := largestRealTime(runs, b, "noise"); got != 0 {
		t.Errorf("largest real-time N of %v = %d, want 0 (none held)", b, got)
	}
	runs = append(runs, Run{Tier: b, N: 9, Content: "camera", RealTime: true})
	if got := largestRealTime(runs, b, "camera"); got != 9 {
		t.Errorf("largest real-time N of %v camera = %d, want 9", b, got)
	}
	if got := largestRealTime(runs, b, "noise"); got != 0 {
		t.Errorf("largest real-time N of %v noise = %d, want 0 (none held; the camera run is not noise)", b, got)
	}
}
