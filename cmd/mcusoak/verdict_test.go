package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// shares is one made-up sample: goroutines and the RSS's shares in MiB.
type shares struct {
	goroutines               int
	live, kept, nonGo, files float64
}

// sampleOf builds the Sample whose accessors return s's shares: HeapAlloc = live, GoKept = kept,
// NonGo = nonGo, RSSFile = files, with 4 MiB of heap released to the OS.
func sampleOf(cycle int, s shares) Sample {
	b := func(m float64) int64 { return int64(m * (1 << 20)) }
	released := b(4)
	mem := MemStats{HeapAlloc: b(s.live), HeapInuse: b(s.live) + b(0.5), HeapIdle: released + b(1),
		HeapReleased: released, Sys: b(s.live) + b(s.kept) + released}
	mem.HeapSys = mem.HeapInuse + mem.HeapIdle
	anon := mem.GoResident() + b(s.nonGo)
	return Sample{Cycle: cycle, Goroutines: s.goroutines, Mem: mem,
		Proc: ProcMem{RSS: anon + b(s.files), RSSAnon: anon, RSSFile: b(s.files), Threads: 12}}
}

// series makes samples for cycles 0..n, cycle 0 being the idle server.
func series(n int, f func(c int) shares) []Sample {
	out := make([]Sample, n+1)
	for c := range out {
		out[c] = sampleOf(c, f(c))
	}
	return out
}

// idleShares and warmShares are those of the idle server and of a warmed-up one, like the real server's.
func idleShares() shares { return shares{goroutines: 8, live: 0.4, kept: 8, nonGo: 0, files: 26} }
func warmShares() shares { return shares{goroutines: 9, live: 0.6, kept: 18, nonGo: 60, files: 32} }

// noise is a deterministic wobble of about ±amp.
func noise(c int, amp float64) float64 { return amp * math.Sin(float64(c)*2.3) }

func TestJudge(t *testing.T) {
	limits := Limits{Warmup: 3, GoroutineSlack: 0, HeapRate: 0.2 * (1 << 20), HeapFloor: 2 * (1 << 20),
		RSSRate: 0.0625 * (1 << 20), RSSFloor: 8 * (1 << 20)}
	// warm returns the warmed-up shares with f applied after the warm-up, the idle ones at cycle 0.
	warm := func(f func(c int, s *shares)) func(int) shares {
		return func(c int) shares {
			if c == 0 {
				return idleShares()
			}
			s := warmShares()
			s.live += noise(c, 0.3)
			s.kept += noise(c+1, 2)
			s.nonGo += noise(c+2, 3)
			if f != nil && c > limits.Warmup {
				f(c-limits.Warmup, &s)
			}
			return s
		}
	}
	tests := []struct {
		name    string
		samples []Sample
		pass    bool
		want    string // in a failure when !pass, in a finding when pass
	}{
		{"flat", series(20, warm(nil)), true, "RSS levels off"},
		{"fewer goroutines than the baseline", series(20, warm(func(c int, s *shares) { s.goroutines = 8 })), true,
			"goroutines return to 9"},
		{"a goroutine leaked per cycle", series(20, warm(func(c int, s *shares) { s.goroutines += c })), false,
			"goroutines do not return to the baseline of 9"},
		{"one goroutine left over once", series(20, warm(func(c int, s *shares) {
			if c == 7 {
				s.goroutines++
			}
		})), false, "10 after cycle 10"},
		{"heap leak of 1 MiB per cycle", series(20, warm(func(c int, s *shares) { s.live += float64(c) })), false,
			"the Go heap after GC grows: +17.0 MiB over 17 cycles"},
		{"heap leak below the rate", series(20, warm(func(c int, s *shares) { s.live += 0.05 * float64(c) })), true,
			"the Go heap after GC is flat"},
		{"heap noise in a short run", series(6, warm(func(c int, s *shares) { s.live += float64(c % 2) })), true,
			"the Go heap after GC is flat"},
		{"non-Go memory levels off after warm-up", series(20, warm(func(c int, s *shares) { s.nonGo += 5 * float64(min(c, 5)) })),
			true, "RSS levels off"},
		{"non-Go memory grows 2 MiB per cycle", series(20, warm(func(c int, s *shares) { s.nonGo += 2 * float64(c) })), false,
			"non-Go memory still grows at the end"},
		{"Go keeps more pages, heap flat", series(20, warm(func(c int, s *shares) { s.kept += 2 * float64(c) })), true,
			"pages the Go runtime keeps while the live heap is flat"},
		{"too few cycles", series(5, warm(nil)), false, "only 2 cycles after the 3 of warm-up"},
		{"stopped during warm-up", series(2, warm(nil)), false, "no sample after the warm-up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.samples, limits)
			text := strings.Join(v.Failures, "\n")
			if tt.pass {
				text = strings.Join(v.Findings, "\n")
			}
			if v.Pass != tt.pass || v.Pass != (len(v.Failures) == 0) || !strings.Contains(text, tt.want) {
				t.Errorf("judge(%s) = pass %v\nfailures:\n%s\nfindings:\n%s\nwant pass %v and %q",
					describe(tt.samples), v.Pass, strings.Join(v.Failures, "\n"), strings.Join(v.Findings, "\n"), tt.pass, tt.want)
			}
		})
	}
}

func TestJudgeCReleased(t *testing.T) {
	// With glibc releasing freed memory, growth of the non-Go share is a C leak; a plateau still passes.
	limits := Limits{Warmup: 3, HeapRate: 0.2 * (1 << 20), HeapFloor: 2 * (1 << 20), RSSRate: 0.0625 * (1 << 20),
		RSSFloor: 8 * (1 << 20), CReleased: true}
	withNonGo := func(extra func(c int) float64) func(int) shares {
		return func(c int) shares {
			if c == 0 {
				return idleShares()
			}
			s := warmShares()
			s.nonGo = 4 + noise(c, 1.5) + extra(c)
			return s
		}
	}
	leak := judge(series(30, withNonGo(func(c int) float64 { return 0.5 * float64(c) })), limits)
	if leak.Pass || !strings.Contains(strings.Join(leak.Failures, "\n"), "C memory leaks") {
		t.Errorf("non-Go +0.5 MiB per cycle: pass %v, failures %q; want a C leak", leak.Pass, leak.Failures)
	}
	flat := judge(series(30, withNonGo(func(c int) float64 { return 3 * float64(min(c, 8)) })), limits)
	if !flat.Pass || slices.ContainsFunc(flat.Findings, func(f string) bool { return strings.Contains(f, "-malloc default") }) {
		t.Errorf("non-Go levelling off by cycle 8: pass %v, failures %q, findings %q; want a pass", flat.Pass, flat.Failures, flat.Findings)
	}
}

func TestJudgeNamesTheShareThatGrew(t *testing.T) {
	// Warm-up: the C share grows by 40 MiB; after it, Go's kept pages by 3 MiB.
	samples := series(10, func(c int) shares {
		s := warmShares()
		switch {
		case c == 0:
			return idleShares()
		case c > 3:
			s.kept += 3
		}
		return s
	})
	v := judge(samples, Limits{Warmup: 3, HeapRate: 1 << 20, HeapFloor: 1 << 20, RSSRate: 1 << 20, RSSFloor: 1 << 20})
	text := strings.Join(v.Findings, "\n")
	for _, want := range []string{"during warm-up (cycles 1-3), mostly non-Go memory", "(+60.0 MiB)",
		"+3.0 MiB after it, mostly pages the Go runtime keeps"} {
		if !strings.Contains(text, want) {
			t.Errorf("findings:\n%s\nwant %q", text, want)
		}
	}
}

func TestFitTrend(t *testing.T) {
	line := series(10, func(c int) shares { return shares{live: 3 + 0.5*float64(c)} })
	got := fitTrend(line[2:], func(s Sample) int64 { return s.Mem.HeapAlloc })
	if mb := 1.0 * (1 << 20); math.Abs(got.slope-0.5*mb) > 1 || math.Abs(got.growth-4*mb) > 8 {
		t.Errorf("fitTrend(3 + 0.5c MiB, cycles 2-10) = %+v, want slope 0.5 MiB and growth 4 MiB", got)
	}
	if got := fitTrend(line[:1], func(s Sample) int64 { return s.Mem.HeapAlloc }); got != (trend{}) {
		t.Errorf("fitTrend of one sample = %+v, want zero", got)
	}
}

// describe abbreviates samples for a failure message: cycle:goroutines/live/non-Go MiB.
func describe(ss []Sample) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "%d:%d/%.1f/%.1f ", s.Cycle, s.Goroutines, float64(s.Mem.HeapAlloc)/(1<<20), float64(s.NonGo())/(1<<20))
	}
	return b.String()
}
