package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
)

// TestCascadeCredentials checks what a node presents to another's link endpoint: the admin token when
// there is one, else a token of its first API key that the other node's adminOnly lets in; with
// neither, cascading is off.
func TestCascadeCredentials(t *testing.T) {
	keys, err := auth.ParseKeys("k1:" + strings.Repeat("s", auth.MinSecretLen))
	if err != nil {
		t.Fatal(err)
	}
	node := &clusterNode{log: slog.New(slog.DiscardHandler)}
	reached := false
	endpoint := func(cfg Config) http.Handler {
		return adminOnly(cfg.AdminToken, keys, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	}
	for _, c := range []struct {
		name string
		cfg  Config
		keys auth.Keys
		on   bool
	}{
		{"admin token", Config{AdminToken: "shared-admin-token"}, nil, true},
		{"api keys", Config{}, keys, true},
		{"neither", Config{}, nil, false},
	} {
		cc := newCascader(node, c.cfg, c.keys, "n1")
		if cc.on() != c.on {
			t.Errorf("%s: cascading on = %v, want %v", c.name, cc.on(), c.on)
			continue
		}
		if !c.on {
			continue
		}
		token, err := cc.bearer()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		reached = false
		req := httptest.NewRequest(http.MethodPost, "/cascade/room", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		endpoint(c.cfg).ServeHTTP(rec, req)
		if !reached {
			t.Errorf("%s: the other node answered %d to this node's credential", c.name, rec.Code)
		}
	}
}

// FuzzCascadeEndpoint drives fuzzed room names, node IDs, tokens and offers through the link endpoint as
// newMux mounts it (POST /cascade/{room} behind adminOnly), against an MCU with one open room: no 5xx, no
// panic, a stranger never reaches the handler, and nothing stays linked once the cascader closes.
//
// fuzz budget: 2000x
func FuzzCascadeEndpoint(f *testing.F) {
	for _, seed := range []struct{ room, node, token, body string }{
		{"open", "n2", "admin-token", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"},
		{"open", "n1", "admin-token", "v=0"},
		{"nowhere", "n2", "admin-token", ""},
		{"open", "a b", "admin-token", "v=0"},
		{"open", "n2", "", "v=0"},
		{"%2F..", "n2", "admin-token", strings.Repeat("x", 70000)},
	} {
		f.Add(seed.room, seed.node, seed.token, seed.body)
	}
	cfg := DefaultConfig()
	cfg.AdminToken = "admin-token"
	cfg.MCU.RTPAddress, cfg.MCU.IncludeLoopback, cfg.MCU.Interfaces = "127.0.0.1", true, []string{"lo"}
	cfg.MCU.TCPPort = 0 // the fuzzing workers run this setup too: no fixed port
	m, err := mcu.New(cfg.MCU, mcu.Params{})
	if err != nil {
		f.Fatal(err)
	}
	defer m.Close()
	// A room opened by an audio-only phone (no handshake needed).
	if _, _, err := m.JoinRTP("open", "phone", nopRTPListener{}, mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU,
		Remote: netip.MustParseAddrPort("127.0.0.1:9"), Send: true, Receive: true}}); err != nil {
		f.Fatal(err)
	}
	c := newCascader(&clusterNode{m: m, log: slog.New(slog.DiscardHandler)}, cfg, nil, "n1")
	defer c.close()
	mux := http.NewServeMux()
	mux.Handle("POST /cascade/{room}", adminOnly(cfg.AdminToken, nil, c))
	f.Fuzz(func(t *testing.T, room, node, token, body string) {
		req := httptest.NewRequest(http.MethodPost, "/cascade/x", strings.NewReader(body))
		req.URL.Path = "/cascade/" + room
		req.Header.Set(nodeHeader, node)
		req.Header.Set("Authorization", "Bearer "+token)
		before := c.stats()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST /cascade/%q: %d %s", room, rec.Code, rec.Body)
		}
		if token != cfg.AdminToken && c.stats().Accepted+c.stats().Refused != before.Accepted+before.Refused {
			t.Fatalf("a request without the token reached the handler: %d", rec.Code)
		}
	})
}

// nopRTPListener ignores a plain-RTP participant's events.
type nopRTPListener struct{}

func (nopRTPListener) OnICECandidate(mcu.ICECandidate) {}
func (nopRTPListener) OnRoster(mcu.RosterEvent)        {}
func (nopRTPListener) OnClosed(error)                  {}
