package mcu

import (
	"testing"

	"github.com/pion/rtcp"
)

func TestAudioClassFor(t *testing.T) {
	cfg := DefaultConfig() // audio 32 kbit/s
	tests := []struct {
		tier, loss int
		want       audioClass
	}{
		{0, 0, audioClass{Opus, 32_000, 5}},
		{2, 3, audioClass{Opus, 32_000, 5}},
		{0, 7, audioClass{Opus, 32_000, 10}},
		{0, 15, audioClass{Opus, 32_000, 20}},
		{0, 60, audioClass{Opus, 32_000, 30}},
		{-1, 0, audioClass{Opus, 24_000, 5}},
		{-1, 12, audioClass{Opus, 24_000, 20}},
	}
	for _, tt := range tests {
		if got := audioClassFor(cfg, tt.tier, tt.loss); got != tt.want {
			t.Errorf("audioClassFor(tier %d, loss %d%%) = %+v, want %+v", tt.tier, tt.loss, got, tt.want)
		}
	}
}

func TestAudioLossFollowsReceiverReports(t *testing.T) {
	var l audioLoss
	rr := func(ssrc uint32, fraction uint8) []rtcp.Packet {
		return []rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: ssrc, FractionLost: fraction}}}}
	}
	l.observe(rr(7, 64), 8) // another stream's report
	if l.get() != 0 {
		t.Fatalf("a report about another SSRC changed the loss to %d%%", l.get())
	}
	l.observe(rr(7, 64), 7) // 25 %
	if l.get() != 25 {
		t.Fatalf("loss after a 25%% report = %d%%, want 25", l.get())
	}
	l.observe(rr(7, 0), 7)
	if got := l.get(); got <= 0 || got >= 25 {
		t.Errorf("loss after a clean report = %d%%, want it to fall slowly (between 0 and 25)", got)
	}
}
