package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTunedEnv(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "GLIBC_TUNABLES=" + mallocTunables},
		{map[string]string{"GLIBC_TUNABLES": "glibc.rtld.nns=2"}, "GLIBC_TUNABLES=glibc.rtld.nns=2:" + mallocTunables},
		{map[string]string{"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, ""},
		{map[string]string{"MCU_GLIBC_DEFAULTS": "1"}, ""},
	} {
		got, ok := tunedEnv(func(k string) string { return c.env[k] })
		if got != c.want || ok != (c.want != "") {
			t.Errorf("env %v: %q %t, want %q", c.env, got, ok, c.want)
		}
	}
}

func TestReplaceEnv(t *testing.T) {
	got := replaceEnv([]string{"A=1", "GLIBC_TUNABLES=", "B=2", "GLIBC_TUNABLES=x"}, "GLIBC_TUNABLES=y")
	if want := []string{"A=1", "B=2", "GLIBC_TUNABLES=y"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestServerSetsMallocTunables: the server binary re-executes itself with the tunables in its
// environment (read from /proc while it runs). Some glibc versions parse GLIBC_TUNABLES in place,
// ending each tunable with a NUL where the ':' was, so the tunables are looked for one by one in the
// environment's single GLIBC_TUNABLES entry and what follows it.
func TestServerSetsMallocTunables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "mcu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-http", "127.0.0.1:0", "-sip-port", "0", "-turn-port", "0", "-ice-tcp-port", "0", "-log-level", "error")
	cmd.Env = append(os.Environ(), "GLIBC_TUNABLES=", "MCU_GLIBC_DEFAULTS=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var env string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "environ"))
		env = string(b)
		if err == nil && hasTunables(env) {
			return
		}
	}
	t.Errorf("the server's environment has no %s: %q", mallocTunables, strings.ReplaceAll(env, "\x00", " "))
}

// hasTunables reports whether environ (NUL-separated, as in /proc/PID/environ) has exactly one
// GLIBC_TUNABLES entry and every one of mallocTunables in it, separated by ':' or by NULs.
func hasTunables(environ string) bool {
	if strings.Count("\x00"+environ, "\x00GLIBC_TUNABLES=") != 1 {
		return false
	}
	_, rest, _ := strings.Cut("\x00"+environ, "\x00GLIBC_TUNABLES=")
	for _, tun := range strings.Split(mallocTunables, ":") {
		i := strings.Index(rest, tun)
		if i < 0 {
			return false
		}
		rest = rest[i+len(tun):]
	}
	return true
}

func TestHasTunables(t *testing.T) {
	nul := strings.ReplaceAll(mallocTunables, ":", "\x00")
	for env, want := range map[string]bool{
		"A=1\x00GLIBC_TUNABLES=" + mallocTunables + "\x00B=2":             true,
		"GLIBC_TUNABLES=" + nul + "\x00B=2":                               true, // parsed in place by glibc
		"A=1\x00GLIBC_TUNABLES=\x00GLIBC_TUNABLES=" + mallocTunables:      false,
		"A=1\x00GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072\x00B=2": false,
		"A=1\x00B=" + mallocTunables:                                      false,
	} {
		if got := hasTunables(env); got != want {
			t.Errorf("%q: %t, want %t", env, got, want)
		}
	}
}

// TestGCPercent: the server's collector target is gcPercent unless GOGC is set.
func TestGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	withGCPercent(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("without GOGC: the collector's target is %d, want %d", got, gcPercent)
	}
	withGCPercent(func(k string) string {
		if k == "GOGC" {
			return "200"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: the target was changed to %d", got)
	}
}
