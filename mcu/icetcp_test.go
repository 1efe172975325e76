package mcu_test

import (
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// TestICETCP: with Config.TCPPort the server offers passive ICE-TCP candidates, and a client that may use
// TCP only (its UDP blocked) joins, sees and hears the room, and is seen and heard.
func TestICETCP(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TCPPort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m := newMCU(t, cfg)
	a := join(t, m, "room", "A", 0, 430)
	tcp := joinConfig(t, m, "room", "T", 1, 650, mcutest.Config{NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeTCP4}})
	defer a.client.Close()
	defer tcp.client.Close()
	all := []*party{a, tcp}
	codectest.Require(t, 20*time.Second, func() error { return checkAll(all, nil, cfg.Width, cfg.Height, steadyMarginDB) })
	if got := m.Stats().ParticipantsByRoute; got["tcp"] != 1 || got["udp"] != 1 {
		t.Errorf("ParticipantsByRoute = %v, want one over TCP and one over UDP", got)
	}
}
