package signaling_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// TestMuteFloodDisconnectsNobody: one participant sends 3000 mute toggles in about a second. Each toggle
// is a roster event for every other member; the others, who read nothing meanwhile, get the latest state
// rather than every toggle (coalesced per subject), so nobody else is dropped and the room keeps working.
// With the default rate limit the flooder is also refused, told so, and closed for abuse; with the limit
// lifted, coalescing alone keeps the others' queues from overflowing. Bob and Cat have a 2 KiB socket
// receive buffer, so they really are behind: without coalescing their queues of 100 overflow.
func TestMuteFloodDisconnectsNobody(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real MCU")
	}
	for _, limited := range []bool{true, false} {
		t.Run(map[bool]string{true: "rate limited", false: "coalescing only"}[limited], func(t *testing.T) {
			cfg := mcu.DefaultConfig()
			cfg.IncludeLoopback = true
			m, err := mcu.New(cfg, mcu.Params{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			s := newServer(t, signaling.MCUConference(m), func(c *signaling.WebSocketConfig) {
				if !limited {
					c.MessageRate, c.MessageBurst, c.AbuseLimit = 10000, 100000, 1000000
				}
			})
			ann := s.dial(t)
			annID, _ := ann.join("flood", "Ann")["id"].(string)
			bob, cat := s.dialSmall(t), s.dialSmall(t)
			bob.join("flood", "Bob")
			cat.join("flood", "Cat")
			ann.recv() // participant-joined Bob
			ann.recv() // participant-joined Cat
			bob.recv() // participant-joined Cat

			start := time.Now()
			for i := range 3000 {
				ann.send(map[string]any{"type": "mute", "audio": i%2 == 0, "video": false})
			}
			t.Logf("3000 toggles sent in %v", time.Since(start))
			if limited {
				ann.expectError(signaling.CodeRateLimited)
				if code := ann.expectClosed(); code != websocket.StatusPolicyViolation {
					t.Errorf("the flooder's socket closed with %v, want policy violation", code)
				}
			} else {
				ann.send(map[string]any{"type": "mute", "audio": false, "video": true}) // the last state
			}
			st := s.h.Stats()
			if st.Dropped != 0 {
				t.Fatalf("%d clients dropped as too slow", st.Dropped)
			}
			// Bob and Cat read what came: a few "muted" about Ann at most, ending with her last state.
			for _, c := range []*client{bob, cat} {
				n, last := 0, map[string]any(nil)
				for {
					msg := c.recv()
					if msg["type"] == "muted" && msg["id"] == annID {
						n++
						last = msg
						if !limited && msg["video"] == true && msg["audio"] == false {
							break
						}
						continue
					}
					if limited && msg["type"] == "participant-left" && msg["id"] == annID {
						break
					}
					t.Fatalf("unexpected %v", msg)
				}
				t.Logf("%d muted messages about Ann, the last %v", n, last)
			}
			// The room still works: Bob mutes, Cat hears of it.
			bob.send(map[string]any{"type": "mute", "audio": true, "video": true})
			for {
				msg := cat.recv()
				if msg["type"] == "muted" && msg["audio"] == true && msg["video"] == true && msg["id"] != annID {
					break
				}
			}
			if st := s.h.Stats(); st.Dropped != 0 || st.Connections < 2 {
				t.Errorf("after the flood: %+v", st)
			}
		})
	}
}

// dialSmall is dial with a 2 KiB socket receive buffer: a client that falls behind after a few
// messages when it does not read.
func (s *server) dialSmall(t *testing.T) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		return errors.Join(err, serr)
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ws, _, err := websocket.Dial(ctx, s.url(), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s: %v", s.url(), err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}
