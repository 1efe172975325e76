package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
