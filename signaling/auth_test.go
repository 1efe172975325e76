package signaling_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/signalingtest"
)

var testKeys = auth.Keys{"APIkey": strings.Repeat("k", 40)}

// token signs a token for room with grant, valid from now for ttl (negative: expired).
func token(t *testing.T, identity, name string, grant auth.VideoGrant, ttl time.Duration) string {
	t.Helper()
	c := auth.Claims{Name: name, Video: &grant}
	c.Subject = identity
	now := time.Now()
	if ttl < 0 {
		now = now.Add(2 * ttl) // issued long ago, expired by now (beyond the leeway)
		ttl = -ttl
	}
	tok, err := testKeys.Sign("APIkey", c, now, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var no = false

// TestWebSocketTokens: with keys set, a join needs a valid token for its room, from the socket's URL or
// the join message; an expired one is told apart; a token without the publish grant joins as a viewer
// (hidden with the hidden grant); the display name is the token's.
func TestWebSocketTokens(t *testing.T) {
	conf := &signalingtest.Conference{}
	h, err := signaling.NewWebSocketHandler(conf, signaling.DefaultWebSocketConfig(), signaling.Params{Keys: testKeys})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	s := &server{h: h, srv: srv}
	dialToken := func(tok string) *client {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, s.url()+"?access_token="+tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		return &client{t: t, ws: ws}
	}
	join := auth.VideoGrant{Room: "r", RoomJoin: true}
	for _, c := range []struct {
		name, tok string
		want      signaling.ErrorCode
	}{
		{"no token", "", signaling.CodeUnauthorized},
		{"garbage", "abc.def.ghi", signaling.CodeUnauthorized},
		{"expired", token(t, "ann", "Ann", join, -time.Hour), signaling.CodeTokenExpired},
		{"another room", token(t, "ann", "Ann", auth.VideoGrant{Room: "other", RoomJoin: true}, time.Hour), signaling.CodeForbidden},
		{"no roomJoin", token(t, "ann", "Ann", auth.VideoGrant{Room: "r"}, time.Hour), signaling.CodeForbidden},
		{"no subscribe", token(t, "ann", "Ann", auth.VideoGrant{Room: "r", RoomJoin: true, CanSubscribe: &no}, time.Hour), signaling.CodeForbidden},
	} {
		cl := s.dial(t)
		cl.send(map[string]any{"type": "join", "room": "r", "name": "Ann", "token": c.tok})
		cl.expectError(c.want)
		if n := len(conf.Sessions()); n != 0 {
			t.Fatalf("%s: %d sessions joined", c.name, n)
		}
	}
	// A good token on the URL; the name is the token's.
	ann := dialToken(token(t, "ann", "Ann Token", join, time.Hour))
	ann.join("r", "whatever")
	// In the join message, without a name at all.
	bob := s.dial(t)
	bob.send(map[string]any{"type": "join", "room": "r", "token": token(t, "bob", "", join, time.Hour)})
	if m := bob.recv(); m["type"] != "joined" {
		t.Fatalf("bob: %v", m)
	}
	// A subscribe-only token joins as a viewer; with hidden, as a hidden one.
	viewer := auth.VideoGrant{Room: "r", RoomJoin: true, CanPublish: &no, CanPublishData: &no}
	dialToken(token(t, "v", "Viewer", viewer, time.Hour)).join("r", "v")
	viewer.Hidden = true
	dialToken(token(t, "rec", "Recorder", viewer, time.Hour)).join("r", "rec")
	ss := conf.Sessions()
	if len(ss) != 4 {
		t.Fatalf("%d sessions, want 4", len(ss))
	}
	for i, want := range []struct {
		name           string
		viewer, hidden bool
	}{{"Ann Token", false, false}, {"bob", false, false}, {"Viewer", true, false}, {"Recorder", true, true}} {
		if ss[i].Name != want.name || ss[i].Viewer != want.viewer || ss[i].Hidden != want.hidden {
			t.Errorf("session %d: %s viewer %t hidden %t, want %+v", i, ss[i].Name, ss[i].Viewer, ss[i].Hidden, want)
		}
	}
}

// TestWHIPTokens: with keys set, WHIP needs roomJoin+canPublish, WHEP roomJoin+canSubscribe, resources
// any valid token for their room; refusals are 401 (missing, bad, expired: the body says so) or 403.
func TestWHIPTokens(t *testing.T) {
	conf := &signalingtest.Conference{}
	h, err := signaling.NewWHIPHandler(conf, signaling.DefaultWHIPConfig(), signaling.Params{Keys: testKeys})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	s := &whipServer{h: h, srv: srv}
	publish := auth.VideoGrant{Room: "r", RoomJoin: true}
	watch := auth.VideoGrant{Room: "r", RoomJoin: true, CanPublish: &no}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, c := range []struct {
		name, path string
		headers    []string
		want       int
		body       string
	}{
		{"whip without a token", "/whip/r", nil, http.StatusUnauthorized, "required"},
		{"whip expired", "/whip/r", bearer(token(t, "c", "Cam", publish, -time.Hour)), http.StatusUnauthorized, "expired"},
		{"whip with a viewer's token", "/whip/r", bearer(token(t, "c", "Cam", watch, time.Hour)), http.StatusForbidden, "does not allow"},
		{"whip to another room", "/whip/s", bearer(token(t, "c", "Cam", publish, time.Hour)), http.StatusForbidden, "another room"},
		{"whep without subscribe", "/whep/r", bearer(token(t, "c", "Cam",
			auth.VideoGrant{Room: "r", RoomJoin: true, CanSubscribe: &no}, time.Hour)), http.StatusForbidden, "does not allow"},
	} {
		r := s.do(t, http.MethodPost, c.path, recvOnlyOffer, append([]string{"Content-Type", "application/sdp"}, c.headers...)...)
		if r.code != c.want || !strings.Contains(r.body, c.body) {
			t.Errorf("%s: %v, want %d and %q", c.name, r, c.want, c.body)
		}
	}
	if n := len(conf.Sessions()); n != 0 {
		t.Fatalf("%d sessions joined on refused requests", n)
	}
	loc, _ := s.post(t, "/whip/r", recvOnlyOffer, http.StatusCreated, bearer(token(t, "cam", "Camera 1", publish, time.Hour))...)
	s.post(t, "/whep/r?name=x", recvOnlyOffer, http.StatusCreated, bearer(token(t, "v", "", watch, time.Hour))...)
	watch.Hidden = true
	s.post(t, "/whep/r", recvOnlyOffer, http.StatusCreated, "Authorization", "Bearer "+token(t, "rec", "Recorder", watch, time.Hour))
	ss := conf.Sessions()
	if len(ss) != 3 || ss[0].Name != "Camera 1" || ss[0].Viewer || !ss[1].Viewer || ss[1].Hidden || ss[1].Name != "x" ||
		!ss[2].Hidden {
		t.Errorf("sessions: %+v %+v %+v", ss[0], ss[1], ss[2])
	}
	if r := s.do(t, http.MethodDelete, loc, ""); r.code != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %v, want 401", r)
	}
	if r := s.do(t, http.MethodDelete, loc, "", bearer(token(t, "cam", "", publish, time.Hour))...); r.code != http.StatusOK {
		t.Errorf("DELETE with a token: %v, want 200", r)
	}
}
