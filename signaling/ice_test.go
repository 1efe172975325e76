package signaling_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/signalingtest"
)

// iceRecorder is a Params.ICEServers that hands out a TURN credential naming the client, and remembers
// whom it served.
type iceRecorder struct {
	mu    sync.Mutex
	asked []string
}

func (r *iceRecorder) servers(identity, host string, authenticated bool) []mcu.ICEServer {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, identity)
	return []mcu.ICEServer{{URLs: []string{"turn:" + host + ":3478"}, Username: "9999999999:" + identity,
		Credential: "secret-for-" + identity}}
}

// TestICEServersPerClient: with Params.ICEServers, each WebSocket client's "joined" and each WHIP/WHEP
// answer's Link headers carry servers made for that client (its participant ID), not the
// conference's static list.
func TestICEServersPerClient(t *testing.T) {
	conf := &signalingtest.Conference{Servers: []mcu.ICEServer{{URLs: []string{"turn:static.example.org"},
		Username: "static", Credential: "static"}}}
	ice := &iceRecorder{}
	p := signaling.Params{ICEServers: ice.servers}

	ws, err := signaling.NewWebSocketHandler(conf, signaling.DefaultWebSocketConfig(), p)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{h: ws, srv: httptest.NewServer(ws)}
	t.Cleanup(func() { ws.Close(); s.srv.Close() })
	joined := s.dial(t).join("r1", "Ann")
	id, _ := joined["id"].(string)
	servers, _ := joined["iceServers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("joined.iceServers = %v, want the one made for Ann", joined["iceServers"])
	}
	if got := servers[0].(map[string]any)["username"]; got != "9999999999:"+id {
		t.Errorf("Ann's TURN username %v, want one naming her participant ID %q", got, id)
	}
	if got := servers[0].(map[string]any)["urls"]; !strings.Contains(fmt.Sprint(got), "turn:127.0.0.1:3478") {
		t.Errorf("Ann's TURN URLs %v, want the host she reached the server at (127.0.0.1)", got)
	}

	wh, err := signaling.NewWHIPHandler(conf, signaling.DefaultWHIPConfig(), p)
	if err != nil {
		t.Fatal(err)
	}
	w := &whipServer{h: wh, srv: httptest.NewServer(wh)}
	t.Cleanup(func() { wh.Close(); w.srv.Close() })
	_, r := w.post(t, "/whip/r1?name=Cam", recvOnlyOffer, http.StatusCreated)
	cam := session(t, conf, 1)
	links := strings.Join(r.h.Values("Link"), "\n")
	if !strings.Contains(links, `<turn:127.0.0.1:3478>`) || !strings.Contains(links, `username="9999999999:`+string(cam.ID())+`"`) ||
		strings.Contains(links, "static") {
		t.Errorf("WHIP answer's Link headers %q: want the credential made for Cam (%s) and not the static one", links, cam.ID())
	}
	if r := w.do(t, http.MethodOptions, "/whep/r1", ""); !strings.Contains(strings.Join(r.h.Values("Link"), " "), `username="9999999999:whip"`) {
		t.Errorf("OPTIONS Link headers %q: want a credential for an unnamed WHIP client", r.h.Values("Link"))
	}
}

// TestRoute: with Params.Route, a join for a room another server serves is answered "moved" with that
// server's WebSocket URL and joins nothing here; a WHIP or WHEP POST gets 307 to the same path and query
// there; a room the cluster cannot place now is "unavailable" (WebSocket) or 503 (WHIP).
func TestRoute(t *testing.T) {
	conf := &signalingtest.Conference{}
	route := func(_ context.Context, room string) (string, error) {
		switch room {
		case "elsewhere", "a/b":
			return "https://node2.example.org:8443", nil
		case "unplaced":
			return "", errors.New("redis is away")
		}
		return "", nil
	}
	var placed []string
	owner := func(ctx context.Context, room string) (string, error) { return route(ctx, room) }
	p := signaling.Params{Route: func(ctx context.Context, room string) (string, error) {
		placed = append(placed, room)
		return route(ctx, room)
	}, Owner: owner}
	ws, err := signaling.NewWebSocketHandler(conf, signaling.DefaultWebSocketConfig(), p)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{h: ws, srv: httptest.NewServer(ws)}
	t.Cleanup(func() { ws.Close(); s.srv.Close() })
	c := s.dial(t)
	c.send(map[string]any{"type": "join", "room": "elsewhere", "name": "Ann"})
	if m := c.recv(); m["type"] != "error" || m["code"] != "moved" || m["url"] != "wss://node2.example.org:8443/ws" {
		t.Errorf("join of a room on another server: %v, want moved to wss://node2.example.org:8443/ws", m)
	}
	c.send(map[string]any{"type": "join", "room": "unplaced", "name": "Ann"})
	if m := c.recv(); m["type"] != "error" || m["code"] != "unavailable" {
		t.Errorf("join of a room that cannot be placed: %v, want unavailable", m)
	}
	if n := len(conf.Sessions()); n != 0 {
		t.Errorf("%d sessions joined here", n)
	}
	if m := c.join("here", "Ann"); m["type"] != "joined" {
		t.Errorf("join of a room served here: %v", m)
	}

	wh, err := signaling.NewWHIPHandler(conf, signaling.DefaultWHIPConfig(), p)
	if err != nil {
		t.Fatal(err)
	}
	w := &whipServer{h: wh, srv: httptest.NewServer(wh)}
	t.Cleanup(func() { wh.Close(); w.srv.Close() })
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/whep/elsewhere?name=Rec", strings.NewReader(recvOnlyOffer))
	req.Header.Set("Content-Type", "application/sdp")
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != "https://node2.example.org:8443/whep/elsewhere?name=Rec" {
		t.Errorf("WHEP POST for a room on another server: %d Location %q, want 307 to node2", res.StatusCode, res.Header.Get("Location"))
	}
	n := len(placed)
	req, _ = http.NewRequest(http.MethodOptions, w.srv.URL+"/whep/elsewhere", nil)
	if res, err := cl.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("WHEP OPTIONS for a room on another server: %d, want 307 (its ICE servers are there)", res.StatusCode)
	}
	if len(placed) != n {
		t.Errorf("an OPTIONS placed a room (%v): without credentials it may only look the owner up", placed[n:])
	}
	req, _ = http.NewRequest(http.MethodPost, w.srv.URL+"/whep/a%2Fb?name=Rec", strings.NewReader(recvOnlyOffer))
	req.Header.Set("Content-Type", "application/sdp")
	if res, err := cl.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.Header.Get("Location") != "https://node2.example.org:8443/whep/a%2Fb?name=Rec" {
		t.Errorf("WHEP POST for room a/b: Location %q, want its one escaped segment kept", res.Header.Get("Location"))
	}
	if r := w.do(t, http.MethodPost, "/whip/unplaced", recvOnlyOffer, "Content-Type", "application/sdp"); r.code != http.StatusServiceUnavailable || r.h.Get("Retry-After") == "" {
		t.Errorf("WHIP POST for a room that cannot be placed: %v, want 503 with Retry-After", r)
	}
}
