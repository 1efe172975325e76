package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/mcu"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mcu.json")
	if err := os.WriteFile(file, []byte(`{"http":":9000","log_level":"debug"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MCU_HTTP": ":9100"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name     string
		args     []string
		wantHTTP string
		wantLog  string
	}{
		{"defaults and env", nil, ":9100", "info"},
		{"file then env", []string{"-config", file}, ":9100", "debug"},
		{"flag wins", []string{"-config", file, "-http", "127.0.0.1:0"}, "127.0.0.1:0", "debug"},
	}
	for _, tt := range tests {
		cfg, err := loadConfig(tt.args, getenv)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if cfg.HTTP != tt.wantHTTP || cfg.LogLevel != tt.wantLog {
			t.Errorf("%s: got http %q log %q, want %q %q", tt.name, cfg.HTTP, cfg.LogLevel, tt.wantHTTP, tt.wantLog)
		}
	}
}

func TestWHIPToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mcu.json")
	if err := os.WriteFile(file, []byte(`{"whip_token":"from-file","allowed_origins":["player.example.com"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	for _, tt := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"default", nil, "", ""},
		{"file", []string{"-config", file}, "", "from-file"},
		{"env over file", []string{"-config", file}, "from-env", "from-env"},
		{"flag over env", []string{"-config", file, "-whip-token", "from-flag"}, "from-env", "from-flag"},
	} {
		env["MCU_WHIP_TOKEN"] = tt.env
		cfg, err := loadConfig(tt.args, getenv)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if w := cfg.whipConfig(); w.Token != tt.want {
			t.Errorf("%s: token %q, want %q", tt.name, w.Token, tt.want)
		}
	}
	env["MCU_WHIP_TOKEN"] = ""
	if cfg, _ := loadConfig([]string{"-config", file}, getenv); len(cfg.whipConfig().OriginPatterns) != 1 {
		t.Errorf("WHIP origins %q, want the allowed origins", cfg.whipConfig().OriginPatterns)
	}
	if _, err := loadConfig([]string{"-whip-token", "has space"}, getenv); err == nil {
		t.Error("a token with a space was accepted")
	}
}

func TestConfigRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(file, []byte(`{"htp":":9000"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	for _, args := range [][]string{{"-config", file}, {"-log-level", "loud"}, {"-nosuchflag"}} {
		if _, err := loadConfig(args, none); err == nil {
			t.Errorf("loadConfig(%q) accepted bad input", args)
		}
	}
}

func TestServeAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	done := make(chan error, 1)
	cfg := DefaultConfig()
	cfg.SIP.Port = 0 // TestSIPEndpoints has SIP
	cfg.TURN.Port, cfg.MCU.TCPPort = 0, 0
	m, err := mcu.New(cfg.MCU, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	log := slog.New(slog.DiscardHandler)
	mux, ws, err := newMux(m, cfg, nil, log, &eventFanout{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	go func() { done <- serve(ctx, ln, mux, log) }()
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		break
	}
	if strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %q, want ok", body)
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/ = %d, want 200", resp.StatusCode)
	}
	for _, c := range []struct {
		method, path, ctype string
		want                int
	}{
		{http.MethodGet, "/watch/some-room", "", http.StatusOK},
		{http.MethodOptions, "/whip/some-room", "", http.StatusNoContent},
		{http.MethodOptions, "/whep/some-room", "", http.StatusNoContent},
		{http.MethodPost, "/whip/some-room", "text/plain", http.StatusUnsupportedMediaType},
		{http.MethodPost, "/whep/some-room", "application/sdp", http.StatusBadRequest},
		{http.MethodDelete, "/whep/some-room/nosuchresource", "", http.StatusNotFound},
	} {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader("not sdp"))
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"mcu_rooms 0", "mcu_participants 0", `mcu_encoders{kind="video"} 0`,
		`mcu_mixer_latency_seconds_bucket{kind="audio",le="0.03"} 0`, `mcu_video_encoders_by_tier{tier="ld"} 0`, "mcu_tier_changes_total 0", `mcu_signaling_sessions{kind="websocket"} 0`, `mcu_signaling_sessions{kind="whip"} 0`, `mcu_panics_total{where="room"} 0`, `mcu_panics_total{where="http"} 0`,
		`mcu_refusals_total{limit="conns_per_ip"} 0`, "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not shut down")
	}
}

func TestMediaSettings(t *testing.T) {
	env := map[string]string{"MCU_CANVAS": "640x360", "MCU_ICE_SERVERS": "stun:stun.example.org:3478,turn:alice:s3cret@turn.example.org:3478?transport=udp"}
	cfg, err := loadConfig([]string{"-fps", "15", "-tiers", "sd:320x180@15:300k", "-speaker-hold", "5s", "-udp-ports", "40000-40100", "-public-ip", "203.0.113.7", "-include-loopback=false"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.MCU
	if m.Width != 640 || m.Height != 360 || m.FrameRate != 15 || m.UDPPortMin != 40000 || m.UDPPortMax != 40100 ||
		len(m.NAT1To1IPs) != 1 || m.NAT1To1IPs[0] != "203.0.113.7" || m.IncludeLoopback {
		t.Errorf("media settings not applied: %+v", m)
	}
	if m.SpeakerHold != 5*time.Second {
		t.Errorf("speaker hold = %v, want 5s", m.SpeakerHold)
	}
	rtp, err := loadConfig([]string{"-keyframe-interval", "1s", "-rtp-address", "192.0.2.10", "-rtp-ports", "30000-30999",
		"-rtp-timeout", "1m", "-measure-psnr"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if r := rtp.MCU; r.KeyframeInterval != time.Second || r.RTPAddress != "192.0.2.10" || r.RTPPortMin != 30000 ||
		r.RTPPortMax != 30999 || r.RTPTimeout != time.Minute || !r.MeasurePSNR {
		t.Errorf("keyframe, rtp and psnr settings not applied: %+v", r)
	}
	if m.MeasurePSNR {
		t.Error("PSNR measured without -measure-psnr")
	}
	if len(m.LowerTiers) != 1 || m.LowerTiers[0].Name != "sd" || m.LowerTiers[0].VideoBitrate != 300_000 {
		t.Errorf("tiers = %+v", m.LowerTiers)
	}
	if len(m.ICEServers) != 2 || m.ICEServers[1].Username != "alice" || m.ICEServers[1].Credential != "s3cret" ||
		m.ICEServers[1].URLs[0] != "turn:turn.example.org:3478?transport=udp" || m.ICEServers[0].URLs[0] != "stun:stun.example.org:3478" {
		t.Errorf("ice servers = %+v", m.ICEServers)
	}
	for _, args := range [][]string{{"-canvas", "big"}, {"-fps", "0"}, {"-udp-ports", "9-1"}, {"-public-ip", "nowhere"}, {"-ice-servers", "http://x"}, {"-video-bitrate", "12k"},
		{"-rtp-address", "pbx.example.com"}, {"-rtp-ports", "30000-30001"}, {"-keyframe-interval", "soon"}} {
		if _, err := loadConfig(args, func(string) string { return "" }); err == nil {
			t.Errorf("loadConfig(%q) accepted a bad value", args)
		}
	}
}

func TestDefaultTiersFollowTheMainTier(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := loadConfig([]string{"-canvas", "640x360", "-video-bitrate", "500000"}, none)
	if err != nil {
		t.Fatalf("a 640x360 500k main tier with the default lower tiers: %v", err)
	}
	if len(cfg.MCU.LowerTiers) != 1 || cfg.MCU.LowerTiers[0].Name != "ld" {
		t.Errorf("lower tiers = %+v, want only ld (sd is not below the main tier)", cfg.MCU.LowerTiers)
	}
	if _, err := loadConfig([]string{"-canvas", "640x360", "-video-bitrate", "500000", "-tiers", "sd:640x360@30:500k"}, none); err == nil {
		t.Error("an explicit tier not below the main one was accepted")
	}
}
