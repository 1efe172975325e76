package main

import (
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/turn"
	"github.com/openmcu/mcu/signaling/webhook"
)

type nopListener struct{}

func (nopListener) OnICECandidate(mcu.ICECandidate) {}
func (nopListener) OnRoster(mcu.RosterEvent)        {}
func (nopListener) OnClosed(error)                  {}

// scrape reads the metrics endpoint and returns the value of every sample, by its full name with labels.
func scrape(t *testing.T, h *httptest.Server) map[string]float64 {
	t.Helper()
	resp, err := h.Client().Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(mcu_[^ ]+) ([^ \n]+)$`).FindAllStringSubmatch(string(b), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err == nil {
			out[m[1]] = v
		}
	}
	return out
}

// TestSharedEncodersFromMetrics is a must-show of shared encoders: six receivers on two tiers in one
// view-sharing room run exactly one video encoder per distinct (view, tier) pair in use, as read from
// the metrics endpoint; per-participant tier and bitrate are there too. One visible tile and only S
// sending video: the six receivers all look at S; S looks at someone else (a second view).
func TestSharedEncodersFromMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := mcu.DefaultConfig()
	cfg.IncludeLoopback, cfg.Interfaces = true, []string{"lo"}
	cfg.Width, cfg.Height, cfg.VideoBitrate = 640, 360, 600_000
	cfg.LowerTiers = []mcu.Tier{{Name: "ld", Width: 320, Height: 180, FrameRate: 15, VideoBitrate: 150_000}}
	cfg.VisibleTiles = 1
	m, err := mcu.New(cfg, mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(metricsHandler(m, metricsSources{
		sessions: func() map[string]int { return map[string]int{"whep": 2} },
		hooks:    func() webhook.Stats { return webhook.Stats{Sent: 3, Dropped: 1} },
		chat: func() chat.Stats {
			return chat.Stats{Messages: 5, Files: 1, FileBytes: 300, Rejected: map[chat.Code]uint64{chat.CodeRateLimited: 2}}
		},
		turn: func() (turn.Stats, bool) {
			return turn.Stats{AllocationsActive: 2, AllocationsTotal: 7, BytesToPeers: 1000, BytesFromPeers: 4000, PermissionsRefused: 3}, true
		},
		cluster: func() (clusterStats, bool) {
			return clusterStats{Node: "node1", Healthy: true, Leases: 1, Rooms: []string{"room"}, ClaimsWon: 4, DeadTaken: 1}, true
		},
	}))
	defer srv.Close()

	join := func(name string, c mcutest.Config) (*mcu.Participant, *mcutest.Client) {
		t.Helper()
		c.IncludeLoopback, c.Interfaces = true, []string{"lo"}
		client, err := mcutest.New(c)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Join("room", name, nopListener{})
		if err != nil {
			client.Close()
			t.Fatal(err)
		}
		if err := mcutest.Negotiate(client, p); err != nil {
			t.Fatal(err)
		}
		return p, client
	}
	_, sc := join("S", mcutest.Config{Colour: codec.RGBToYUV(220, 30, 30), ToneHz: 440})
	defer sc.Close()
	var clients []*mcutest.Client
	var receivers []*mcu.Participant
	for i := range 6 {
		p, c := join(fmt.Sprintf("R%d", i), mcutest.Config{NoVideo: true, NoAudio: true})
		defer c.Close()
		clients, receivers = append(clients, c), append(receivers, p)
		if i%2 == 1 { // R1, R3, R5 on ld
			if err := p.SetCaps(mcu.Caps{MaxBitrate: 250_000}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got map[string]float64
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = scrape(t, srv)
		pictures := true
		for _, c := range clients {
			pictures = pictures && c.PicturesReceived() > 0
		}
		if pictures && got[`mcu_room_video_encoders_by_tier{room="room",tier="hd"}`] == 2 &&
			got[`mcu_room_video_encoders_by_tier{room="room",tier="ld"}`] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pictures everywhere: %t; room encoders hd %v, ld %v; want hd 2 (the receivers' view of S, "+
				"S's view), ld 1 (the receivers' view of S)", pictures,
				got[`mcu_room_video_encoders_by_tier{room="room",tier="hd"}`],
				got[`mcu_room_video_encoders_by_tier{room="room",tier="ld"}`])
		}
		time.Sleep(200 * time.Millisecond)
	}
	for key := range got {
		if strings.Contains(key, `name=`) || strings.Contains(key, `"R1"`) {
			t.Errorf("/metrics carries a display name: %s", key)
		}
	}
	if v := got[`mcu_room_encoders{kind="video",room="room"}`]; v != 3 {
		t.Errorf("mcu_room_encoders video = %v, want 3", v)
	}
	if v := got[`mcu_encoders{kind="video"}`]; v != 3 {
		t.Errorf("mcu_encoders video = %v, want 3", v)
	}
	if v := got[`mcu_signaling_sessions{kind="whep"}`]; v != 2 {
		t.Errorf("mcu_signaling_sessions{kind=\"whep\"} = %v, want 2", v)
	}
	if v := got[`mcu_room_participants{room="room"}`]; v != 7 {
		t.Errorf("mcu_room_participants = %v, want 7", v)
	}
	for key, want := range map[string]float64{`mcu_webhooks_total{result="sent"}`: 3, `mcu_webhooks_total{result="dropped"}`: 1,
		`mcu_webhooks_total{result="failed"}`: 0, `mcu_outputs`: 0, `mcu_output_frames_dropped_total`: 0,
		`mcu_chat_messages_total`: 5, `mcu_chat_files`: 1, `mcu_chat_file_bytes`: 300, `mcu_chat_rejected_total{code="rate-limited"}`: 2,
		`mcu_chat_dropped_total`: 0, `mcu_turn_allocations`: 2, `mcu_turn_allocations_total`: 7,
		`mcu_turn_relayed_bytes_total{direction="to_peer"}`: 1000, `mcu_turn_relayed_bytes_total{direction="from_peer"}`: 4000,
		`mcu_turn_refused_total{reason="permission"}`: 3, `mcu_cluster_redis_up`: 1, `mcu_cluster_leases`: 1,
		`mcu_room_owner{node="node1",room="room"}`: 1, `mcu_cluster_claims_total{result="won"}`: 4,
		`mcu_cluster_claims_total{result="dead_taken"}`: 1} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %t), want %v", key, v, ok, want)
		}
	}
	for i, p := range receivers {
		tier, limit := "hd", ""
		if i%2 == 1 {
			tier, limit = "ld", "caps"
		}
		key := fmt.Sprintf(`mcu_participant_tier{limit=%q,participant=%q,room="room",tier=%q}`, limit, p.ID(), tier)
		if got[key] != 1 {
			t.Errorf("%s missing", key)
		}
		sent := fmt.Sprintf(`mcu_participant_sent_bitrate_bps{participant=%q,room="room"}`, p.ID())
		if _, ok := got[sent]; !ok {
			t.Errorf("%s missing", sent)
		}
	}
}
