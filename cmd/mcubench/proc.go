package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on every Linux architecture Go runs on).
const userHZ = 100

// procCPU returns the CPU time (user + system) process pid has used so far, from /proc/PID/stat; "self"
// works too. It includes the threads that have exited but not children.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime + stime (fields 14 and 15) from the text of /proc/PID/stat. The command name
// (field 2) is in parentheses and may itself contain spaces and parentheses, so fields are counted from
// the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command name in %q", truncate(string(stat), 80))
	}
	// After ")": field 3 (state) is fields[0], so field k is fields[k-3].
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[14-3 : 15-3+1] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: cpu time %q: %w", f, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procRSS returns the resident set size and its peak (VmRSS and VmHWM) of process pid, in bytes.
func procRSS(pid string) (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, err
	}
	return parseStatusRSS(b)
}

// parseStatusRSS reads VmRSS and VmHWM (in kB) from the text of /proc/PID/status.
func parseStatusRSS(status []byte) (rss, peak int64, err error) {
	var haveRSS bool
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("proc status: %s %q: want N kB", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("proc status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss, haveRSS = kb*1024, true
		} else {
			peak = kb * 1024
		}
	}
	if !haveRSS {
		return 0, 0, fmt.Errorf("proc status: no VmRSS line")
	}
	return rss, peak, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// machineBusy returns the CPU time all processors have spent not idle since boot, from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(b)
}

// parseMachineBusy reads the first "cpu" line of /proc/stat (user nice system idle iowait irq softirq
// steal ..., in USER_HZ) and returns the time that was neither idle nor iowait. Steal counts as busy: a
// processor the hypervisor gave to someone else was not ours to use either.
func parseMachineBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("proc stat: first line %q: want the cpu totals", truncate(string(line), 80))
	}
	var busy uint64
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal; guest is within user
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: cpu field %d %q: %w", i+1, s, err)
		}
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}
