package sip_test

import (
	"context"
	"errors"
	"testing"

	"github.com/emiago/sipgo/sip"

	sipsig "github.com/openmcu/mcu/signaling/sip"
	"github.com/openmcu/mcu/signaling/sip/siptest"
)

// TestRouteRedirects: with Params.Route (several servers sharing rooms), a call to a room another node
// serves gets 302 with that node's Contact and joins nothing here; a room served here is answered; a
// room the cluster cannot place now gets 503 with Retry-After.
func TestRouteRedirects(t *testing.T) {
	cfg := sipsig.DefaultConfig()
	cfg.Host, cfg.Port = "127.0.0.1", 0
	conf := &siptest.Conference{}
	route := func(_ context.Context, room string) (string, error) {
		switch room {
		case "elsewhere":
			return "192.0.2.8:5070", nil
		case "unplaced":
			return "", errors.New("redis is away")
		}
		return "", nil
	}
	s, err := sipsig.New(cfg, sipsig.Params{Conference: conf, Logger: testLogger(), Route: route})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{conf: conf, srv: s, port: s.Port()}
	t.Cleanup(func() { s.Close() })
	p := h.phone(t, "udp")

	res := p.final(h, "elsewhere", pcmuOnly)
	if res.StatusCode != sip.StatusMovedTemporarily {
		t.Fatalf("a call to a room on another node: %d %s, want 302", res.StatusCode, res.Reason)
	}
	contact := res.Contact()
	if contact == nil || contact.Address.User != "elsewhere" || contact.Address.Host != "192.0.2.8" || contact.Address.Port != 5070 {
		t.Errorf("Contact %v, want sip:elsewhere@192.0.2.8:5070", contact)
	}
	if n := len(conf.Calls()); n != 0 {
		t.Errorf("%d participants joined here for a redirected call", n)
	}
	if got := p.final(h, "unplaced", pcmuOnly); got.StatusCode != sip.StatusServiceUnavailable || got.GetHeader("Retry-After") == nil {
		t.Errorf("a call the cluster cannot place: %d %v, want 503 with Retry-After", got.StatusCode, got.GetHeader("Retry-After"))
	}
	if got := p.final(h, "here", pcmuOnly); got.StatusCode != sip.StatusOK {
		t.Errorf("a call to a room served here: %d %s, want 200", got.StatusCode, got.Reason)
	}
	if st := s.Stats(); st.Redirects != 1 {
		t.Errorf("Stats.Redirects = %d, want 1", st.Redirects)
	}
}
