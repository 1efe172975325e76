package signaling

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/openmcu/mcu/mcu"
)

func ptr[T any](v T) *T { return &v }

func TestDecodeMessage(t *testing.T) {
	tests := []struct {
		in   string
		want any       // when code is ""
		code ErrorCode // expected error code
	}{
		{in: `{"type":"join","room":"r","name":"n"}`, want: joinMsg{Room: "r", Name: "n"}},
		{in: `{"type":"join","room":"r","name":"n","layout":"speaker","maxKbps":800}`,
			want: joinMsg{Room: "r", Name: "n", Layout: mcu.LayoutSpeaker, HasLayout: true, MaxKbps: 800}},
		{in: `{"type":"join","room":"r","name":"n","layout":"grid","extra":[1,2]}`,
			want: joinMsg{Room: "r", Name: "n", Layout: mcu.LayoutGrid, HasLayout: true}},
		{in: `{"type":"offer","sdp":"v=0"}`, want: offerMsg{SDP: "v=0"}},
		{in: `{"type":"answer","sdp":"v=0"}`, want: answerMsg{SDP: "v=0"}},
		{in: `{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
			want: candidateMsg{Candidate: mcu.ICECandidate{Candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host",
				SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0))}}},
		{in: `{"type":"candidate","candidate":null}`, want: candidateMsg{End: true}},
		{in: `{"type":"candidate","candidate":{"candidate":""}}`, want: candidateMsg{End: true}},
		{in: `{"type":"mute","audio":true,"video":false}`, want: muteMsg{Audio: true}},
		{in: `{"type":"layout","layout":"speaker"}`, want: layoutMsg{Layout: mcu.LayoutSpeaker}},
		{in: `{"type":"caps","maxKbps":200}`, want: capsMsg{Caps: mcu.Caps{MaxBitrate: 200_000}}},
		{in: `{"type":"caps","maxWidth":320,"maxHeight":180,"maxFrameRate":15}`,
			want: capsMsg{Caps: mcu.Caps{MaxWidth: 320, MaxHeight: 180, MaxFrameRate: 15}}},
		{in: `{"type":"caps"}`, want: capsMsg{}},
		{in: `{"type":"leave"}`, want: leaveMsg{}},

		{in: ``, code: CodeBadJSON},
		{in: `{"type":"join"`, code: CodeBadJSON},
		{in: `not json`, code: CodeBadJSON},
		{in: `[]`, code: CodeBadMessage},
		{in: `"join"`, code: CodeBadMessage},
		{in: `null`, code: CodeBadMessage},
		{in: `{}`, code: CodeBadMessage},
		{in: `{"type":7}`, code: CodeBadMessage},
		{in: `{"type":"dance"}`, code: CodeUnknownType},
		{in: `{"type":""}`, code: CodeUnknownType},
		{in: `{"type":"join","room":"r"}`, code: CodeBadMessage},
		{in: `{"type":"join","room":"","name":"n"}`, code: CodeBadMessage},
		{in: `{"type":"join","room":1,"name":"n"}`, code: CodeBadMessage},
		{in: `{"type":"join","room":"r","name":"n","layout":"diagonal"}`, code: CodeBadMessage},
		{in: `{"type":"join","room":"r","name":"n","maxKbps":-1}`, code: CodeBadMessage},
		{in: `{"type":"join","room":"r","name":"n","maxKbps":1.5}`, code: CodeBadMessage},
		{in: `{"type":"join","room":"r","name":"n","maxKbps":"fast"}`, code: CodeBadMessage},
		{in: `{"type":"offer"}`, code: CodeBadMessage},
		{in: `{"type":"offer","sdp":""}`, code: CodeBadMessage},
		{in: `{"type":"answer","sdp":{}}`, code: CodeBadMessage},
		{in: `{"type":"candidate"}`, code: CodeBadMessage},
		{in: `{"type":"candidate","candidate":"candidate:1"}`, code: CodeBadMessage},
		{in: `{"type":"candidate","candidate":{"sdpMLineIndex":-1,"candidate":"c"}}`, code: CodeBadMessage},
		{in: `{"type":"mute","audio":true}`, code: CodeBadMessage},
		{in: `{"type":"mute","audio":"yes","video":false}`, code: CodeBadMessage},
		{in: `{"type":"layout"}`, code: CodeBadMessage},
		{in: `{"type":"caps","maxKbps":-1}`, code: CodeBadMessage},
		{in: `{"type":"caps","maxKbps":"lots"}`, code: CodeBadMessage},
		{in: `{"type":"layout","layout":3}`, code: CodeBadMessage},
	}
	for _, tt := range tests {
		got, err := decodeMessage([]byte(tt.in))
		if tt.code == "" {
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodeMessage(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tt.code || e.Message == "" {
			t.Errorf("decodeMessage(%s) = %#v, %v; want error code %s", tt.in, got, err, tt.code)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","room":"r","name":"n","layout":"grid","maxKbps":500}`,
		`{"type":"offer","sdp":"v=0\r\n"}`,
		`{"type":"candidate","candidate":{"candidate":"candidate:1","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"candidate","candidate":null}`,
		`{"type":"mute","audio":true,"video":false}`,
		`{"type":"layout","layout":"speaker"}`,
		`{"type":"leave"}`, `{"type":"\u00e9"}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := decodeMessage(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("decodeMessage(%q): error %v is not a coded *Error", data, err)
			}
			if msg != nil {
				t.Fatalf("decodeMessage(%q) = %#v with error %v", data, msg, err)
			}
			if !json.Valid(data) && e.Code != CodeBadJSON {
				t.Fatalf("decodeMessage(%q): invalid JSON gave %s", data, e.Code)
			}
			// The error must encode as a valid UTF-8 message for the client.
			b, jerr := json.Marshal(errorOutOf(e))
			if jerr != nil || !utf8.Valid(b) {
				t.Fatalf("error message for %q does not encode: %v", data, jerr)
			}
			return
		}
		switch m := msg.(type) {
		case joinMsg:
			if m.Room == "" || m.Name == "" || m.MaxKbps < 0 {
				t.Fatalf("decodeMessage(%q) accepted %#v", data, m)
			}
		case offerMsg:
			if m.SDP == "" {
				t.Fatalf("decodeMessage(%q) accepted an empty offer", data)
			}
		case answerMsg:
			if m.SDP == "" {
				t.Fatalf("decodeMessage(%q) accepted an empty answer", data)
			}
		case candidateMsg:
			if !m.End && m.Candidate.Candidate == "" {
				t.Fatalf("decodeMessage(%q) accepted an empty candidate", data)
			}
		case muteMsg, layoutMsg, leaveMsg:
		default:
			t.Fatalf("decodeMessage(%q) = %#v (%T)", data, msg, msg)
		}
	})
}

func TestRosterFold(t *testing.T) {
	a := mcu.ParticipantInfo{ID: "a", Name: "Ann"}
	b := mcu.ParticipantInfo{ID: "b", Name: "Bob"}
	aMuted := a
	aMuted.AudioMuted = true
	var r roster
	for _, e := range []mcu.RosterEvent{
		{Type: mcu.RosterJoined, Participant: a},
		{Type: mcu.RosterSpeaking, Participant: mcu.ParticipantInfo{ID: "x", Speaking: true}}, // unknown: ignored
		{Type: mcu.RosterJoined, Participant: b},
		{Type: mcu.RosterMuted, Participant: aMuted},
		{Type: mcu.RosterLeft, Participant: b},
		{Type: mcu.RosterJoined, Participant: b},
	} {
		r.apply(e)
	}
	got := r.participants()
	want := []wireParticipant{{ID: "a", Name: "Ann", AudioMuted: true}, {ID: "b", Name: "Bob"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("participants = %+v, want %+v", got, want)
	}
}

func TestOutboxOverflow(t *testing.T) {
	o := newOutbox(3)
	push := func(id string) { o.push(participantLeftOut{Type: typeParticipantLeft, ID: id}) }
	push("a")
	push("b")
	if b, cl := o.take(); string(b) != `{"type":"participant-left","id":"a"}` || cl != nil {
		t.Fatalf("take = %s, %+v; want a's message", b, cl)
	}
	push("c")
	push("d")
	for _, want := range []string{"b", "c", "d"} {
		b, cl := o.take()
		if !strings.Contains(string(b), `"id":"`+want+`"`) || cl != nil {
			t.Fatalf("take = %s, %+v; want %s's message", b, cl, want)
		}
	}
	if b, cl := o.take(); b != nil || cl != nil {
		t.Fatalf("take from an empty outbox = %s, %+v", b, cl)
	}
	for _, id := range []string{"e", "f", "g", "h"} {
		push(id)
	}
	b, cl := o.take()
	if b != nil || cl == nil || !cl.overflow {
		t.Fatalf("take after 4 pushes into 3 = %s, %+v; want nothing and an overflow", b, cl)
	}
	push("i")
	if b, _ := o.take(); b != nil {
		t.Errorf("push after overflow queued %s", b)
	}
}

// TestOutboxCoalescesState: state messages replace the one of the same subject still queued, in its
// place; other messages keep their order; 3000 toggles into a queue of 3 overflow nothing.
func TestOutboxCoalescesState(t *testing.T) {
	o := newOutbox(3)
	muted := func(id string, audio bool) {
		o.roster(mcu.RosterEvent{Type: mcu.RosterMuted, Participant: mcu.ParticipantInfo{ID: mcu.ParticipantID(id), AudioMuted: audio}})
	}
	o.push(participantLeftOut{Type: typeParticipantLeft, ID: "x"})
	for i := range 3000 {
		muted("a", i%2 == 0)
		muted("b", i%3 == 0)
	}
	want := []string{ // the states of the last toggle, i = 2999: neither even nor a multiple of 3
		`{"type":"participant-left","id":"x"}`,
		`{"type":"muted","id":"a","audio":false,"video":false}`,
		`{"type":"muted","id":"b","audio":false,"video":false}`,
	}
	var got []string
	for {
		b, cl := o.take()
		if cl != nil {
			t.Fatalf("close request %+v after %q", cl, got)
		}
		if b == nil {
			break
		}
		got = append(got, string(b))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
	if n := o.coalescedCount(); n != 2*3000-2 {
		t.Errorf("coalesced %d, want %d", n, 2*3000-2)
	}
	// Taken states are no longer coalesced into: the next one is queued anew.
	muted("a", true)
	if b, _ := o.take(); string(b) != `{"type":"muted","id":"a","audio":true,"video":false}` {
		t.Errorf("after taking: %s", b)
	}
}

func TestOutboxJoin(t *testing.T) {
	o := newOutbox(10)
	o.startJoin()
	o.roster(mcu.RosterEvent{Type: mcu.RosterJoined, Participant: mcu.ParticipantInfo{ID: "a", Name: "Ann"}})
	o.closed(errors.New("ice failed"))
	if b, cl := o.take(); b != nil || cl != nil {
		t.Fatalf("take while joining = %s, %+v; want nothing", b, cl)
	}
	o.finishJoin(joinedOut{Type: typeJoined, ID: "me", Room: "r", ICEServers: []wireICEServer{}})
	o.roster(mcu.RosterEvent{Type: mcu.RosterLeft, Participant: mcu.ParticipantInfo{ID: "a"}}) // after the close: dropped
	var got []string
	for {
		b, cl := o.take()
		if b == nil {
			if cl == nil || cl.overflow || cl.code != websocket.StatusNormalClosure {
				t.Errorf("close request = %+v, want a normal close", cl)
			}
			break
		}
		got = append(got, string(b))
	}
	want := []string{
		`{"type":"joined","id":"me","room":"r","iceServers":[],"participants":[{"id":"a","name":"Ann","audioMuted":false,"videoMuted":false,"speaking":false}],"recording":false,"streaming":false,"canRecord":false}`,
		`{"type":"error","code":"internal","message":"the media connection was lost; rejoin"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

func TestWebSocketConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*WebSocketConfig)
		ok     bool
	}{
		{"default", func(*WebSocketConfig) {}, true},
		{"any origin", func(c *WebSocketConfig) { c.OriginPatterns = []string{"*"} }, true},
		{"bad pattern", func(c *WebSocketConfig) { c.OriginPatterns = []string{"[unclosed"} }, false},
		{"tiny read limit", func(c *WebSocketConfig) { c.ReadLimit = 10 }, false},
		{"no queue", func(c *WebSocketConfig) { c.QueueSize = 0 }, false},
		{"no write timeout", func(c *WebSocketConfig) { c.WriteTimeout = 0 }, false},
		{"no ping interval", func(c *WebSocketConfig) { c.PingInterval = 0 }, false},
		{"no ping timeout", func(c *WebSocketConfig) { c.PingTimeout = 0 }, false},
	}
	for _, tt := range tests {
		cfg := DefaultWebSocketConfig()
		tt.change(&cfg)
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate(%+v) = %v, want ok %t", tt.name, cfg, err, tt.ok)
		}
	}
}

// TestOutboxRoomState: the room's state announced while joining goes into "joined"; later changes are
// "room" messages, coalesced to the latest while the client is behind.
func TestOutboxRoomState(t *testing.T) {
	o := newOutbox(10)
	o.startJoin()
	o.roster(mcu.RosterEvent{Type: mcu.RosterRoom, Room: mcu.RoomState{Recording: true}})
	o.finishJoin(joinedOut{Type: typeJoined, ID: "me", Room: "r", ICEServers: []wireICEServer{}})
	o.roster(mcu.RosterEvent{Type: mcu.RosterRoom, Room: mcu.RoomState{Recording: true, Streaming: true}})
	o.roster(mcu.RosterEvent{Type: mcu.RosterRoom, Room: mcu.RoomState{Streaming: true}})
	var got []string
	for b, _ := o.take(); b != nil; b, _ = o.take() {
		got = append(got, string(b))
	}
	want := []string{
		`{"type":"joined","id":"me","room":"r","iceServers":[],"participants":[],"recording":true,"streaming":false,"canRecord":false}`,
		`{"type":"room","recording":false,"streaming":true}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
	if n := o.coalescedCount(); n != 1 {
		t.Errorf("%d coalesced, want 1", n)
	}
}
