package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
	"github.com/openmcu/mcu/signaling/cluster/clustertest"
)

// testNode is one server of a test cluster: the binary's wiring (newMux) on a loopback port.
type testNode struct {
	url  string
	m    *mcu.MCU
	eps  *endpoints
	stop func()
}

// startTestNode starts a node of the cluster at redisURL.
func startTestNode(t *testing.T, redisURL, id string) *testNode {
	t.Helper()
	return startTestNodeWith(t, redisURL, id, nil)
}

// startTestNodeWith is startTestNode with changes to its configuration.
func startTestNodeWith(t *testing.T, redisURL, id string, change func(*Config)) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.HTTP = ln.Addr().String()
	cfg.SIP.Port, cfg.TURN.Port, cfg.MCU.TCPPort = 0, 0, 0
	cfg.Redis, cfg.NodeID, cfg.PublicURL, cfg.AdminToken = redisURL, id, "http://"+ln.Addr().String(), "admin-secret"
	cfg.MCU.IncludeLoopback, cfg.MCU.Interfaces = true, []string{"lo"}
	if change != nil {
		change(&cfg)
	}
	events := &eventFanout{}
	m, err := mcu.New(cfg.MCU, mcu.Params{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	mux, eps, err := newMux(m, cfg, nil, slog.New(slog.DiscardHandler), events)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	n := &testNode{url: cfg.PublicURL, m: m, eps: eps}
	n.stop = sync1(func() {
		_ = srv.Close()
		eps.Close()
		m.Close()
	})
	t.Cleanup(n.stop)
	return n
}

// sync1 runs f once, however often the returned func is called.
func sync1(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

// wsJoin joins room through node's /ws and returns the first answer ("joined" or an error) and the
// socket, open.
func wsJoin(t *testing.T, wsURL, origin, room, name string) (map[string]any, *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", wsURL, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	b, _ := json.Marshal(map[string]any{"type": "join", "room": room, "name": name})
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read from %s: %v", wsURL, err)
		}
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == "joined" || m["type"] == "error" {
			return m, c
		}
	}
}

// TestCluster runs two nodes on one Redis: a room opened on A is served by A whichever node a client
// asks (WebSocket "moved" to A's socket, which accepts B's page origin; WHIP/WHEP 307 to A); the API on
// either node lists both nodes; once A's room has emptied, its lease is released and B can serve it.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test with redis-server")
	}
	r := clustertest.StartRedis(t)
	a := startTestNode(t, r.URL(), "a")
	b := startTestNode(t, r.URL(), "b")
	ws := func(n *testNode) string { return "ws" + strings.TrimPrefix(n.url, "http") + "/ws" }

	joined, annConn := wsJoin(t, ws(a), "", "standup", "Ann")
	if joined["type"] != "joined" {
		t.Fatalf("join on A: %v", joined)
	}
	moved, _ := wsJoin(t, ws(b), "", "standup", "Bob")
	if moved["code"] != "moved" || moved["url"] != ws(a) {
		t.Fatalf("join of A's room on B: %v, want moved to %s", moved, ws(a))
	}
	// The page loaded from B follows the move: A accepts B's origin.
	joined, bobConn := wsJoin(t, ws(a), b.url, "standup", "Bob")
	if joined["type"] != "joined" {
		t.Errorf("join on A with B's page origin: %v", joined)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, res, err := websocket.Dial(ctx, ws(a), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example.org"}}}); err == nil {
		c.CloseNow()
		t.Error("A accepted a page from an origin outside the cluster")
	} else if res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a page from outside the cluster: %v, want 403", err)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Post(b.url+"/whep/standup?name=Rec", "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != a.url+"/whep/standup?name=Rec" {
		t.Errorf("WHEP POST on B for A's room: %d %q, want 307 to A", res.StatusCode, res.Header.Get("Location"))
	}

	req, _ := http.NewRequest(http.MethodGet, b.url+"/api/v1/rooms/standup", nil)
	req.Header.Set("Authorization", "Bearer admin-secret")
	if res, err := noRedirect.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != a.url+"/api/v1/rooms/standup" {
		t.Errorf("GET /api/v1/rooms/standup on B: %d %q, want 307 to A", res.StatusCode, res.Header.Get("Location"))
	}

	for _, n := range []*testNode{a, b} {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/api/v1/nodes", nil)
		req.Header.Set("Authorization", "Bearer admin-secret")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var nodes []api.Node
		err = json.NewDecoder(res.Body).Decode(&nodes)
		res.Body.Close()
		ids := []string{}
		for _, nd := range nodes {
			ids = append(ids, nd.ID)
		}
		if err != nil || !slices.Equal(ids, []string{"a", "b"}) {
			t.Errorf("GET /api/v1/nodes on %s: %v %v, want nodes a and b", n.url, ids, err)
		}
	}

	// Everyone leaves A's room: the lease goes, and B may serve the room next time.
	annConn.Close(websocket.StatusNormalClosure, "bye")
	bobConn.Close(websocket.StatusNormalClosure, "bye")
	codectest.Require(t, 15*time.Second, func() error {
		if a.m.HasRoom("standup") {
			return fmt.Errorf("A still has the room")
		}
		joined, c := wsJoin(t, ws(b), "", "standup", "Bob")
		c.CloseNow()
		if joined["type"] != "joined" {
			return fmt.Errorf("join on B after A's room emptied: %v", joined)
		}
		return nil
	})
}

// TestCascadeRouting runs two nodes, B pinning room "pinned" (-cascade-rooms) and A of capacity 2: a
// room A owns sends B's joins to A while A has room, and keeps them on B, linked to A, once A is full or
// when the room is pinned on B. Each node then has the other's participants as remotes; when B's
// participants leave, B's rooms close and A's remotes go. The link endpoint refuses strangers and bad
// requests.
func TestCascadeRouting(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test with redis-server")
	}
	r := clustertest.StartRedis(t)
	a := startTestNodeWith(t, r.URL(), "a", func(c *Config) { c.NodeCapacity = 2 })
	b := startTestNodeWith(t, r.URL(), "b", func(c *Config) { c.CascadeRooms = []string{"pinned"} })
	ws := func(n *testNode) string { return "ws" + strings.TrimPrefix(n.url, "http") + "/ws" }
	joinOn := func(n *testNode, room, name string) *websocket.Conn {
		t.Helper()
		got, c := wsJoin(t, ws(n), "", room, name)
		if got["type"] != "joined" {
			t.Fatalf("%s joining %q on %s: %v", name, room, n.url, got)
		}
		return c
	}

	joinOn(a, "standup", "Ann")
	if moved, _ := wsJoin(t, ws(b), "", "standup", "Bob"); moved["code"] != "moved" {
		t.Fatalf("join of A's room on B while A has room: %v, want moved to A", moved)
	}
	joinOn(a, "pinned", "Amy")
	cat := joinOn(b, "pinned", "Cat") // pinned on B: stays, although A owns the room and has room
	// A is full (2 of 2) once its heartbeat says so: B keeps Dan in A's room.
	var dan *websocket.Conn
	codectest.Require(t, 15*time.Second, func() error {
		got, c := wsJoin(t, ws(b), "", "standup", "Dan")
		if got["type"] != "joined" {
			c.CloseNow()
			return fmt.Errorf("join of full A's room on B: %v", got)
		}
		dan = c
		return nil
	})
	// Every node has the other's participants as remotes, over one link per room.
	codectest.Require(t, 20*time.Second, func() error {
		sa, sb := a.m.Stats(), b.m.Stats()
		la, lb := a.eps.cluster.casc.stats(), b.eps.cluster.casc.stats()
		if sa.Remotes != 2 || sb.Remotes != 2 || len(la.Links) != 2 || len(lb.Links) != 2 {
			return fmt.Errorf("remotes A %d, B %d; links A %d, B %d; want 2 each", sa.Remotes, sb.Remotes, len(la.Links), len(lb.Links))
		}
		// The smaller ID dials (a link that dropped under load is dialed again: at least 2).
		if la.Dialed < 2 || lb.Accepted < 2 || lb.Dialed != 0 || la.Accepted != 0 {
			return fmt.Errorf("A dialed %d and accepted %d, B dialed %d and accepted %d: want A to dial, B to accept",
				la.Dialed, la.Accepted, lb.Dialed, lb.Accepted)
		}
		return nil
	})
	res, err := http.Get(a.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(body)
	for _, want := range []string{"mcu_cascade_links 2", `mcu_cascade_links_total{result="accepted"} 0`,
		`mcu_cascade_link_rtt_seconds{peer="b",room="pinned"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("A's metrics lack %q", want)
		}
	}

	// The link endpoint: strangers, bad requests.
	post := func(path, token, node, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b.url+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if node != "" {
			req.Header.Set(nodeHeader, node)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, c := range []struct {
		name, path, token, node, body string
		want                          int
	}{
		{"no token", "/cascade/pinned", "", "a", "v=0", http.StatusUnauthorized},
		{"wrong token", "/cascade/pinned", "guess", "a", "v=0", http.StatusUnauthorized},
		{"no node", "/cascade/pinned", "admin-secret", "", "v=0", http.StatusBadRequest},
		{"bad node", "/cascade/pinned", "admin-secret", "a b", "v=0", http.StatusBadRequest},
		{"itself", "/cascade/pinned", "admin-secret", "b", "v=0", http.StatusBadRequest},
		{"unknown room", "/cascade/nowhere", "admin-secret", "c", "v=0", http.StatusNotFound},
		{"huge offer", "/cascade/pinned", "admin-secret", "c", strings.Repeat("a", maxSDP+1), http.StatusRequestEntityTooLarge},
		{"bad offer", "/cascade/pinned", "admin-secret", "c", "v=0\r\nnonsense", http.StatusBadRequest},
	} {
		if got := post(c.path, c.token, c.node, c.body); got != c.want {
			t.Errorf("%s: POST %s answered %d, want %d", c.name, c.path, got, c.want)
		}
	}
	if s := b.eps.cluster.casc.stats(); s.Refused < 6 {
		t.Errorf("B refused %d of the bad requests, want >= 6", s.Refused)
	}
	codectest.Require(t, 15*time.Second, func() error { // the bad requests broke no link
		if n := len(b.eps.cluster.casc.stats().Links); n != 2 {
			return fmt.Errorf("B has %d links, want 2", n)
		}
		return nil
	})

	// B's participants leave: its rooms close, the links end, A's remotes go; A keeps its rooms.
	cat.Close(websocket.StatusNormalClosure, "bye")
	dan.Close(websocket.StatusNormalClosure, "bye")
	codectest.Require(t, 20*time.Second, func() error {
		if s := a.m.Stats(); s.Remotes != 0 || s.Rooms != 2 || len(a.eps.cluster.casc.stats().Links) != 0 {
			return fmt.Errorf("A: %d remotes, %d rooms, %d links; want 0, 2, 0", s.Remotes, s.Rooms, len(a.eps.cluster.casc.stats().Links))
		}
		if b.m.Stats().Rooms != 0 {
			return fmt.Errorf("B still has %d rooms", b.m.Stats().Rooms)
		}
		return nil
	})
}
