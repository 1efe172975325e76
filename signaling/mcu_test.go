package signaling_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
)

// recvOnlyOffer is a browser-like offer that receives Opus and VP8 and sends nothing: enough for the MCU
// to answer, with no media stack in the test.
var recvOnlyOffer = strings.Join([]string{
	"v=0",
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1",
	"s=-",
	"t=0 0",
	"a=group:BUNDLE 0 1",
	"a=msid-semantic: WMS",
	"m=audio 9 UDP/TLS/RTP/SAVPF 111",
	"c=IN IP4 0.0.0.0",
	"a=rtcp:9 IN IP4 0.0.0.0",
	"a=ice-ufrag:Ab3d",
	"a=ice-pwd:abcdefghijklmnopqrstuvwx",
	"a=ice-options:trickle",
	"a=fingerprint:sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":"),
	"a=setup:actpass",
	"a=mid:0",
	"a=recvonly",
	"a=rtcp-mux",
	"a=rtpmap:111 opus/48000/2",
	"a=fmtp:111 minptime=10;useinbandfec=1",
	"m=video 9 UDP/TLS/RTP/SAVPF 96",
	"c=IN IP4 0.0.0.0",
	"a=rtcp:9 IN IP4 0.0.0.0",
	"a=ice-ufrag:Ab3d",
	"a=ice-pwd:abcdefghijklmnopqrstuvwx",
	"a=ice-options:trickle",
	"a=fingerprint:sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":"),
	"a=setup:actpass",
	"a=mid:1",
	"a=recvonly",
	"a=rtcp-mux",
	"a=rtpmap:96 VP8/90000",
	"a=rtcp-fb:96 nack",
	"a=rtcp-fb:96 nack pli",
	"",
}, "\r\n")

// TestRealMCU drives the real MCU over the WebSocket: a garbage offer is refused with bad-sdp and the
// session goes on (a second participant joins and sees the first; a real offer is answered).
func TestRealMCU(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real MCU")
	}
	cfg := mcu.DefaultConfig()
	cfg.IncludeLoopback = true
	cfg.ICEServers = []mcu.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := mcu.New(cfg, mcu.Params{Logger: log})
	if err != nil {
		t.Fatalf("mcu.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("mcu Close: %v", err)
		}
	})
	s := newServer(t, signaling.MCUConference(m), nil)

	ann := s.dial(t)
	joined := ann.join("real", "Ann")
	annID, _ := joined["id"].(string)
	if annID == "" || joined["room"] != "real" {
		t.Fatalf("joined = %v, want an id and room real", joined)
	}
	if ice, _ := joined["iceServers"].([]any); len(ice) != 1 {
		t.Errorf("joined iceServers = %v, want the configured STUN server", joined["iceServers"])
	}
	if ps, ok := joined["participants"].([]any); !ok || len(ps) != 0 {
		t.Errorf("joined participants = %v, want []", joined["participants"])
	}

	// Messages are handled in order, so the error also tells that the mute is done.
	ann.send(map[string]any{"type": "mute", "audio": true, "video": false})
	ann.send(map[string]any{"type": "offer", "sdp": "this is not SDP"})
	ann.expectError(signaling.CodeBadSDP)

	bob := s.dial(t)
	joined = bob.join("real", "Bob")
	ps, _ := joined["participants"].([]any)
	if len(ps) != 1 {
		t.Fatalf("Bob's joined lists %v, want Ann", joined["participants"])
	}
	want := map[string]any{"id": annID, "name": "Ann", "audioMuted": true, "videoMuted": false, "speaking": false}
	if p, _ := ps[0].(map[string]any); !mapsEqual(p, want) {
		t.Errorf("Bob's joined lists %v, want %v", ps[0], want)
	}
	bobID, _ := joined["id"].(string)
	got := ann.recv()
	if got["type"] != "participant-joined" {
		t.Fatalf("Ann got %v, want participant-joined", got)
	}
	if p, _ := got["participant"].(map[string]any); p["id"] != bobID || p["name"] != "Bob" {
		t.Errorf("Ann's participant-joined = %v, want Bob (%s)", got, bobID)
	}

	ann.send(map[string]any{"type": "offer", "sdp": recvOnlyOffer})
	for {
		got = ann.recv()
		if got["type"] != "candidate" { // trickled candidates may come first only after an answer
			break
		}
	}
	if sdp, _ := got["sdp"].(string); got["type"] != "answer" || !strings.Contains(sdp, "m=audio") ||
		!strings.Contains(sdp, "VP8/90000") {
		t.Fatalf("Ann's offer: got %v, want an answer with audio and VP8", got)
	}

	// Once a second the client hears about its downstream link (no media flows here: nothing sent yet).
	q := ann.firstQuality()
	if q["tier"] != "hd" || q["sentKbps"] == nil || q["estimatedKbps"] == nil || q["lossPct"] == nil ||
		q["keyframeRequests"] == nil || q["keyframesForced"] == nil {
		t.Errorf("quality message %v: want tier hd and the link's numbers", q)
	}

	bob.send(map[string]any{"type": "leave"})
	ann.expect(`{"type":"participant-left","id":"` + bobID + `"}`)
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
