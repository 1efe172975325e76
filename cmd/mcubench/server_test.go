package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the server: with MCUBENCH_FAKE_SERVER set it behaves like
// bin/mcu as the benchmark sees it (prints its address, serves /healthz and /metrics, exits on SIGTERM).
func TestMain(m *testing.M) {
	switch os.Getenv("MCUBENCH_FAKE_SERVER") {
	case "":
		os.Exit(m.Run())
	case "crash":
		fmt.Fprintln(os.Stderr, "fake server: cannot start")
		os.Exit(3)
	default:
		fakeServer()
	}
}

func fakeServer() {
	addr := ""
	for i, a := range os.Args {
		if a == "-http" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(4)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, exposition(2, counts(5, 10), counts(7, 20)))
	})
	fmt.Fprintln(os.Stderr, "fake server args:", strings.Join(os.Args[1:], " "))
	fmt.Printf("Open http://%s/ in a browser\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() { _ = http.Serve(ln, mux) }()
	<-sig
	os.Exit(0)
}

func TestServerLifecycle(t *testing.T) {
	t.Setenv("MCUBENCH_FAKE_SERVER", "1")
	logPath := filepath.Join(t.TempDir(), "server.log")
	srv, err := startServer(context.Background(), os.Args[0], []string{"-canvas", "640x360"}, logPath, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.addr, "127.0.0.1:") || strings.HasSuffix(srv.addr, ":0") {
		t.Errorf("server address %q, want 127.0.0.1 and a real port", srv.addr)
	}
	s, err := fetchMetrics(context.Background(), http.DefaultClient, srv.url("/metrics"))
	if err != nil || s.Participants != 2 || s.VideoLatency.Count != 20 {
		t.Errorf("metrics = %+v, %v; want 2 participants and 20 video latency samples", s, err)
	}
	if cpu, err := procCPU(srv.pid); err != nil || cpu < 0 {
		t.Errorf("server cpu = %v, %v", cpu, err)
	}
	if rss, _, err := procRSS(srv.pid); err != nil || rss <= 0 {
		t.Errorf("server rss = %v, %v", rss, err)
	}
	if err := srv.stop(5 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if ok, _ := srv.exited(); !ok {
		t.Error("server still running after stop")
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "-http 127.0.0.1:0 -canvas 640x360") {
		t.Errorf("server log %q: want the arguments it was started with", log)
	}
}

func TestServerThatFailsToStart(t *testing.T) {
	t.Setenv("MCUBENCH_FAKE_SERVER", "crash")
	logPath := filepath.Join(t.TempDir(), "server.log")
	_, err := startServer(context.Background(), os.Args[0], nil, logPath, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited before listening") || !strings.Contains(err.Error(), logPath) {
		t.Errorf("startServer of a crashing server: err = %v, want one saying it exited, naming the log", err)
	}
}
