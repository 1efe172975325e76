package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 250 and stime 130 ticks (fields 14 and 15).
	stat := "4242 (mcu (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 130 0 0 20 0 12 0 5000 123456789 2500 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if want := 3800 * time.Millisecond; err != nil || got != want {
		t.Errorf("parseStatCPU = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "4242 mcu S 1", "4242 (mcu) S 1 2 3", "4242 (mcu) S 1 4242 4242 0 -1 4194560 1234 0 0 0 x 130 0"} {
		if got, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tmcu\nVmPeak:\t 2000000 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads:\t12\n"
	rss, peak, err := parseStatusRSS([]byte(status))
	if err != nil || rss != 40<<20 || peak != 80<<20 {
		t.Errorf("parseStatusRSS = %d, %d, %v; want %d, %d", rss, peak, err, 40<<20, 80<<20)
	}
	for _, bad := range []string{"Name:\tmcu\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q): want an error", bad)
		}
	}
}

// TestProcSelf reads this process's own figures: CPU time grows while it spins, never faster than the
// wall clock allows, and RSS is plausible.
func TestProcSelf(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	before, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var after time.Duration
	for after < before+100*time.Millisecond && time.Since(start) < 10*time.Second {
		for t0 := time.Now(); time.Since(t0) < 10*time.Millisecond; {
		}
		if after, err = procCPU("self"); err != nil {
			t.Fatal(err)
		}
	}
	// One spinning goroutine (plus a little GC) cannot use much more CPU than wall time.
	if d, wall := after-before, time.Since(start); d < 100*time.Millisecond || d > 2*wall+20*time.Millisecond {
		t.Errorf("spinning for %v used %v of CPU by /proc/%s/stat", wall, d, pid)
	}
	rss, peak, err := procRSS(pid)
	if err != nil || rss < 1<<20 || peak < rss {
		t.Errorf("procRSS = %d, %d, %v; want at least 1 MiB and peak >= rss", rss, peak, err)
	}
}

func TestParseMachineBusy(t *testing.T) {
	stat := "cpu  1000 50 300 90000 200 10 20 5 0 0\ncpu0 500 25 150 45000 100 5 10 2 0 0\nintr 1\n"
	got, err := parseMachineBusy([]byte(stat))
	if want := (1000 + 50 + 300 + 10 + 20 + 5) * 10 * time.Millisecond; err != nil || got != want {
		t.Errorf("parseMachineBusy = %v, %v; want %v (all but idle and iowait)", got, err, want)
	}
	if _, err := parseMachineBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Error("no cpu line: want an error")
	}
	if _, err := machineBusy(); err != nil {
		t.Error(err)
	}
}
