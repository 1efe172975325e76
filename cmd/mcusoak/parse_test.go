package main

import (
	"strings"
	"testing"
)

func TestParseOccupancy(t *testing.T) {
	tests := []struct {
		name, text string
		want       Occupancy
		wantErr    bool
	}{
		{"idle", "# TYPE mcu_rooms gauge\nmcu_rooms 0\n# TYPE mcu_participants gauge\nmcu_participants 0\n" +
			"# TYPE go_goroutines gauge\ngo_goroutines 11\n", Occupancy{}, false},
		{"busy", "# TYPE mcu_participants gauge\nmcu_participants 8\n# TYPE mcu_rooms gauge\nmcu_rooms 2\n",
			Occupancy{Rooms: 2, Participants: 8}, false},
		{"no rooms", "# TYPE mcu_participants gauge\nmcu_participants 8\n", Occupancy{}, true},
		{"not text format", "mcu_rooms{", Occupancy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOccupancy(strings.NewReader(tt.text))
			if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
				t.Errorf("parseOccupancy(%q) = %+v, %v; want %+v, error %v", tt.text, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseGoroutineTotal(t *testing.T) {
	tests := []struct {
		text    string
		want    int
		wantErr bool
	}{
		{"goroutine profile: total 9\n2 @ 0x48dbee 0x44f357\n#\t0x48cdc4\tinternal/poll.runtime_pollWait+0x84\n", 9, false},
		{"goroutine profile: total 1234", 1234, false},
		{"goroutine 1 [running]:\nmain.main()\n", 0, true}, // debug=2, not debug=1
		{"goroutine profile: total many\n", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseGoroutineTotal(strings.NewReader(tt.text))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseGoroutineTotal(%q) = %d, %v; want %d, error %v", tt.text, got, err, tt.want, tt.wantErr)
		}
	}
}

// heapDebug1 is the end of /debug/pprof/heap?gc=1&debug=1 from the real server (pause lists shortened).
const heapDebug1 = `heap profile: 3: 9632 [7: 30944] @ heap/1048576
1: 8192 [1: 8192] @ 0x4b2f9e 0x4b2f7a 0x48d4c5 0x495561
#	0x4b2f9d	runtime/pprof.StartCPUProfile+0x7d	/usr/local/go/src/runtime/pprof/pprof.go:899


# runtime.MemStats
# Alloc = 455744
# TotalAlloc = 729672
# Sys = 12613896
# Lookups = 0
# Mallocs = 4274
# Frees = 1932
# HeapAlloc = 455744
# HeapSys = 7995392
# HeapIdle = 6676480
# HeapInuse = 1318912
# HeapReleased = 6324224
# HeapObjects = 2342
# Stack = 393216 / 393216
# MSpan = 34560 / 48960
# PauseNs = [59006 0 0 0]
# NumGC = 1
# MaxRSS = 32083968
`

func TestParseMemStats(t *testing.T) {
	got, err := parseMemStats(strings.NewReader(heapDebug1))
	want := MemStats{HeapAlloc: 455744, HeapInuse: 1318912, HeapIdle: 6676480, HeapReleased: 6324224,
		HeapSys: 7995392, Sys: 12613896}
	if err != nil || got != want {
		t.Fatalf("parseMemStats = %+v, %v; want %+v", got, err, want)
	}
	if r := got.GoResident(); r != 12613896-6324224 {
		t.Errorf("GoResident = %d, want Sys - HeapReleased = %d", r, 12613896-6324224)
	}

	// The binary profile (debug=0) has no MemStats section.
	if _, err := parseMemStats(strings.NewReader("\x1f\x8b\x08\x00binary")); err == nil {
		t.Error("parseMemStats of a gzipped profile: no error")
	}
	bad := strings.Replace(heapDebug1, "# HeapIdle = 6676480", "# HeapIdle = lots", 1)
	if _, err := parseMemStats(strings.NewReader(bad)); err == nil {
		t.Errorf("parseMemStats with HeapIdle = lots: no error")
	}
}

// procStatus is the memory part of a real /proc/PID/status of the server.
const procStatus = `Name:	mcu
Umask:	0022
State:	S (sleeping)
VmPeak:	 1944464 kB
VmHWM:	   32316 kB
VmRSS:	   32316 kB
RssAnon:	    6108 kB
RssFile:	   26208 kB
RssShmem:	       0 kB
VmData:	  158292 kB
Threads:	7
SigQ:	0/96217
`

func TestParseProcStatus(t *testing.T) {
	got, err := parseProcStatus([]byte(procStatus))
	want := ProcMem{RSS: 32316 << 10, RSSAnon: 6108 << 10, RSSFile: 26208 << 10, Threads: 7}
	if err != nil || got != want {
		t.Fatalf("parseProcStatus = %+v, %v; want %+v", got, err, want)
	}
	for _, tt := range []struct{ name, text string }{
		{"no RssAnon", strings.Replace(procStatus, "RssAnon:", "Other:", 1)},
		{"no Threads", strings.Replace(procStatus, "Threads:", "Other:", 1)},
		{"pages, not kB", strings.Replace(procStatus, "32316 kB\nRssAnon", "32316 pages\nRssAnon", 1)},
	} {
		if got, err := parseProcStatus([]byte(tt.text)); err == nil {
			t.Errorf("%s: parseProcStatus = %+v, want an error", tt.name, got)
		}
	}
}
