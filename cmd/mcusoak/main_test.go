package main

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatalf("parseFlags() = %v", err)
	}
	if o.set.Duration != 3*time.Minute || o.set.Bots != 4 || o.set.Rooms != 1 || o.set.Limits.Warmup != 3 ||
		o.set.Limits.HeapRate != 0.2*(1<<20) || o.set.Limits.RSSFloor != 8*(1<<20) {
		t.Errorf("defaults = %+v", o.set)
	}
	o, err = parseFlags([]string{"-server-env", "MALLOC_ARENA_MAX=2", "-server-env", "GODEBUG=madvdontneed=1",
		"-server-args", "-canvas 1280x720 -tiers sd:640x360@30:500k", "-bots", "9"})
	if err != nil {
		t.Fatalf("parseFlags(env, args) = %v", err)
	}
	if want := []string{"MALLOC_ARENA_MAX=2", "GODEBUG=madvdontneed=1"}; !slices.Equal(o.serverEnv, want) {
		t.Errorf("-server-env twice = %q, want %q", o.serverEnv, want)
	}
	// The user's flags come last, so that they override the soak's.
	if a := serverFlags(o); !slices.Equal(a[len(a)-4:], []string{"-canvas", "1280x720", "-tiers", "sd:640x360@30:500k"}) {
		t.Errorf("serverFlags = %q: want -server-args at the end", a)
	}

	if env := serverEnv(o); !slices.Equal(env, []string{"GLIBC_TUNABLES=" + glibcTunables, "MALLOC_ARENA_MAX=2", "GODEBUG=madvdontneed=1"}) {
		t.Errorf("serverEnv = %q: want the tunables of -malloc release, then -server-env", env)
	}
	if o, err := parseFlags([]string{"-malloc", "default"}); err != nil ||
		!slices.Equal(serverEnv(o), []string{"MCU_GLIBC_DEFAULTS=1"}) || o.set.Limits.CReleased {
		t.Errorf("-malloc default: env %q, CReleased %v, err %v; want glibc's defaults kept", serverEnv(o), o.set.Limits.CReleased, err)
	}

	for _, args := range [][]string{
		{"-bots", "0"}, {"-cycle", "0s"}, {"-warmup", "-1"}, {"-server-env", "NOEQUALS"}, {"extra"}, {"-nosuchflag"}, {"-malloc", "jemalloc"},
	} {
		var u usageError
		if _, err := parseFlags(args); !errors.As(err, &u) {
			t.Errorf("parseFlags(%q) = %v, want a usage error", args, err)
		}
	}
}
