package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
	"github.com/openmcu/mcu/cmd/internal/serverproc/serverproctest"
)

// TestMain lets the test binary stand in for the server (serverproctest): with serverproctest.Env set it
// behaves like bin/mcu as the benchmark sees it, and its /metrics reports 2 participants (and, as a node
// of a cascaded room of 4, a link whose counters grow with the clock).
func TestMain(m *testing.M) {
	fakeStart := time.Now()
	serverproctest.Main(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, exposition(2, counts(5, 10), counts(7, 20)))
		// As a node of a cascaded room of 4 (2 here): its link, and the 4 voices it decodes.
		fmt.Fprint(w, cascadeExposition(1, 4, cascadeBytes(time.Since(fakeStart)), 0.0012))
	}))
	os.Exit(m.Run())
}

// TestServerReadings reads what the benchmark reads of a running server: its /metrics, and its CPU time
// and RSS from /proc.
func TestServerReadings(t *testing.T) {
	t.Setenv(serverproctest.Env, serverproctest.Serve)
	srv, err := serverproc.Start(context.Background(), serverproc.Options{Bin: os.Args[0],
		Args: []string{"-canvas", "640x360"}, LogPath: filepath.Join(t.TempDir(), "server.log"), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(5 * time.Second); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	s, err := fetchMetrics(context.Background(), http.DefaultClient, srv.URL("/metrics"))
	if err != nil || s.Participants != 2 || s.VideoLatency.Count != 20 {
		t.Errorf("metrics = %+v, %v; want 2 participants and 20 video latency samples", s, err)
	}
	pid := strconv.Itoa(srv.Pid())
	if cpu, err := procCPU(pid); err != nil || cpu < 0 {
		t.Errorf("server cpu = %v, %v", cpu, err)
	}
	if rss, _, err := procRSS(pid); err != nil || rss <= 0 {
		t.Errorf("server rss = %v, %v", rss, err)
	}
}
