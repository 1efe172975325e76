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
	go func() { done <- serve(ctx, ln, slog.New(slog.DiscardHandler)) }()
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
