package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/mcu"
)

// freeUDPPort returns a UDP port that was free a moment ago (also free on TCP, checked).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		tl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			tl.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestSIPEndpoints checks the SIP wiring: the server answers OPTIONS on -sip-port, and the dial-out API
// needs the admin token (403 without one configured, 401 with a wrong one).
func TestSIPEndpoints(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		t.Run("token="+token, func(t *testing.T) { testSIPEndpoints(t, token) })
	}
}

func testSIPEndpoints(t *testing.T, token string) {
	cfg := DefaultConfig()
	cfg.SIP.Port = freeUDPPort(t)
	cfg.SIP.Host = "127.0.0.1"
	cfg.TURN.Port, cfg.MCU.TCPPort = 0, 0
	cfg.AdminToken = token
	m, err := mcu.New(cfg.MCU, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux, eps, err := newMux(m, cfg, nil, slog.New(slog.DiscardHandler), &eventFanout{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eps.Close(); err != nil { // before m.Close: the participants leave
			t.Error(err)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func(auth string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/sip/calls", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if token == "" {
		if c := get("anything"); c != http.StatusForbidden {
			t.Errorf("dial-out API without -admin-token: %d, want 403", c)
		}
	} else {
		if c := get("wrong"); c != http.StatusUnauthorized {
			t.Errorf("dial-out API with a wrong token: %d, want 401", c)
		}
		if c := get(token); c != http.StatusOK {
			t.Errorf("dial-out API with the token: %d, want 200", c)
		}
	}
	// OPTIONS over UDP.
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", cfg.SIP.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr)
	msg := fmt.Sprintf("OPTIONS sip:room@127.0.0.1:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-test-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:room@127.0.0.1>\r\n"+
		"Call-ID: options-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		cfg.SIP.Port, local.Port, cfg.SIP.Port, cfg.SIP.Port)
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to OPTIONS: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Errorf("OPTIONS answered %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}
}

// TestSIPPortSettings checks that the SIP port comes from one place: the JSON file's sip.port, the
// environment or -sip-port (0 turns SIP off), and that a bad one is refused.
func TestSIPPortSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mcu.json")
	if err := os.WriteFile(file, []byte(`{"sip":{"port":5071}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want int
	}{{nil, 5060}, {[]string{"-config", file}, 5071}, {[]string{"-config", file, "-sip-port", "0"}, 0}} {
		cfg, err := loadConfig(tc.args, none)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if cfg.SIP.Port != tc.want {
			t.Errorf("%q: sip port %d, want %d", tc.args, cfg.SIP.Port, tc.want)
		}
	}
	if _, err := loadConfig([]string{"-sip-port", "70000"}, none); err == nil {
		t.Error("-sip-port 70000 accepted")
	}
}
