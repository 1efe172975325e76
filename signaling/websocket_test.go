package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/signalingtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a WebSocketHandler behind an httptest server.
type server struct {
	h   *signaling.WebSocketHandler
	srv *httptest.Server
}

func newServer(t *testing.T, conf signaling.Conference, change func(*signaling.WebSocketConfig)) *server {
	t.Helper()
	cfg := signaling.DefaultWebSocketConfig()
	if change != nil {
		change(&cfg)
	}
	h, err := signaling.NewWebSocketHandler(conf, cfg, signaling.Params{})
	if err != nil {
		t.Fatalf("NewWebSocketHandler: %v", err)
	}
	s := &server{h: h, srv: httptest.NewServer(h)}
	t.Cleanup(func() {
		h.Close()
		s.srv.Close()
	})
	return s
}

func (s *server) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

// client is the test's end of one socket.
type client struct {
	t  *testing.T
	ws *websocket.Conn
	// quality holds the "quality" messages read so far: recv skips them (they come every second).
	quality []map[string]any
}

func (s *server) dial(t *testing.T) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.url(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", s.url(), err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

func (c *client) send(msg map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// recv returns the next message but "quality", decoded into generic JSON values.
func (c *client) recv() map[string]any {
	c.t.Helper()
	for {
		m := c.recvAny()
		if m["type"] != "quality" {
			return m
		}
		c.quality = append(c.quality, m)
	}
}

// firstQuality returns the first "quality" message, reading (and skipping others) until one came.
func (c *client) firstQuality() map[string]any {
	c.t.Helper()
	for len(c.quality) == 0 {
		if m := c.recvAny(); m["type"] == "quality" {
			c.quality = append(c.quality, m)
		}
	}
	return c.quality[0]
}

// recvAny returns the next message, decoded into generic JSON values.
func (c *client) recvAny() map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("read a %v frame, want text", typ)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("read %s: %v", b, err)
	}
	return m
}

// expect reads the next message and checks that it equals want exactly (as JSON).
func (c *client) expect(want string) map[string]any {
	c.t.Helper()
	got := c.recv()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		c.t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(got, w) {
		gb, _ := json.Marshal(got)
		c.t.Fatalf("got  %s\nwant %s", gb, want)
	}
	return got
}

// expectError reads the next message and checks that it is an error with code.
func (c *client) expectError(code signaling.ErrorCode) {
	c.t.Helper()
	m := c.recv()
	if m["type"] != "error" || m["code"] != string(code) {
		c.t.Fatalf("got %v, want an error %q", m, code)
	}
	if msg, _ := m["message"].(string); msg == "" || len(m) != 3 {
		c.t.Fatalf("error %v: want exactly type, code and a non-empty message", m)
	}
}

// expectClosed reads until the socket closes and returns the close status.
func (c *client) expectClosed() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.t.Fatalf("socket still open: %v", err)
			}
			return websocket.CloseStatus(err)
		}
		c.t.Logf("read while waiting for the close: %s", b)
	}
}

// join joins room as name and returns the "joined" message.
func (c *client) join(room, name string) map[string]any {
	c.t.Helper()
	c.send(map[string]any{"type": "join", "room": room, "name": name, "layout": "grid"})
	m := c.recv()
	if m["type"] != "joined" {
		c.t.Fatalf("join %s as %s: got %v, want joined", room, name, m)
	}
	return m
}

func session(t *testing.T, conf *signalingtest.Conference, i int) *signalingtest.Session {
	t.Helper()
	ss := conf.Sessions()
	if len(ss) <= i {
		t.Fatalf("%d sessions, want at least %d", len(ss), i+1)
	}
	return ss[i]
}

func TestJoinedListsOthersAndICEServers(t *testing.T) {
	conf := &signalingtest.Conference{Servers: []mcu.ICEServer{
		{URLs: []string{"stun:stun.example.org:3478"}},
		{URLs: []string{"turn:turn.example.org"}, Username: "u", Credential: "c"},
	}}
	s := newServer(t, conf, nil)
	ice := `[{"urls":["stun:stun.example.org:3478"]},{"urls":["turn:turn.example.org"],"username":"u","credential":"c"}]`

	ann := s.dial(t)
	ann.send(map[string]any{"type": "join", "room": "r1", "name": "Ann", "layout": "speaker", "maxKbps": 800})
	ann.expect(`{"type":"joined","id":"f1","room":"r1","name":"Ann","iceServers":` + ice +
		`,"participants":[],"recording":false,"streaming":false,"canRecord":false}`)
	if l, n := session(t, conf, 0).Layout(); l != mcu.LayoutSpeaker || n != 1 {
		t.Errorf("layout after join with speaker = %v (set %d times), want speaker once", l, n)
	}
	if c := session(t, conf, 0).Caps(); len(c) != 1 || c[0] != (mcu.Caps{MaxBitrate: 800_000}) {
		t.Errorf("caps after join with maxKbps 800 = %+v, want one SetCaps of 800 kbit/s", c)
	}

	bob := s.dial(t)
	bob.send(map[string]any{"type": "join", "room": "r1", "name": "Bob"})
	bob.expect(`{"type":"joined","id":"f2","room":"r1","name":"Bob","iceServers":` + ice + `,"participants":[` +
		`{"id":"f1","name":"Ann","audioMuted":false,"videoMuted":false,"speaking":false}],"recording":false,"streaming":false,"canRecord":false}`)
	if _, n := session(t, conf, 1).Layout(); n != 0 {
		t.Errorf("join without a layout called SetLayout %d times", n)
	}
	if c := session(t, conf, 1).Caps(); len(c) != 0 {
		t.Errorf("join without maxKbps called SetCaps: %+v", c)
	}
	ann.expect(`{"type":"participant-joined","participant":` +
		`{"id":"f2","name":"Bob","audioMuted":false,"videoMuted":false,"speaking":false}}`)

	// Another room is another roster.
	cat := s.dial(t)
	cat.expect2Joined(t, "r2", "Cat", `{"type":"joined","id":"f3","room":"r2","name":"Cat","iceServers":`+ice+
		`,"participants":[],"recording":false,"streaming":false,"canRecord":false}`)

	// Mute reaches the session and the others; leaving reaches the others.
	bob.send(map[string]any{"type": "mute", "audio": true, "video": false})
	ann.expect(`{"type":"muted","id":"f2","audio":true,"video":false}`)
	if a, v := session(t, conf, 1).Muted(); !a || v {
		t.Errorf("after mute audio: Muted() = %t, %t", a, v)
	}
	bob.send(map[string]any{"type": "leave"})
	ann.expect(`{"type":"participant-left","id":"f2"}`)
	if code := bob.expectClosed(); code != websocket.StatusNormalClosure {
		t.Errorf("after leave: close status %v, want normal", code)
	}
}

func (c *client) expect2Joined(t *testing.T, room, name, want string) {
	t.Helper()
	c.send(map[string]any{"type": "join", "room": room, "name": name})
	c.expect(want)
}

func TestNegotiation(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	c := s.dial(t)
	c.join("r", "Ann")
	sess := session(t, conf, 0)

	c.send(map[string]any{"type": "offer", "sdp": "v=0 offer"})
	c.expect(`{"type":"answer","sdp":"answer to v=0 offer"}`)

	// Client candidates reach the session; the end marker is ignored (no reply).
	c.send(map[string]any{"type": "candidate", "candidate": map[string]any{
		"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})
	c.sendRaw(`{"type":"candidate","candidate":null}`)
	c.send(map[string]any{"type": "answer", "sdp": "v=0 answer"})
	c.send(map[string]any{"type": "offer", "sdp": "v=0 again"})
	c.expect(`{"type":"answer","sdp":"answer to v=0 again"}`)
	cands := sess.Candidates()
	if len(cands) != 1 || cands[0].Candidate != "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host" ||
		cands[0].SDPMid == nil || *cands[0].SDPMid != "0" || cands[0].SDPMLineIndex == nil || *cands[0].SDPMLineIndex != 0 {
		t.Errorf("session candidates = %+v, want the one sent with sdpMid 0, sdpMLineIndex 0", cands)
	}
	if a := sess.Answers(); !reflect.DeepEqual(a, []string{"v=0 answer"}) {
		t.Errorf("session answers = %q", a)
	}

	// Server candidates and offers reach the client in the wire shape.
	mid, idx := "1", uint16(1)
	sess.Listener.OnICECandidate(mcu.ICECandidate{Candidate: "candidate:2 1 udp 1 192.0.2.2 40000 typ host",
		SDPMid: &mid, SDPMLineIndex: &idx})
	c.expect(`{"type":"candidate","candidate":{"candidate":"candidate:2 1 udp 1 192.0.2.2 40000 typ host","sdpMid":"1","sdpMLineIndex":1}}`)

	// Layout changes reach the session.
	c.send(map[string]any{"type": "layout", "layout": "speaker"})
	codectest.Eventually(t, 10*time.Second, "layout speaker", func() bool { l, n := sess.Layout(); return l == mcu.LayoutSpeaker && n == 2 })
	c.send(map[string]any{"type": "layout", "layout": "grid"})
	codectest.Eventually(t, 10*time.Second, "layout grid", func() bool { l, n := sess.Layout(); return l == mcu.LayoutGrid && n == 3 })
	c.send(map[string]any{"type": "mute", "audio": false, "video": true})
	codectest.Eventually(t, 10*time.Second, "video muted", func() bool { a, v := sess.Muted(); return !a && v })

	// Caps reach the session (a low-power device asking for 320x180 at 15 fps and 300 kbit/s).
	c.send(map[string]any{"type": "caps", "maxKbps": 300, "maxWidth": 320, "maxHeight": 180, "maxFrameRate": 15})
	want := mcu.Caps{MaxBitrate: 300_000, MaxWidth: 320, MaxHeight: 180, MaxFrameRate: 15}
	codectest.Eventually(t, 10*time.Second, "caps", func() bool { cs := sess.Caps(); return len(cs) > 0 && cs[len(cs)-1] == want })
}

func TestRosterEventsWireShape(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	c := s.dial(t)
	c.join("r", "Ann")
	l := session(t, conf, 0).Listener
	p := mcu.ParticipantInfo{ID: "p9", Name: "Zoë", AudioMuted: true, VideoMuted: false, Speaking: true}
	tests := []struct {
		typ  mcu.RosterEventType
		want string
	}{
		{mcu.RosterJoined, `{"type":"participant-joined","participant":{"id":"p9","name":"Zoë","audioMuted":true,"videoMuted":false,"speaking":true}}`},
		{mcu.RosterSpeaking, `{"type":"speaking","id":"p9","speaking":true}`},
		{mcu.RosterMuted, `{"type":"muted","id":"p9","audio":true,"video":false}`},
		{mcu.RosterLeft, `{"type":"participant-left","id":"p9"}`},
	}
	for _, tt := range tests {
		l.OnRoster(mcu.RosterEvent{Type: tt.typ, Participant: p})
		c.expect(tt.want)
	}
}

func TestClientMistakesKeepTheConnection(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	c := s.dial(t)
	before := []struct {
		in   string
		code signaling.ErrorCode
	}{
		{`hello`, signaling.CodeBadJSON},
		{`{"type":"join"`, signaling.CodeBadJSON},
		{`[1,2]`, signaling.CodeBadMessage},
		{`{"room":"r"}`, signaling.CodeBadMessage},
		{`{"type":"knock"}`, signaling.CodeUnknownType},
		{`{"type":"join","room":"r"}`, signaling.CodeBadMessage},
		{`{"type":"join","room":"r","name":"n","layout":"mosaic"}`, signaling.CodeBadMessage},
		{`{"type":"join","room":"r","name":"` + strings.Repeat("n", 200) + `"}`, signaling.CodeBadMessage},
		{`{"type":"offer","sdp":"v=0"}`, signaling.CodeNotJoined},
		{`{"type":"candidate","candidate":{"candidate":"candidate:1"}}`, signaling.CodeNotJoined},
		{`{"type":"mute","audio":true,"video":true}`, signaling.CodeNotJoined},
		{`{"type":"layout","layout":"grid"}`, signaling.CodeNotJoined},
	}
	for _, tt := range before {
		c.sendRaw(tt.in)
		c.expectError(tt.code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, []byte(`{"type":"leave"}`)); err != nil {
		t.Fatal(err)
	}
	c.expectError(signaling.CodeBadMessage)
	if n := len(conf.Sessions()); n != 0 {
		t.Fatalf("%d sessions after refused joins", n)
	}

	c.join("r", "Ann")
	after := []struct {
		in   string
		code signaling.ErrorCode
	}{
		{`{"type":"join","room":"r","name":"Ann"}`, signaling.CodeAlreadyJoined},
		{`{"type":"join","room":"other","name":"Ann"}`, signaling.CodeAlreadyJoined},
		{`{"type":"offer"}`, signaling.CodeBadMessage},
		{`{"type":"offer","sdp":"garbage"}`, signaling.CodeBadSDP},
		{`{"type":"answer","sdp":"garbage"}`, signaling.CodeBadSDP},
		{`{"type":"candidate","candidate":{"candidate":"garbage"}}`, signaling.CodeBadSDP},
		{`{"type":"candidate"}`, signaling.CodeBadMessage},
		{`{"type":"mute","audio":"yes","video":false}`, signaling.CodeBadMessage},
		{`{"type":"layout","layout":3}`, signaling.CodeBadMessage},
		{`{"type":1}`, signaling.CodeBadMessage},
		{`{{{`, signaling.CodeBadJSON},
		{`{"type":"renegotiate"}`, signaling.CodeUnknownType},
	}
	for _, tt := range after {
		c.sendRaw(tt.in)
		c.expectError(tt.code)
	}
	c.send(map[string]any{"type": "offer", "sdp": "v=0 ok"})
	c.expect(`{"type":"answer","sdp":"answer to v=0 ok"}`)
	if n := len(conf.Sessions()); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestJoinRefusals(t *testing.T) {
	conf := &signalingtest.Conference{MaxPerRoom: 1, JoinErr: func(room, _ string) error {
		switch room {
		case "closing":
			return mcu.ErrClosed
		case "broken":
			return errors.New("mcu: cannot create room: out of encoders at 0xdeadbeef")
		}
		return nil
	}}
	s := newServer(t, conf, nil)
	s.dial(t).join("small", "Ann")

	c := s.dial(t)
	for _, tt := range []struct {
		room string
		code signaling.ErrorCode
	}{
		{"small", signaling.CodeRoomFull},
		{"closing", signaling.CodeInternal},
		{"broken", signaling.CodeInternal},
	} {
		c.send(map[string]any{"type": "join", "room": tt.room, "name": "Bob"})
		m := c.recv()
		if m["type"] != "error" || m["code"] != string(tt.code) {
			t.Fatalf("join %s: got %v, want error %s", tt.room, m, tt.code)
		}
		if msg := m["message"].(string); strings.Contains(msg, "0xdeadbeef") || strings.Contains(msg, "mcu:") {
			t.Errorf("join %s: error message %q leaks internal details", tt.room, msg)
		}
	}
	c.join("big", "Bob") // still usable
}

func TestSocketCloseLeavesOnce(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)

	a := s.dial(t)
	a.join("r", "Ann")
	b := s.dial(t)
	b.join("r", "Bob")
	a.recv() // participant-joined Bob

	// Closing the socket makes the participant leave.
	b.ws.Close(websocket.StatusNormalClosure, "bye")
	a.expect(`{"type":"participant-left","id":"f2"}`)
	codectest.Eventually(t, 10*time.Second, "the socket to be served out", func() bool { return s.h.Stats().Connections == 1 })
	if n := session(t, conf, 1).Leaves(); n != 1 {
		t.Errorf("Leave called %d times after the socket closed, want 1", n)
	}

	// "leave", then the socket closes: still one Leave.
	a.send(map[string]any{"type": "leave"})
	if code := a.expectClosed(); code != websocket.StatusNormalClosure {
		t.Errorf("close status after leave = %v, want normal", code)
	}
	codectest.Eventually(t, 10*time.Second, "no sockets", func() bool { return s.h.Stats().Connections == 0 })
	if n := session(t, conf, 0).Leaves(); n != 1 {
		t.Errorf("Leave called %d times after leave and close, want 1", n)
	}
}

func TestRemovedByMCUClosesSocket(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	a := s.dial(t)
	a.join("r", "Ann")
	b := s.dial(t)
	b.join("r", "Bob")
	a.expect(`{"type":"participant-joined","participant":{"id":"f2","name":"Bob","audioMuted":false,"videoMuted":false,"speaking":false}}`)

	conf.Remove(session(t, conf, 0), errors.New("connection failed"))
	a.expectError(signaling.CodeInternal)
	if code := a.expectClosed(); code != websocket.StatusNormalClosure {
		t.Errorf("close status after removal = %v, want normal", code)
	}
	b.expect(`{"type":"participant-left","id":"f1"}`)
	conf.Remove(session(t, conf, 1), mcu.ErrClosed)
	b.expectError(signaling.CodeInternal)
	if code := b.expectClosed(); code != websocket.StatusGoingAway {
		t.Errorf("close status after MCU close = %v, want going away", code)
	}
	codectest.Eventually(t, 10*time.Second, "no sockets", func() bool { return s.h.Stats().Connections == 0 })
	for i := range 2 {
		if n := session(t, conf, i).Leaves(); n != 1 {
			t.Errorf("session %d: Leave called %d times, want 1", i, n)
		}
	}
}

func TestSlowClientIsDropped(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	c := s.dial(t)
	c.join("r", "Ann")
	l := session(t, conf, 0).Listener

	// The client reads nothing more. 64 KiB names fill the socket buffers (32 MiB in all), then the queue.
	// No callback may wait for the socket: each one only encodes and queues (or does nothing once the
	// client is being dropped), so even the slowest stays far below the 500 ms write deadline.
	big := mcu.ParticipantInfo{ID: "p", Name: strings.Repeat("x", 64<<10)}
	var slowest time.Duration
	for range 500 {
		start := time.Now()
		l.OnRoster(mcu.RosterEvent{Type: mcu.RosterJoined, Participant: big})
		slowest = max(slowest, time.Since(start))
	}
	if slowest > 250*time.Millisecond {
		t.Errorf("the slowest callback into a stalled client took %v: the producer blocked", slowest)
	}
	codectest.Eventually(t, 10*time.Second, "the slow client to be dropped", func() bool {
		st := s.h.Stats()
		return st.Dropped == 1 && st.Connections == 0
	})
	if n := session(t, conf, 0).Leaves(); n != 1 {
		t.Errorf("Leave called %d times for the dropped client, want 1", n)
	}
}

func TestUnresponsiveClientIsDropped(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, func(c *signaling.WebSocketConfig) {
		c.PingInterval, c.PingTimeout = 50*time.Millisecond, 100*time.Millisecond
	})
	c := s.dial(t)
	c.join("r", "Ann")
	// A coder/websocket client answers pings only while it reads: not reading is vanishing.
	codectest.Eventually(t, 10*time.Second, "the silent client to be dropped", func() bool { return s.h.Stats().Connections == 0 })
	if st := s.h.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
	if n := session(t, conf, 0).Leaves(); n != 1 {
		t.Errorf("Leave called %d times, want 1", n)
	}
}

func TestPingsKeepAReadingClient(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, func(c *signaling.WebSocketConfig) {
		c.PingInterval, c.PingTimeout = 20*time.Millisecond, time.Second
	})
	c := s.dial(t)
	c.join("r", "Ann")
	// Reading answers lets the client answer the pings meanwhile.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		c.send(map[string]any{"type": "offer", "sdp": "v=0"})
		c.expect(`{"type":"answer","sdp":"answer to v=0"}`)
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.h.Stats(); st.Dropped != 0 || st.Connections != 1 {
		t.Errorf("a client that kept reading: %+v, want 1 connection and no drops", st)
	}
}

func TestHandlerClose(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	c := s.dial(t)
	c.join("r", "Ann")
	idle := s.dial(t) // never joins

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.h.Close()
	}()
	if code := c.expectClosed(); code != websocket.StatusGoingAway {
		t.Errorf("close status on shutdown = %v, want going away", code)
	}
	if code := idle.expectClosed(); code != websocket.StatusGoingAway {
		t.Errorf("close status of an idle socket on shutdown = %v, want going away", code)
	}
	<-done
	if n := session(t, conf, 0).Leaves(); n != 1 {
		t.Errorf("Leave called %d times on shutdown, want 1", n)
	}
	resp, err := http.Get(s.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request after Close: status %d, want 503", resp.StatusCode)
	}
}

func TestOrigins(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, func(c *signaling.WebSocketConfig) {
		c.OriginPatterns = append(c.OriginPatterns, "meet.example.org")
	})
	host := strings.TrimPrefix(s.srv.URL, "http://")
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},               // not a browser
		{"http://" + host, true}, // the server's own page
		{"http://localhost:8080", true},
		{"http://127.0.0.1:3000", true},
		{"http://[::1]:3000", true},
		{"https://meet.example.org", true},
		{"https://evil.example.com", false},
		{"http://localhost.evil.example.com", false},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hdr := http.Header{}
		if tt.origin != "" {
			hdr.Set("Origin", tt.origin)
		}
		ws, resp, err := websocket.Dial(ctx, s.url(), &websocket.DialOptions{HTTPHeader: hdr})
		cancel()
		if (err == nil) != tt.ok {
			t.Errorf("dial with Origin %q: err %v, want ok %t", tt.origin, err, tt.ok)
		}
		if err == nil {
			ws.Close(websocket.StatusNormalClosure, "")
		} else if resp != nil && resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial with Origin %q: status %d, want 403", tt.origin, resp.StatusCode)
		}
	}
}

func TestMessageTooBigClosesSocket(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	c := s.dial(t)
	c.join("r", "Ann")
	c.send(map[string]any{"type": "offer", "sdp": "v=0" + strings.Repeat("a", 60<<10)}) // fits in 64 KiB
	if m := c.recv(); m["type"] != "answer" {
		t.Fatalf("60 KiB offer: got %v, want an answer", m["type"])
	}
	// The server closes as soon as the frame header says 70 KiB, so the client's write may itself fail
	// with a reset before it can read the close frame; the socket must end either way.
	big, err := json.Marshal(map[string]any{"type": "offer", "sdp": "v=0" + strings.Repeat("a", 70<<10)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	werr := c.ws.Write(ctx, websocket.MessageText, big)
	cancel()
	if code := c.expectClosed(); code != websocket.StatusMessageTooBig && werr == nil {
		t.Errorf("close status after a 70 KiB message = %v, want message too big", code)
	}
	codectest.Eventually(t, 10*time.Second, "no sockets", func() bool { return s.h.Stats().Connections == 0 })
	if n := session(t, conf, 0).Leaves(); n != 1 {
		t.Errorf("Leave called %d times, want 1", n)
	}
}
