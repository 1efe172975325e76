package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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
		cfg := DefaultConfig()
		cfg.SIPPort = freeUDPPort(t)
		cfg.SIP.Host = "127.0.0.1"
		cfg.AdminToken = token
		m, err := mcu.New(cfg.MCU, mcu.Params{})
		if err != nil {
			t.Fatal(err)
		}
		mux, eps, err := newMux(m, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			m.Close()
			t.Fatal(err)
		}
		srv := httptest.NewServer(mux)
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
		conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", cfg.SIPPort))
		if err != nil {
			t.Fatal(err)
		}
		local := conn.LocalAddr().(*net.UDPAddr)
		msg := fmt.Sprintf("OPTIONS sip:room@127.0.0.1:%d SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-test-%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:room@127.0.0.1>\r\n"+
			"Call-ID: options-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			cfg.SIPPort, local.Port, cfg.SIPPort, cfg.SIPPort)
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
		conn.Close()
		srv.Close()
		if err := eps.Close(); err != nil {
			t.Error(err)
		}
		m.Close()
	}
}
