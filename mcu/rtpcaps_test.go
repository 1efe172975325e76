package mcu

import "testing"

// TestRTPCaps checks that a plain-RTP endpoint's H.264 level caps the tier to pictures it can decode.
func TestRTPCaps(t *testing.T) {
	cfg := DefaultConfig() // hd 1280x720, sd 640x360, ld 320x180
	tests := []struct {
		plid string
		want string // tier name
	}{
		{"", "hd"},
		{"42e01f", "hd"}, // 3.1: 3600 macroblocks
		{"42e01e", "sd"}, // 3.0: 1620
		{"42800d", "ld"}, // 1.3: 396 (CIF)
		{"42000a", "ld"}, // 1.0: 99, smaller than every tier: the smallest
		{"zz", "hd"},
	}
	for _, tt := range tests {
		media := RTPMedia{Video: &RTPVideo{ProfileLevelID: tt.plid}, MaxBitrate: 0}
		i := cfg.tierSet().fit(rtpCaps(cfg, media))
		if got := cfg.Tiers()[max(i, 0)].Name; i < 0 || got != tt.want {
			t.Errorf("profile-level-id %q: tier %d (%s), want %s", tt.plid, i, got, tt.want)
		}
	}
	if c := rtpCaps(cfg, RTPMedia{MaxBitrate: 64_000}); cfg.tierSet().fit(c) != -1 {
		t.Errorf("b=AS 64 kbit/s: tier %d, want audio only", cfg.tierSet().fit(c))
	}
}
