package main

import (
	"fmt"
	"io"
	"time"
)

// header is the column legend of the per-cycle lines. Memory is in MiB: live, inuse, idle and released
// are the Go heap's HeapAlloc, HeapInuse, HeapIdle and HeapReleased right after a GC; go-sys is all Go
// has mapped (Sys); rss is VmRSS, anon and file its RssAnon and RssFile; non-go is anon - (go-sys -
// released), the resident memory Go does not account for: C, through cgo.
const header = "cycle    time  gorout thr    live   inuse    idle released  go-sys     rss    anon    file  non-go"

// writeHeader prints the legend and the column names.
func writeHeader(w io.Writer) {
	fmt.Fprintln(w, "# after each cycle: every participant gone, goroutines settled, GC run; memory in MiB;")
	fmt.Fprintln(w, "# live/inuse/idle/released: Go heap; go-sys: all Go mapped; rss = anon + file; non-go = anon - (go-sys - released)")
	fmt.Fprintln(w, header)
}

// writeSample prints one sample as a line under header.
func writeSample(w io.Writer, s Sample) {
	m := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "%5d %7s %7d %3d %7.1f %7.1f %7.1f %8.1f %7.1f %7.1f %7.1f %7.1f %7.1f\n",
		s.Cycle, s.At.Round(time.Second), s.Goroutines, s.Proc.Threads, m(s.Mem.HeapAlloc), m(s.Mem.HeapInuse),
		m(s.Mem.HeapIdle), m(s.Mem.HeapReleased), m(s.Mem.Sys), m(s.Proc.RSS), m(s.Proc.RSSAnon), m(s.Proc.RSSFile),
		m(s.NonGo()))
}

// writeSummary prints where the RSS went (idle, after warm-up, at the end) and the verdict.
func writeSummary(w io.Writer, samples []Sample, warmup int, v Verdict) {
	if len(samples) > 0 {
		cols := []Sample{samples[0]}
		for _, s := range samples {
			if s.Cycle == warmup && warmup > 0 {
				cols = append(cols, s)
			}
		}
		if last := samples[len(samples)-1]; last.Cycle > cols[len(cols)-1].Cycle {
			cols = append(cols, last)
		}
		fmt.Fprintln(w)
		fmt.Fprint(w, "RSS share, MiB      ")
		for _, c := range cols {
			fmt.Fprintf(w, " %9s", fmt.Sprintf("cycle %d", c.Cycle))
		}
		fmt.Fprintln(w)
		short := []string{"Go live heap", "Go kept pages", "non-Go (C)", "file-backed"}
		for i, p := range rssParts() {
			fmt.Fprintf(w, "%-20s", short[i])
			for _, c := range cols {
				fmt.Fprintf(w, " %9.1f", float64(p.of(c))/(1<<20))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w)
	for _, f := range v.Findings {
		fmt.Fprintln(w, "- "+f)
	}
	for _, f := range v.Failures {
		fmt.Fprintln(w, "FAIL: "+f)
	}
	if v.Pass {
		fmt.Fprintln(w, "PASS")
	}
}
