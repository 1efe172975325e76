package mcu_test

import (
	"fmt"
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

// TestStatsWhileNegotiating reads the stats (as the metrics do, at any time) without pause while
// participants join and negotiate: under -race it catches the stats touching pion's ICE transport
// before it has started (GetSelectedCandidatePair reads what Start writes without a lock).
func TestStatsWhileNegotiating(t *testing.T) {
	m := newMCU(t, smallConfig())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = m.Stats()
			}
		}
	}()
	for i := range 3 {
		p := join(t, m, "room", fmt.Sprintf("P%d", i), i, 440+float64(i)*220)
		defer p.client.Close()
	}
	codectest.Require(t, 10*time.Second, func() error {
		if got := m.Stats().ParticipantsByRoute["udp"]; got != 3 {
			return fmt.Errorf("%d participants by UDP, want 3", got)
		}
		return nil
	})
	close(stop)
	<-done
}
