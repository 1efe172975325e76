package sip_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/mcu"
	sipsig "github.com/openmcu/mcu/signaling/sip"
)

// TestRealMCURTPTimeout runs the server on the real MCU with a 1 s RTP timeout: a caller that sends no
// RTP is hung up with a BYE (Reason 408), but not while it holds the call (a=inactive).
func TestRealMCURTPTimeout(t *testing.T) {
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height, cfg.FrameRate, cfg.LowerTiers = 320, 180, 15, nil
	cfg.RTPAddress, cfg.RTPTimeout = "127.0.0.1", time.Second
	m, err := mcu.New(cfg, mcu.Params{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	scfg := sipsig.DefaultConfig()
	scfg.Host, scfg.Port = "127.0.0.1", 0
	s, err := sipsig.New(scfg, sipsig.Params{Conference: sipsig.MCUConference(m), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	h := &harness{srv: s, port: s.Port()}
	t.Cleanup(func() { s.Close() })
	p := h.phone(t, "udp")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dlg := p.invite(ctx, h, "r", pcmuOnly)
	defer dlg.Close()
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("call the real MCU: %v", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if ans := string(dlg.InviteResponse.Body()); !strings.Contains(ans, "c=IN IP4 127.0.0.1\r\n") ||
		!strings.Contains(ans, " RTP/AVP 0 101\r\n") {
		t.Errorf("answer of the real MCU:\n%s", ans)
	}
	// On hold the MCU expects nothing: no timeout.
	if res := p.reinvite(dlg, offerSDP("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=inactive")); res.StatusCode != sip.StatusOK {
		t.Fatalf("hold: %d", res.StatusCode)
	}
	select {
	case bye := <-p.byes:
		t.Fatalf("BYE while on hold: %v", bye)
	case <-time.After(2500 * time.Millisecond):
	}
	// Resumed, and still no RTP: the MCU gives up after its timeout, and the server says why.
	if res := p.reinvite(dlg, pcmuOnly); res.StatusCode != sip.StatusOK {
		t.Fatalf("resume: %d", res.StatusCode)
	}
	bye := p.expectBye("after the RTP timeout")
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=408") {
		t.Errorf("BYE Reason = %v, want cause=408", r)
	}
	eventually(t, "the call is gone", func() bool { return len(s.Calls()) == 0 })
}
