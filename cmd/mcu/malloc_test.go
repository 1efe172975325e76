package main

import (
	"os"
	"os/exec"
	"path/filepath"
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

// TestServerSetsMallocTunables: the server binary re-executes itself with the tunables in its
// environment (read from /proc while it runs).
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
		if err == nil && strings.Contains(string(b), mallocTunables) {
			return
		}
		env = string(b)
	}
	t.Errorf("the server's environment has no %s: %q", mallocTunables, strings.ReplaceAll(env, "\x00", " "))
}
