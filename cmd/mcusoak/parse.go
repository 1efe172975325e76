package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The parsers of what the soak reads from the server: /metrics, the goroutine and heap profiles of
// /debug/pprof, and /proc/PID/status. They are pure functions of the text.

// Occupancy is the server's mcu_rooms and mcu_participants gauges.
type Occupancy struct {
	Rooms, Participants int
}

// parseOccupancy reads mcu_rooms and mcu_participants from /metrics text; both must be present.
func parseOccupancy(r io.Reader) (Occupancy, error) {
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(r)
	if err != nil {
		return Occupancy{}, fmt.Errorf("parse metrics: %w", err)
	}
	gauge := func(name string) (int, error) {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge() == nil {
			return 0, fmt.Errorf("parse metrics: want one gauge %s", name)
		}
		return int(f.GetMetric()[0].GetGauge().GetValue()), nil
	}
	var o Occupancy
	if o.Rooms, err = gauge("mcu_rooms"); err != nil {
		return o, err
	}
	o.Participants, err = gauge("mcu_participants")
	return o, err
}

// parseGoroutineTotal reads N from the first line of /debug/pprof/goroutine?debug=1, "goroutine
// profile: total N".
func parseGoroutineTotal(r io.Reader) (int, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile: first line %q: want \"goroutine profile: total N\"", line)
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: total %q: %w", rest, err)
	}
	return n, nil
}

// MemStats are the fields of runtime.MemStats the soak uses, in bytes.
type MemStats struct {
	// HeapAlloc is the bytes of live heap objects (right after a GC: what survived it).
	HeapAlloc int64
	// HeapInuse is the bytes in heap spans holding at least one object; HeapInuse-HeapAlloc is
	// fragmentation inside those spans.
	HeapInuse int64
	// HeapIdle is the bytes in spans with no object; HeapReleased the part of it returned to the OS.
	// HeapIdle-HeapReleased is freed heap the runtime keeps, still resident.
	HeapIdle, HeapReleased int64
	// HeapSys is the heap's share of Sys.
	HeapSys int64
	// Sys is everything the Go runtime has mapped (heap, stacks, its own metadata), released pages
	// included.
	Sys int64
}

// GoResident is the most of the process's anonymous memory Go can account for: everything it mapped
// but what it returned to the OS.
func (m MemStats) GoResident() int64 { return m.Sys - m.HeapReleased }

// parseMemStats reads the "# runtime.MemStats" section that /debug/pprof/heap?debug=1 appends to the
// profile ("# HeapAlloc = 455744" and so on). Every field of MemStats must be present.
func parseMemStats(r io.Reader) (MemStats, error) {
	var m MemStats
	fields := map[string]*int64{"HeapAlloc": &m.HeapAlloc, "HeapInuse": &m.HeapInuse, "HeapIdle": &m.HeapIdle,
		"HeapReleased": &m.HeapReleased, "HeapSys": &m.HeapSys, "Sys": &m.Sys}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20) // PauseNs and PauseEnd are long lines
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		p := fields[key]
		if !ok || p == nil {
			continue
		}
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return m, fmt.Errorf("heap profile: %s %q: %w", key, val, err)
		}
		*p = v
		delete(fields, key)
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("heap profile: %w", err)
	}
	if len(fields) > 0 {
		missing := make([]string, 0, len(fields))
		for k := range fields {
			missing = append(missing, k)
		}
		return m, fmt.Errorf("heap profile: runtime.MemStats without %s (was it fetched with debug=1?)",
			strings.Join(missing, ", "))
	}
	return m, nil
}

// ProcMem is the process's memory and thread count as the kernel sees it, from /proc/PID/status.
type ProcMem struct {
	// RSS is VmRSS: resident bytes; RSSAnon and RSSFile its anonymous (heaps, stacks) and file-backed
	// (the binary and shared libraries) parts.
	RSS, RSSAnon, RSSFile int64
	// Threads is the number of OS threads (Go's Ms and C threads such as x264's).
	Threads int
}

// parseProcStatus reads VmRSS, RssAnon, RssFile (in kB) and Threads from the text of /proc/PID/status.
func parseProcStatus(status []byte) (ProcMem, error) {
	var p ProcMem
	want := map[string]*int64{"VmRSS": &p.RSS, "RssAnon": &p.RSSAnon, "RssFile": &p.RSSFile}
	threads := false
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if key == "Threads" && len(f) == 1 {
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return p, fmt.Errorf("proc status: Threads: %w", err)
			}
			p.Threads, threads = n, true
			continue
		}
		dst := want[key]
		if dst == nil {
			continue
		}
		if len(f) != 2 || f[1] != "kB" {
			return p, fmt.Errorf("proc status: %s %q: want N kB", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return p, fmt.Errorf("proc status: %s: %w", key, err)
		}
		*dst = kb << 10
		delete(want, key)
	}
	if len(want) > 0 || !threads {
		return p, fmt.Errorf("proc status: want VmRSS, RssAnon, RssFile and Threads")
	}
	return p, nil
}
