package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/mcu"
)

// TestHTTPTimeouts: the server's timeouts (shortened here) close a connection that trickles its headers
// (slowloris), one that trickles its body, and an idle keep-alive connection; a handler panic is answered
// 500 and counted; a body over the limit is refused.
func TestHTTPTimeouts(t *testing.T) {
	eps := &endpoints{log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("a handler bug") })
	srv := newHTTPServer(eps.guard(mux), eps.log, httpTimeouts{header: 300 * time.Millisecond,
		read: 600 * time.Millisecond, write: time.Second, idle: 400 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	// closedWithin reports whether the server closes c within d while the client keeps trickling.
	closedWithin := func(c net.Conn, d time.Duration, trickle string) bool {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if trickle != "" {
				if _, err := c.Write([]byte(trickle)); err != nil {
					return true
				}
			}
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1024)); err != nil && !isTimeout(err) {
				return true
			}
		}
		return false
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	c.Write([]byte("GET /echo HTTP/1.1\r\nHost: x\r\n"))
	if !closedWithin(c, 3*time.Second, "X-Slow: 1\r\n") {
		t.Error("a client trickling its headers kept the connection open")
	}
	c = dial()
	c.Write([]byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"))
	if !closedWithin(c, 3*time.Second, "a") {
		t.Error("a client trickling its body kept the connection open")
	}
	c = dial()
	c.Write([]byte("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"))
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a plain request: %v %v", resp, err)
	}
	if !closedWithin(c, 3*time.Second, "") {
		t.Error("an idle keep-alive connection stayed open")
	}

	resp, err := http.Get("http://" + addr + "/panic")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || eps.httpPanics.Load() != 1 {
		t.Errorf("a panicking handler: %d, %d panics counted; want 500 and 1", resp.StatusCode, eps.httpPanics.Load())
	}
	resp, err = http.Post("http://"+addr+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", maxBody+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over %d bytes: %d, want 413", maxBody, resp.StatusCode)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestMetricsAddr: with -metrics-addr, the public address serves no /metrics.
func TestMetricsAddr(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SIP.Port = 0
	cfg.TURN.Port, cfg.MCU.TCPPort = 0, 0
	cfg.MetricsAddr = "127.0.0.1:0"
	m, err := mcu.New(cfg.MCU, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mux, eps, err := newMux(m, cfg, nil, slog.New(slog.DiscardHandler), &eventFanout{})
	if err != nil {
		t.Fatal(err)
	}
	defer eps.Close()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/metrics on the public address with -metrics-addr: %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	eps.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "mcu_rooms 0") {
		t.Errorf("the metrics handler: %d", rec.Code)
	}
}

// TestOperatorsAPI: the API is mounted at /api/v1, serves its OpenAPI document, and refuses a request
// without the admin token; webhooks without API keys to sign them are refused at start.
func TestOperatorsAPI(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SIP.Port = 0
	cfg.TURN.Port, cfg.MCU.TCPPort = 0, 0
	cfg.AdminToken = "an-operators-token"
	cfg.RecordDir = t.TempDir()
	m, err := mcu.New(cfg.MCU, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mux, eps, err := newMux(m, cfg, nil, slog.New(slog.DiscardHandler), &eventFanout{})
	if err != nil {
		t.Fatal(err)
	}
	defer eps.Close()
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/api/v1/openapi.json", "", http.StatusOK},
		{"/api/v1/rooms", "", http.StatusUnauthorized},
		{"/api/v1/rooms", "wrong", http.StatusUnauthorized},
		{"/api/v1/rooms", cfg.AdminToken, http.StatusOK},
		{"/api/v1/rooms/nowhere", cfg.AdminToken, http.StatusNotFound},
		{"/api/v1/rooms/nowhere/recordings", cfg.AdminToken, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET %s (token %q): %d %s, want %d", tt.path, tt.token, rec.Code, rec.Body, tt.want)
		}
	}
	cfg.WebhookURLs = []string{"http://127.0.0.1:9/hook"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "api-keys") {
		t.Errorf("webhooks without API keys: %v, want an error naming -api-keys", err)
	}
}
