package signaling_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/signalingtest"
)

func TestClientIP(t *testing.T) {
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	l := signaling.NewConnLimiter(1, []netip.Prefix{proxy})
	for _, c := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.9", "192.0.2.1"}, // not a trusted proxy: the header is ignored
		{"10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:5000", "198.51.100.7, 203.0.113.9", "203.0.113.9"}, // rightmost untrusted hop
		{"10.1.2.3:5000", "203.0.113.9, 10.9.9.9", "203.0.113.9"},     // a second proxy on the way
		{"10.1.2.3:5000", "not-an-ip", "10.1.2.3"},
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"[::ffff:192.0.2.5]:80", "", "192.0.2.5"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := l.ClientIP(r); got.String() != c.want {
			t.Errorf("ClientIP(%s, X-Forwarded-For %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// TestConnLimitPerIP: with a limit of 2 connections per IP, a third WebSocket from the same address gets
// 429, as does a WHIP POST; closing one frees its place.
func TestConnLimitPerIP(t *testing.T) {
	conf := &signalingtest.Conference{}
	lim := signaling.NewConnLimiter(2, nil)
	ws, err := signaling.NewWebSocketHandler(conf, signaling.DefaultWebSocketConfig(), signaling.Params{Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	whip, err := signaling.NewWHIPHandler(conf, signaling.DefaultWHIPConfig(), signaling.Params{Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	mux.Handle("/whip/", whip)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ws.Close()
		whip.Close()
		srv.Close()
	})
	url := "ws" + srv.URL[len("http"):] + "/ws"
	dial := func() (*websocket.Conn, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { c.CloseNow() })
		return c, http.StatusSwitchingProtocols
	}
	a, code := dial()
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("first socket: %d", code)
	}
	if _, code := dial(); code != http.StatusSwitchingProtocols {
		t.Fatalf("second socket: %d", code)
	}
	if _, code := dial(); code != http.StatusTooManyRequests {
		t.Errorf("third socket from one address: %d, want 429", code)
	}
	resp, err := http.Post(srv.URL+"/whip/r", "application/sdp", stringsReader(recvOnlyOffer))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("WHIP POST with two sockets open: %d, want 429", resp.StatusCode)
	}
	a.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, code := dial(); code == http.StatusSwitchingProtocols {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed socket's place was not given back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lim.Refused() < 2 {
		t.Errorf("Refused = %d, want at least 2", lim.Refused())
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
