package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc/serverproctest"
)

// clockLoad makes participants whose counters advance with the clock: fps frames and 50 audio packets a
// second, from the moment they join. failAt, when >= 0, is a participant that cannot join.
type clockLoad struct {
	fps    float64
	failAt int
	closed atomic.Int32
}

type clockParticipant struct {
	start time.Time
	fps   float64
	load  *clockLoad
}

func (l *clockLoad) Join(_ context.Context, url, room string, i, frameRate int) (Participant, error) {
	if i == l.failAt {
		return nil, errors.New("no answer")
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || room == "" || frameRate != 30 {
		return nil, errors.New("bad join: " + url + " " + room)
	}
	return &clockParticipant{start: time.Now(), fps: l.fps, load: l}, nil
}

func (p *clockParticipant) Stats() RecvStats {
	s := time.Since(p.start).Seconds()
	return RecvStats{VideoFrames: uint64(s * p.fps), VideoBytes: uint64(s * 62500), AudioPackets: uint64(s * 50)}
}

func (p *clockParticipant) Ended() bool { return false }

func (p *clockParticipant) Close() error {
	p.load.closed.Add(1)
	return nil
}

func testRunner(t *testing.T, load Load) *runner {
	t.Setenv(serverproctest.Env, serverproctest.Serve)
	return &runner{server: os.Args[0], warmup: 50 * time.Millisecond, window: 500 * time.Millisecond,
		joinTimeout: 2 * time.Second, logDir: t.TempDir(), load: load,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), http: http.DefaultClient}
}

func TestMeasure(t *testing.T) {
	tier := Tier{640, 360, 30, 500_000}
	tests := []struct {
		name      string
		load      *clockLoad
		held      bool
		whyPrefix string
	}{
		// Rates far from the 29 fps threshold, so that a loaded machine (late samples) cannot flip the verdict.
		{"real time", &clockLoad{fps: 40, failAt: -1}, true, ""},
		{"too slow", &clockLoad{fps: 15, failAt: -1}, false, "min fps"},
		{"join fails", &clockLoad{fps: 30, failAt: 1}, false, "participant 1: join: no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRunner(t, tt.load)
			run := r.measure(context.Background(), tier, 2) // the fake server reports 2 participants
			if run.RealTime != tt.held || !strings.HasPrefix(run.NotRealTime, tt.whyPrefix) {
				t.Errorf("measure: real time %v (%q), want %v (%q...); run %+v", run.RealTime, run.NotRealTime,
					tt.held, tt.whyPrefix, run)
			}
			if want := int32(2); tt.load.failAt < 0 && tt.load.closed.Load() != want {
				t.Errorf("%d participants closed, want %d", tt.load.closed.Load(), want)
			}
			if tt.load.failAt >= 0 {
				if run.Error == "" || run.Window != 0 {
					t.Errorf("failed join: error %q, window %v; want an error and no measurement", run.Error, run.Window)
				}
				return
			}
			if run.Error != "" {
				t.Fatalf("measure: %s", run.Error)
			}
			if run.Window < 450*time.Millisecond || run.Down.Participants != 2 ||
				run.Down.FPSMin < tt.load.fps*0.7 || run.Down.FPSMin > tt.load.fps*1.3 {
				t.Errorf("measure: window %v, downstream %+v; want ~0.5 s and ~%v fps for 2 participants",
					run.Window, run.Down, tt.load.fps)
			}
			// The fake server's histograms do not move, so the window holds no latency samples.
			if run.AudioLatency.Samples != 0 || run.RSSBytes <= 0 || run.IdleRSSBytes <= 0 || run.ServerCores < 0 {
				t.Errorf("measure: audio latency %+v, rss %d (idle %d), cores %v", run.AudioLatency, run.RSSBytes,
					run.IdleRSSBytes, run.ServerCores)
			}
		})
	}
}

func TestServerArgs(t *testing.T) {
	r := &runner{visibleTiles: 30}
	got := strings.Join(r.args(Tier{640, 360, 15, 500_000}, 40), " ")
	want := "-canvas 640x360 -fps 15 -video-bitrate 500000 -include-loopback true -interfaces lo -max-participants 40 -log-level warn -max-conns-per-ip 0 -measure-psnr -visible-tiles 30"
	if got != want {
		t.Errorf("server args = %q, want %q", got, want)
	}
}
