package main

import (
	"fmt"
	"image"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/signaling/turn"
)

// TestRelayedParticipant wires the embedded TURN server as the binary does and has a participant that may
// use nothing but the relay (relay candidates only, from the credentials the server hands it) join a
// room: it receives the room's picture and its own picture reaches the other participant, and the TURN
// server counts the allocation and the bytes.
func TestRelayedParticipant(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := DefaultConfig()
	cfg.SIP.Port, cfg.MCU.TCPPort = 0, 0
	cfg.MCU.IncludeLoopback, cfg.MCU.Interfaces = true, []string{"lo"}
	cfg.MCU.Width, cfg.MCU.Height, cfg.MCU.LowerTiers = 640, 360, nil
	cfg.TURN.Port, cfg.TURN.Host, cfg.TURN.AllowLoopback = turn.AnyPort, "127.0.0.1", true
	cfg.TURN.RelayPortMin, cfg.TURN.RelayPortMax = 40000, 40999
	m, err := mcu.New(cfg.MCU, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rl, err := newRelay(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()

	join := func(name string, colour codec.YUV, c mcutest.Config) *mcutest.Client {
		t.Helper()
		c.Colour, c.IncludeLoopback, c.Interfaces = colour, true, []string{"lo"}
		client, err := mcutest.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		p, err := m.Join("room", name, nopListener{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Leave)
		if err := mcutest.Negotiate(client, p); err != nil {
			t.Fatal(err)
		}
		return client
	}
	red, blue := codectest.NamedColor{Name: "red", R: 220, G: 30, B: 30}, codectest.NamedColor{Name: "blue", R: 30, G: 30, B: 220}
	direct := join("Direct", red.YUV(), mcutest.Config{})
	var servers []webrtc.ICEServer
	for _, s := range rl.iceServers("relayed", "127.0.0.1", false) {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	relayed := join("Relayed", blue.YUV(), mcutest.Config{ICEServers: servers, Relay: true})

	codectest.Require(t, 30*time.Second, func() error {
		for _, c := range []struct {
			name   string
			client *mcutest.Client
			want   codectest.NamedColor
		}{{"Direct", direct, blue}, {"Relayed", relayed, red}} {
			pic := c.client.Picture()
			if pic == nil {
				return fmt.Errorf("%s has no picture", c.name)
			}
			// One other participant: its tile fills the picture; its middle is its colour.
			w, h := pic.Width, pic.Height
			got := pic.Mean(image.Rect(w/4, h/4, 3*w/4, 3*h/4))
			if !codectest.Near(got, c.want.YUV(), 40) {
				return fmt.Errorf("%s sees %v, want %s", c.name, got, c.want)
			}
		}
		return nil
	})
	if got := m.Stats().ParticipantsByRoute; got["relay"] != 1 || got["udp"] != 1 {
		t.Errorf("ParticipantsByRoute = %v, want one relayed and one direct over UDP", got)
	}
	st, _ := rl.stats()
	if st.AllocationsTotal == 0 || st.BytesToPeers == 0 || st.BytesFromPeers == 0 {
		t.Errorf("TURN stats %+v: want an allocation and bytes both ways", st)
	}
	t.Logf("TURN: %d allocations, %d bytes to the MCU, %d from it", st.AllocationsTotal, st.BytesToPeers, st.BytesFromPeers)
}

// TestICEServersHandedOut: each client gets its own TURN credential for the embedded server at the host
// it reached the server at (UDP, TCP, and TLS when there is a certificate), or for -turn-urls; static TURN
// credentials from -ice-servers only with a valid room token.
func TestICEServersHandedOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TURNSecret = "0123456789abcdef0123"
	cfg.TURNURLs = []string{"turns:coturn.example.org:5349?transport=tcp"}
	cfg.TURN.Port = 0
	cfg.MCU.ICEServers = []mcu.ICEServer{{URLs: []string{"stun:stun.example.org"}},
		{URLs: []string{"turn:static.example.org"}, Username: "static", Credential: "forever"}}
	rl, err := newRelay(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	rl.now = func() time.Time { return now }
	anon := rl.iceServers("p1", "meet.example.org", false)
	if len(anon) != 2 || anon[0].URLs[0] != "stun:stun.example.org" {
		t.Fatalf("anonymous client got %+v: want the STUN server and the TURN credential, not the static one", anon)
	}
	user, pass := turn.Credentials(cfg.TURNSecret, "p1", cfg.TURN.CredentialTTL, now)
	if got := anon[1]; got.Username != user || got.Credential != pass || !slices.Equal(got.URLs, cfg.TURNURLs) ||
		!strings.HasPrefix(user, fmt.Sprint(now.Add(cfg.TURN.CredentialTTL).Unix())+":") {
		t.Errorf("TURN entry %+v: want %s / %s for %v", got, user, pass, cfg.TURNURLs)
	}
	if authed := rl.iceServers("p2", "meet.example.org", true); len(authed) != 3 || authed[1].Username != "static" {
		t.Errorf("a client with a token got %+v: want the static TURN server too", authed)
	}
	cfg.TURNURLs = nil
	cfg.TURNSecret = "short"
	if err := cfg.validateTURN(); err == nil {
		t.Error("a 5-byte TURN secret was accepted")
	}
	cfg.TURNSecret, cfg.TURNURLs = "", []string{"turn:x.example.org"}
	if err := cfg.validateTURN(); err == nil {
		t.Error("-turn-urls without -turn-secret was accepted")
	}
}
