package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/bot/device"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-n", "25", "-canvas", "320x180", "-fps", "15", "-codec", "vp8", "-duration", "10s"}, true},
		{[]string{"-replay", "-codec", "vp8"}, true},
		{[]string{"-camera", "/dev/video0", "-mic"}, true},
		{[]string{"-camera", "/dev/video0", "-n", "1"}, true},
		{[]string{"-mic", "-decode=false"}, true},
		{[]string{"-canvas", "320"}, false},
		{[]string{"-canvas", "321x180"}, false},
		{[]string{"-canvas", "32x32"}, false},
		{[]string{"-n", "0"}, false},
		{[]string{"-codec", "av1"}, false},
		{[]string{"-duration", "-1s"}, false},
		{[]string{"-camera", "/dev/video0", "-n", "2"}, false},
		{[]string{"-mic", "-replay"}, false},
		{[]string{"extra"}, false},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) = %+v, %v; want ok %t", tt.args, o, err, tt.ok)
		}
	}
	o, _ := parseFlags([]string{"-n", "25", "-canvas", "320x180", "-duration", "10s", "-interfaces", "lo,eth0"}, io.Discard)
	if o.n != 25 || o.width != 320 || o.height != 180 || o.duration != 10*time.Second || len(o.interfaces) != 2 ||
		o.vcodec != codec.VP8 || o.decode || o.replay {
		t.Errorf("parsed %+v", o)
	}
	if o, _ := parseFlags([]string{"-replay"}, io.Discard); o.vcodec != codec.H264 {
		t.Errorf("-replay: codec %v, want H.264 by default", o.vcodec)
	}
	// A room client: one bot, named as given, decoding unless told not to.
	o, _ = parseFlags([]string{"-camera", "/dev/video0", "-mic", "-name", "Room 3"}, io.Discard)
	if o.n != 1 || !o.decode || o.camera != "/dev/video0" || !o.mic || botName(o, 0) != "Room 3" {
		t.Errorf("camera and mic: parsed %+v, name %q", o, botName(o, 0))
	}
	if o, _ := parseFlags([]string{"-mic", "-decode=false"}, io.Discard); o.decode {
		t.Error("-mic -decode=false decodes")
	}
	if o, _ := parseFlags([]string{"-n", "3", "-name", "x"}, io.Discard); botName(o, 2) != "x-2" {
		t.Errorf("bot 2 of 3 is %q, want x-2", botName(o, 2))
	}
}

// TestNoCamera checks the error path of a room client on a machine without that camera: run fails
// before joining anything, with an error that says so.
func TestNoCamera(t *testing.T) {
	for _, path := range []string{"/dev/video-none", "/dev/null"} {
		o, err := parseFlags([]string{"-camera", path, "-url", "http://127.0.0.1:1"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = run(context.Background(), o, slog.New(slog.DiscardHandler), &out)
		if !errors.Is(err, device.ErrNoDevice) || !strings.Contains(err.Error(), path) {
			t.Errorf("-camera %s: %v, want an error naming it and wrapping device.ErrNoDevice", path, err)
		}
		if out.Len() != 0 {
			t.Errorf("-camera %s printed %q", path, out.String())
		}
	}
}

// TestRun runs the command against the real MCU behind the real WebSocket handler, in each synthetic
// mode, for a few seconds: every bot joins, and status lines follow.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height = 640, 360
	cfg.IncludeLoopback = true
	cfg.Interfaces = []string{"lo"}
	log := slog.New(slog.DiscardHandler)
	m, err := mcu.New(cfg, mcu.Params{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := signaling.NewWebSocketHandler(signaling.MCUConference(m), signaling.DefaultWebSocketConfig(),
		signaling.Params{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	for _, mode := range [][]string{{"-decode"}, {"-replay"}} {
		t.Run(mode[0], func(t *testing.T) {
			args := append([]string{"-url", srv.URL, "-room", "run" + mode[0], "-n", "2", "-canvas", "320x180",
				"-duration", "2500ms", "-join-interval", "10ms", "-interfaces", "lo"}, mode...)
			o, err := parseFlags(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := run(context.Background(), o, log, &out); err != nil {
				t.Fatalf("run %q: %v", args, err)
			}
			t.Logf("run %q:\n%s", args, out.String())
			if !strings.Contains(out.String(), "2 bots joined") || !strings.Contains(out.String(), "bots 2/2") {
				t.Errorf("run %q printed %q: want 2 bots joined and a status line", args, out.String())
			}
		})
	}
}
