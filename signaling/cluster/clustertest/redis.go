// Package clustertest runs a real redis-server for the tests of package cluster and of the servers that
// use it.
package clustertest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Redis is a real redis-server, a child process listening on a unix socket only, with persistence off.
type Redis struct {
	t   testing.TB
	bin string
	// Dir is the server's directory (its socket and log); Sock its unix socket.
	Dir, Sock string
	cmd       *exec.Cmd
}

// StartRedis starts a redis-server for t and stops it at t's end. It skips t if redis-server is not
// installed, or fails it if MCU_REQUIRE_REDIS=1 (make test: the Makefile installs redis-server).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		const hint = "redis-server is not installed (apt-get install redis-server; make deps-test installs it)"
		if os.Getenv("MCU_REQUIRE_REDIS") == "1" {
			t.Fatal(hint + ", and MCU_REQUIRE_REDIS=1")
		}
		t.Skip(hint + "; set MCU_REQUIRE_REDIS=1 to fail instead of skipping")
	}
	// A short directory: a unix socket path has at most 107 bytes, and t.TempDir's are long.
	dir, err := os.MkdirTemp("", "mcu-redis-")
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{t: t, bin: bin, Dir: dir, Sock: filepath.Join(dir, "redis.sock")}
	t.Cleanup(func() {
		r.Kill()
		_ = os.RemoveAll(dir)
	})
	r.Start()
	return r
}

// URL is the server's Redis URL.
func (r *Redis) URL() string { return "unix://" + r.Sock + "?db=0" }

// Start starts the server (empty: no persistence) and waits until it accepts connections.
func (r *Redis) Start() {
	r.t.Helper()
	log, err := os.OpenFile(filepath.Join(r.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer log.Close()
	r.cmd = exec.Command(r.bin, "--port", "0", "--unixsocket", r.Sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", r.Dir)
	r.cmd.Stdout, r.cmd.Stderr = log, log // *os.File: no copying goroutines
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", r.Sock)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server does not accept connections on %s: %v", r.Sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server at once (SIGKILL: no goodbye to clients). Idempotent.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}
