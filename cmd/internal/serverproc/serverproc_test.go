package serverproc_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
	"github.com/openmcu/mcu/cmd/internal/serverproc/serverproctest"
)

// TestMain lets the test binary stand in for the server (serverproctest); the tests start it as the
// server binary.
func TestMain(m *testing.M) {
	serverproctest.Main(nil)
	goleak.VerifyTestMain(m)
}

// get returns the status and body of a GET of url, over a connection that is not kept alive.
func get(url string) (int, string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// startFake starts the fake server in mode (serverproctest), with the default options.
func startFake(t *testing.T, mode string) *serverproc.Proc {
	t.Helper()
	t.Setenv(serverproctest.Env, mode)
	srv, err := serverproc.Start(context.Background(), serverproc.Options{Bin: os.Args[0],
		LogPath: filepath.Join(t.TempDir(), "server.log")})
	if err != nil {
		t.Fatalf("start a %s server: %v", mode, err)
	}
	return srv
}

// TestLifecycle starts the fake server as the benchmark does (plain) and as the soak does (profiler,
// environment, own process group), talks to it and stops it.
func TestLifecycle(t *testing.T) {
	tests := []struct {
		name string
		opts serverproc.Options
	}{
		{"plain", serverproc.Options{Args: []string{"-canvas", "640x360"}}},
		{"debug, env, own group", serverproc.Options{Args: []string{"-canvas", "640x360"}, DebugAddr: true,
			Env: []string{serverproctest.Env + "=" + serverproctest.Serve}, OwnProcessGroup: true, Timeout: 15 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Env == nil {
				t.Setenv(serverproctest.Env, serverproctest.Serve)
			} // else: the fake only starts if Options.Env reaches it
			opts := tt.opts
			opts.Bin, opts.LogPath = os.Args[0], filepath.Join(t.TempDir(), "server.log")
			srv, err := serverproc.Start(context.Background(), opts)
			if err != nil {
				t.Fatalf("Start(%+v): %v", opts, err)
			}
			if a := srv.Addr(); !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
				t.Errorf("server address %q, want 127.0.0.1 and a real port", a)
			}
			if u, want := srv.URL("/healthz"), "http://"+srv.Addr()+"/healthz"; u != want {
				t.Errorf("URL(/healthz) = %q, want %q", u, want)
			}
			if code, body, err := get(srv.URL("/healthz")); code != http.StatusOK || body != "ok\n" || err != nil {
				t.Errorf("GET /healthz = %d %q, %v; want 200 ok", code, body, err)
			}
			if code, _, err := get(srv.URL("/nosuchpath")); code != http.StatusNotFound || err != nil {
				t.Errorf("GET /nosuchpath = %d, %v; want 404", code, err)
			}
			if opts.DebugAddr {
				if a := srv.DebugAddr(); !strings.HasPrefix(a, "127.0.0.1:") || a == srv.Addr() {
					t.Errorf("debug address %q (server %q), want another 127.0.0.1 port", a, srv.Addr())
				}
				if code, _, err := get(srv.DebugURL("/debug/pprof/")); code != http.StatusOK || err != nil {
					t.Errorf("GET %s = %d, %v; want 200", srv.DebugURL("/debug/pprof/"), code, err)
				}
			} else if a := srv.DebugAddr(); a != "" {
				t.Errorf("debug address %q without Options.DebugAddr, want none", a)
			}
			pgid, err := syscall.Getpgid(srv.Pid())
			if err != nil || (pgid == srv.Pid()) != opts.OwnProcessGroup {
				t.Errorf("process group of %d = %d, %v; want a group of its own: %v", srv.Pid(), pgid, err, opts.OwnProcessGroup)
			}
			if ok, err := srv.Exited(); ok {
				t.Errorf("Exited() = true, %v while the server runs", err)
			}
			if srv.LogPath() != opts.LogPath {
				t.Errorf("LogPath() = %q, want %q", srv.LogPath(), opts.LogPath)
			}
			if err := srv.Stop(5 * time.Second); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if ok, err := srv.Exited(); !ok || err != nil {
				t.Errorf("after Stop: Exited() = %v, %v; want true, nil", ok, err)
			}
			select {
			case <-srv.Done():
			default:
				t.Error("Done not closed after Stop")
			}
			log, _ := os.ReadFile(opts.LogPath)
			want := "-http 127.0.0.1:0 -turn-port 0 -ice-tcp-port 0 -canvas 640x360"
			if opts.DebugAddr {
				want = "-http 127.0.0.1:0 -turn-port 0 -ice-tcp-port 0 -debug-addr " + srv.DebugAddr() + " -canvas 640x360"
			}
			if !strings.Contains(string(log), want) {
				t.Errorf("server log %q: want the arguments it was started with, %q", log, want)
			}
			if err := srv.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "already exited") {
				t.Errorf("second Stop = %v, want an error saying the server had already exited", err)
			}
		})
	}
}

// TestStartFails covers the ways a start fails: each error says why and names the log.
func TestStartFails(t *testing.T) {
	tests := []struct {
		mode string
		want string
	}{
		{serverproctest.Crash, "exited before listening"},
		{serverproctest.Mute, "printed no address within"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Setenv(serverproctest.Env, tt.mode)
			logPath := filepath.Join(t.TempDir(), "server.log")
			start := time.Now()
			_, err := serverproc.Start(context.Background(), serverproc.Options{Bin: os.Args[0], LogPath: logPath,
				Timeout: time.Second})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), logPath) {
				t.Errorf("Start of a %s server: err = %v, want one saying %q, naming the log", tt.mode, err, tt.want)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("Start of a %s server took %v, want about its 1 s timeout at most", tt.mode, d)
			}
		})
	}
	t.Run("no binary", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "nosuchbinary")
		_, err := serverproc.Start(context.Background(), serverproc.Options{Bin: bin,
			LogPath: filepath.Join(t.TempDir(), "server.log")})
		if err == nil || !strings.Contains(err.Error(), bin) {
			t.Errorf("Start(%s) = %v, want an error naming the binary", bin, err)
		}
	})
}

// TestStopKills: a server that ignores SIGTERM is killed after the grace period, and Stop says so.
func TestStopKills(t *testing.T) {
	srv := startFake(t, serverproctest.Stubborn)
	err := srv.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a server that ignores SIGTERM = %v, want an error saying it was killed", err)
	}
	if ok, err := srv.Exited(); !ok || err == nil {
		t.Errorf("after the kill: Exited() = %v, %v; want true and the signal", ok, err)
	}
}

// TestExitedWhileRunning: a server that dies on its own shows in Exited and Done, and Stop reports it.
func TestExitedWhileRunning(t *testing.T) {
	srv := startFake(t, serverproctest.Serve)
	if err := syscall.Kill(srv.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed 5 s after SIGKILL")
	}
	if ok, err := srv.Exited(); !ok || err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Exited() = %v, %v; want true and the signal", ok, err)
	}
	if err := srv.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("Stop = %v, want an error saying the server had already exited", err)
	}
}
