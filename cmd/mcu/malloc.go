package main

import (
	"os"
	"runtime/debug"
	"strings"
	"syscall"
)

// gcPercent is the Go collector's target (GOGC) unless the environment sets one: the heap may grow to
// 1.75 times what is live after a collection, not twice. At 41 participants (360p) the live heap is
// about 33 MB: the server's RSS averaged 206 MiB instead of 217 over six benchmark runs each, for
// about one more collection a second (each about 30 ms of CPU: 3.7 % of a core instead of 2.6).
const gcPercent = 75

// withGCPercent sets the collector's target to gcPercent unless getenv("GOGC") is set.
func withGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// mallocTunables make glibc give back the memory the cgo codecs (x264, libavcodec, libopus) free: blocks
// of 128 KiB and more are mmapped (and unmapped when freed) instead of carved from arenas whose
// thresholds glibc raises for good, and the per-thread caches are off (a block freed on another thread
// than the one that allocated it, which goroutines moving between threads make common, otherwise pins
// its arena's pages). Without them a churning server's RSS climbs by tens of MiB an hour of memory that
// is freed but kept (make soak -malloc default shows it); with them it stays flat.
const mallocTunables = "glibc.malloc.mmap_threshold=131072:glibc.malloc.tcache_count=0"

// noMallocTuneEnv, when set to anything, leaves glibc's defaults alone.
const noMallocTuneEnv = "MCU_GLIBC_DEFAULTS"

// withMallocTunables re-executes the server with mallocTunables in GLIBC_TUNABLES (glibc reads it only
// at start), unless it is there already, the environment sets malloc tunables of its own, or
// MCU_GLIBC_DEFAULTS is set. It returns only when it does not re-execute (or cannot).
func withMallocTunables() {
	env, ok := tunedEnv(os.Getenv)
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, replaceEnv(os.Environ(), env)) // on failure, go on with glibc's defaults
}

// replaceEnv returns environ with entry (KEY=value) in place of every entry for the same key.
func replaceEnv(environ []string, entry string) []string {
	key, _, _ := strings.Cut(entry, "=")
	out := make([]string, 0, len(environ)+1)
	for _, e := range environ {
		if k, _, _ := strings.Cut(e, "="); k != key {
			out = append(out, e)
		}
	}
	return append(out, entry)
}

// tunedEnv returns the GLIBC_TUNABLES=... entry to add to the environment, or false when none is needed.
func tunedEnv(getenv func(string) string) (string, bool) {
	cur := getenv("GLIBC_TUNABLES")
	if getenv(noMallocTuneEnv) != "" || strings.Contains(cur, "glibc.malloc.") {
		return "", false
	}
	if cur != "" {
		return "GLIBC_TUNABLES=" + cur + ":" + mallocTunables, true
	}
	return "GLIBC_TUNABLES=" + mallocTunables, true
}
