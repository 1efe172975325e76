package main

import (
	"fmt"
	"slices"
	"strings"
)

// Limits are the thresholds of the verdict. Plain data.
type Limits struct {
	// Warmup is the number of cycles not judged: the sample after cycle Warmup is the baseline (the
	// idle server before the first cycle when Warmup is 0).
	Warmup int
	// GoroutineSlack is how many goroutines above the baseline a judged cycle may end with.
	GoroutineSlack int
	// HeapRate is in bytes per cycle and HeapFloor in bytes: the live Go heap after GC fails when the
	// slope of a line fitted over the judged cycles exceeds HeapRate and its growth over them exceeds
	// HeapFloor (so that noise in a short run passes).
	HeapRate, HeapFloor float64
	// RSSRate and RSSFloor are the same test for the non-Go part of the RSS, fitted over the second half
	// of the judged cycles only: memory that grows and then levels off (glibc arenas reaching their
	// working size) passes; memory that still grows at the end fails.
	RSSRate, RSSFloor float64
	// CReleased says that the server ran with glibcTunables: glibc returned freed C memory, so the
	// non-Go part of the RSS is C memory in use and its growth a leak. Without them it also holds freed
	// memory glibc keeps, and growth is either.
	CReleased bool
}

// glibcTunables make glibc return freed C memory to the OS: a fixed mmap threshold (large blocks are
// mapped and unmapped, and arenas trim their top at 128 KiB free) and no per-thread cache (a chunk freed
// on another thread than it was allocated on goes back to its arena instead of that thread's cache,
// where it pins the arena's pages). Without them, cgo calls that hop between threads fragment glibc's
// arenas and the RSS climbs.
const glibcTunables = "glibc.malloc.mmap_threshold=131072:glibc.malloc.tcache_count=0"

// minJudged is the fewest samples, the baseline included, that a verdict needs.
const minJudged = 4

// Verdict is the outcome of a soak. Plain data.
type Verdict struct {
	// Pass is true when Failures is empty.
	Pass bool
	// Failures say what grew; Findings say what the memory did and why, pass or fail.
	Failures, Findings []string
}

// part is one share of the RSS.
type part struct {
	name string
	of   func(Sample) int64
}

// rssParts splits the RSS into shares that add up to it (less shared memory, none here).
func rssParts() []part {
	return []part{
		{"the Go live heap", func(s Sample) int64 { return s.Mem.HeapAlloc }},
		{"pages the Go runtime keeps (freed heap not returned to the OS, fragmentation, stacks, metadata)", Sample.GoKept},
		{"non-Go memory (C allocations through cgo, held in glibc's malloc arenas; C thread stacks)", Sample.NonGo},
		{"file-backed pages (code of the binary and shared libraries)", func(s Sample) int64 { return s.Proc.RSSFile }},
	}
}

// trend is a least-squares line through a series: its slope per cycle, and its rise over the series.
type trend struct{ slope, growth float64 }

// fitTrend fits f of the samples against their cycle numbers.
func fitTrend(ss []Sample, f func(Sample) int64) trend {
	if len(ss) < 2 {
		return trend{}
	}
	n := float64(len(ss))
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := float64(s.Cycle), float64(f(s))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return trend{}
	}
	slope := (n*sxy - sx*sy) / den
	return trend{slope: slope, growth: slope * float64(ss[len(ss)-1].Cycle-ss[0].Cycle)}
}

// judge decides whether the samples (one per cycle, in order, the idle start first) show a leak.
func judge(samples []Sample, l Limits) (v Verdict) {
	fail := func(format string, a ...any) { v.Failures = append(v.Failures, fmt.Sprintf(format, a...)) }
	note := func(format string, a ...any) { v.Findings = append(v.Findings, fmt.Sprintf(format, a...)) }
	defer func() { v.Pass = len(v.Failures) == 0 }()

	b := slices.IndexFunc(samples, func(s Sample) bool { return s.Cycle == l.Warmup })
	if b < 0 {
		fail("no sample after the warm-up (cycle %d): the soak ended early", l.Warmup)
		return v
	}
	base, judged := samples[b], samples[b:]
	if len(judged) < minJudged {
		fail("only %d cycles after the %d of warm-up: at least %d are needed to judge (raise -duration or -cycles, or lower -warmup)",
			len(judged)-1, l.Warmup, minJudged-1)
	}

	// Goroutines: back to the baseline after every cycle.
	var over []string
	most := base.Goroutines
	for _, s := range judged[1:] {
		if s.Goroutines > base.Goroutines+l.GoroutineSlack {
			over = append(over, fmt.Sprintf("%d after cycle %d", s.Goroutines, s.Cycle))
		}
		most = max(most, s.Goroutines)
	}
	if len(over) > 0 {
		fail("goroutines do not return to the baseline of %d (after cycle %d, slack %d): %s", base.Goroutines,
			base.Cycle, l.GoroutineSlack, strings.Join(over, ", "))
	} else {
		note("goroutines return to %d or fewer after every cycle (baseline %d after cycle %d)", most, base.Goroutines, base.Cycle)
	}
	if len(judged) < 2 {
		return v
	}

	// The live Go heap after GC: no trend after warm-up.
	heap := fitTrend(judged, func(s Sample) int64 { return s.Mem.HeapAlloc })
	last := judged[len(judged)-1]
	cycles := last.Cycle - base.Cycle
	if heap.slope > l.HeapRate && heap.growth > l.HeapFloor {
		fail("the Go heap after GC grows: %s over %d cycles (%s per cycle; limits %s per cycle and %s in all): objects stay reachable after their participants left; see the heap profiles",
			mib(heap.growth), cycles, kib(heap.slope), kib(l.HeapRate), mib(l.HeapFloor))
	} else {
		note("the Go heap after GC is flat: %s to %s MiB, fitted %s over %d cycles",
			mibs(base.Mem.HeapAlloc), mibs(last.Mem.HeapAlloc), mib(heap.growth), cycles)
	}

	// The RSS: which share grew during warm-up and after it, and whether the non-Go share still grows.
	first := samples[0]
	note("RSS grew %s during warm-up (cycles 1-%d), mostly %s; %s after it, mostly %s",
		mib(float64(base.Proc.RSS-first.Proc.RSS)), base.Cycle, largest(first, base),
		mib(float64(last.Proc.RSS-base.Proc.RSS)), largest(base, last))
	late := judged
	if len(judged) >= 6 {
		late = judged[len(judged)/2:]
	}
	span := float64(cycles)
	rss, nonGo, kept := fitTrend(late, func(s Sample) int64 { return s.Proc.RSS }), fitTrend(late, Sample.NonGo), fitTrend(late, Sample.GoKept)
	growing := func(t trend) bool { return t.slope > l.RSSRate && t.slope*span > l.RSSFloor }
	lateCycles := fmt.Sprintf("cycles %d-%d", late[0].Cycle, last.Cycle)
	switch {
	case growing(nonGo) && l.CReleased:
		fail("C memory leaks: non-Go memory still grows at the end, %s per cycle over %s (limit %s per cycle and %s over the run), "+
			"and glibc returns freed memory in this run (-malloc release), so this is memory allocated through cgo and never freed: "+
			"a codec object (x264, libavcodec, libopus, libvpx) not closed, or a C buffer not freed",
			kib(nonGo.slope), lateCycles, kib(l.RSSRate), mib(l.RSSFloor))
	case growing(nonGo):
		fail("non-Go memory still grows at the end: %s per cycle over %s (limit %s per cycle and %s over the run). "+
			"With glibc's default settings (-malloc default) C memory that was freed but that glibc keeps in its arenas "+
			"looks the same as C memory never freed; rerun with -malloc release to tell them apart",
			kib(nonGo.slope), lateCycles, kib(l.RSSRate), mib(l.RSSFloor))
	case growing(rss) && growing(kept):
		note("RSS still grows at the end (%s per cycle over %s), in pages the Go runtime keeps while the live heap is flat: retained, not leaked (the scavenger returns idle pages gradually)",
			kib(rss.slope), lateCycles)
	case growing(rss):
		note("RSS still grows at the end (%s per cycle over %s), in none of the shares above the limits: mixed small growth", kib(rss.slope), lateCycles)
	default:
		note("RSS levels off: %s per cycle over %s", kib(rss.slope), lateCycles)
	}
	if !l.CReleased {
		note("glibc ran with its default settings (-malloc default): non-Go memory includes freed C memory glibc keeps in its malloc arenas")
	}
	return v
}

// largest names the share of the RSS that grew most from a to b.
func largest(a, b Sample) string {
	best, name := int64(0), "none"
	for _, p := range rssParts() {
		if d := p.of(b) - p.of(a); d > best {
			best, name = d, fmt.Sprintf("%s (%s)", p.name, mib(float64(d)))
		}
	}
	return name
}

// mib formats a signed byte count in MiB; mibs an unsigned one without the unit; kib in KiB.
func mib(b float64) string { return fmt.Sprintf("%+.1f MiB", b/(1<<20)) }
func mibs(b int64) string  { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%+.0f KiB", b/(1<<10)) }
