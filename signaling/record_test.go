package signaling_test

import (
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/signalingtest"
)

// pageRecorder is a fake signaling.Recorder: it records the calls and tells the room's sessions, as the MCU
// does when a recording starts or stops.
type pageRecorder struct {
	conf  *signalingtest.Conference
	mu    sync.Mutex
	calls []string
}

func (r *pageRecorder) tell(room string, on bool) {
	r.mu.Lock()
	r.calls = append(r.calls, map[bool]string{true: "record ", false: "stop "}[on]+room)
	r.mu.Unlock()
	for _, s := range r.conf.Sessions() {
		if s.Room == room {
			s.Listener.OnRoster(mcu.RosterEvent{Type: mcu.RosterRoom, Room: mcu.RoomState{Recording: on}})
		}
	}
}

func (r *pageRecorder) RecordRoom(room string) error        { r.tell(room, true); return nil }
func (r *pageRecorder) StopRecordingRoom(room string) error { r.tell(room, false); return nil }

func (r *pageRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestRecordFromThePage: a participant whose token grants roomRecord may start and stop the room's
// recording ("joined" says canRecord), everyone gets "room" messages; one without it is refused, and a
// server without keys refuses everyone.
func TestRecordFromThePage(t *testing.T) {
	conf := &signalingtest.Conference{}
	rec := &pageRecorder{conf: conf}
	h, err := signaling.NewWebSocketHandler(conf, signaling.DefaultWebSocketConfig(),
		signaling.Params{Keys: testKeys, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	s := &server{h: h, srv: srv}
	join := func(name string, grant auth.VideoGrant) (*client, map[string]any) {
		cl := s.dial(t)
		cl.send(map[string]any{"type": "join", "room": "r", "token": token(t, name, name, grant, time.Hour)})
		m := cl.recv()
		if m["type"] != "joined" {
			t.Fatalf("%s: %v", name, m)
		}
		return cl, m
	}
	ann, joined := join("ann", auth.VideoGrant{Room: "r", RoomJoin: true, RoomRecord: true})
	if joined["canRecord"] != true || joined["recording"] != false {
		t.Errorf("ann joined %v: want canRecord, not recording", joined)
	}
	bob, joined := join("bob", auth.VideoGrant{Room: "r", RoomJoin: true})
	if joined["canRecord"] != false {
		t.Errorf("bob joined %v: want no canRecord", joined)
	}
	ann.recvAny() // participant-joined bob
	bob.send(map[string]any{"type": "record", "on": true})
	bob.expectError(signaling.CodeForbidden)
	ann.send(map[string]any{"type": "record", "on": true})
	ann.expect(`{"type":"room","recording":true,"streaming":false}`)
	bob.expect(`{"type":"room","recording":true,"streaming":false}`)
	ann.send(map[string]any{"type": "record", "on": false})
	ann.expect(`{"type":"room","recording":false,"streaming":false}`)
	bob.expect(`{"type":"room","recording":false,"streaming":false}`)
	ann.send(map[string]any{"type": "record"})
	ann.expectError(signaling.CodeBadMessage)
	if got := rec.got(); !slices.Equal(got, []string{"record r", "stop r"}) {
		t.Errorf("pageRecorder calls %v, want record r, stop r", got)
	}

	// Without keys nobody records from the page.
	open := newServer(t, &signalingtest.Conference{}, nil)
	cl := open.dial(t)
	cl.join("r", "Cat")
	cl.send(map[string]any{"type": "record", "on": true})
	cl.expectError(signaling.CodeForbidden)
}

// TestScreenAndPin: "screen" starts and stops a presentation (everyone gets "room" with the presenter),
// "pin" reaches the session; a screen without its stream id, or with the wildcard, is a bad message.
func TestScreenAndPin(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newServer(t, conf, nil)
	ann := s.dial(t)
	ann.join("r", "Ann")
	bob := s.dial(t)
	bob.join("r", "Bob")
	ann.recvAny() // participant-joined Bob
	ann.send(map[string]any{"type": "screen", "on": true, "stream": "{a-stream-id}"})
	want := `{"type":"room","recording":false,"streaming":false,"presenter":"f1","presenterName":"Ann"}`
	ann.expect(want)
	bob.expect(want)
	if got := session(t, conf, 0).Screen(); got != "{a-stream-id}" {
		t.Errorf("screen stream %q", got)
	}
	ann.send(map[string]any{"type": "screen", "on": false})
	bob.expect(`{"type":"room","recording":false,"streaming":false}`)
	bob.send(map[string]any{"type": "pin", "id": "f1"})
	bob.send(map[string]any{"type": "screen", "on": true})
	bob.expectError(signaling.CodeBadMessage)
	bob.send(map[string]any{"type": "screen", "on": true, "stream": "*"})
	bob.expectError(signaling.CodeBadMessage)
	if got := session(t, conf, 1).Pin(); got != "f1" {
		t.Errorf("pin %q, want f1", got)
	}
}
