package main

import (
	"slices"
	"testing"
)

func TestParseTiers(t *testing.T) {
	tests := []struct {
		in   string
		want []Tier
	}{
		{DefaultTiers, []Tier{{1280, 720, 30, 1_500_000}, {640, 360, 30, 500_000}}},
		{"320x180", []Tier{{320, 180, 30, 1_500_000}}},
		{" 640x360@15:1.2M ,", []Tier{{640, 360, 15, 1_200_000}}},
		{"1920x1080:4000000", []Tier{{1920, 1080, 30, 4_000_000}}},
	}
	for _, tt := range tests {
		got, err := ParseTiers(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseTiers(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1280", "1281x720", "1280x720@0", "1280x720@abc", "1280x720:fast", "1280x720:-5k", "x720"} {
		if got, err := ParseTiers(bad); err == nil {
			t.Errorf("ParseTiers(%q) = %v, want an error", bad, got)
		}
	}
}

func TestTierStringRoundTrip(t *testing.T) {
	for _, tier := range []Tier{{1280, 720, 30, 1_500_000}, {640, 360, 25, 500_000}, {320, 180, 30, 2_000_000}, {320, 180, 30, 123_456}} {
		got, err := ParseTiers(tier.String())
		if err != nil || len(got) != 1 || got[0] != tier {
			t.Errorf("ParseTiers(%q) = %v, %v; want %v", tier.String(), got, err, tier)
		}
	}
	if got := (Tier{FrameRate: 30}).RealTimeFPS(); got != 29 {
		t.Errorf("RealTimeFPS at 30 fps = %v, want 29", got)
	}
	if got := (Tier{FrameRate: 15}).RealTimeFPS(); got != 14.5 {
		t.Errorf("RealTimeFPS at 15 fps = %v, want 14.5", got)
	}
}

func TestParseCounts(t *testing.T) {
	got, err := ParseCounts("9, 2,4,4,25")
	if want := []int{2, 4, 9, 25}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseCounts = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "1", "2,x", "0"} {
		if got, err := ParseCounts(bad); err == nil {
			t.Errorf("ParseCounts(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name      string
		counts    []int
		step, max int
		held      []bool // the verdict fed back after each run
		want      []int
	}{
		{"list then growth to max", []int{2, 4}, 8, 20, []bool{true, true, true, true, true}, []int{2, 4, 12, 20}},
		{"stops at first failure in the list", []int{2, 4, 9}, 8, 40, []bool{true, false, true}, []int{2, 4}},
		{"stops at first failure while growing", []int{2}, 8, 40, []bool{true, true, false}, []int{2, 10, 18}},
		{"no growth with step 0", []int{2, 4}, 0, 40, []bool{true, true, true}, []int{2, 4}},
		{"list beyond max still runs", []int{2, 30}, 8, 10, []bool{true, true, true}, []int{2, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSchedule(tt.counts, tt.step, tt.max)
			var got []int
			held := false
			for n, ok := s.Next(held); ok; n, ok = s.Next(held) {
				got = append(got, n)
				if len(got) > len(tt.held) {
					t.Fatalf("schedule %v step %d max %d ran on: %v", tt.counts, tt.step, tt.max, got)
				}
				held = tt.held[len(got)-1]
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("schedule %v step %d max %d held %v = %v, want %v", tt.counts, tt.step, tt.max, tt.held, got, tt.want)
			}
		})
	}
}
