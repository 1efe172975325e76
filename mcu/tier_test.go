package mcu

import (
	"testing"
)

func TestTierFor(t *testing.T) {
	cfg := DefaultConfig() // hd 1280x720@30 1.5M, sd 640x360@30 500k, ld 320x180@15 150k; audio 32k
	tests := []struct {
		caps Caps
		want string
	}{
		{Caps{}, "hd"},
		{Caps{MaxBitrate: 2_000_000}, "hd"},
		{Caps{MaxBitrate: 1_000_000}, "sd"},
		{Caps{MaxBitrate: 400_000}, "ld"},
		{Caps{MaxBitrate: 182_000}, "ld"},
		{Caps{MaxBitrate: 181_000}, "audio-only"},
		{Caps{MaxWidth: 640}, "sd"},
		{Caps{MaxHeight: 200}, "ld"},
		{Caps{MaxFrameRate: 15}, "ld"},
		{Caps{MaxWidth: 100}, "audio-only"},
	}
	for _, tt := range tests {
		i := cfg.tierSet().fit(tt.caps)
		got := "audio-only"
		if i >= 0 {
			got = cfg.Tiers()[i].Name
		}
		if got != tt.want {
			t.Errorf("tierFor(%+v) = %s, want %s", tt.caps, got, tt.want)
		}
	}
}

func TestSDPCaps(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	tests := []struct {
		name, sdp string
		want      int
	}{
		{"none", head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", 0},
		{"video b=AS", head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nb=AS:300\r\n", 300_000},
		{"session b=TIAS", head[:len(head)-len("t=0 0\r\n")] + "b=TIAS:250000\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", 250_000},
		{"tightest wins", head[:len(head)-len("t=0 0\r\n")] + "b=AS:1000\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nb=TIAS:200000\r\n", 200_000},
		{"audio section ignored", head + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nb=AS:40\r\n", 0},
		{"garbage", "not sdp", 0},
	}
	for _, tt := range tests {
		if got := sdpCaps(tt.sdp).MaxBitrate; got != tt.want {
			t.Errorf("%s: sdpCaps max bitrate = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestParseTiersAndValidate(t *testing.T) {
	tiers, err := ParseTiers("sd:640x360@30:500k, ld:320x180@15:150k")
	if err != nil {
		t.Fatal(err)
	}
	if len(tiers) != 2 || tiers[1] != (Tier{Name: "ld", Width: 320, Height: 180, FrameRate: 15, VideoBitrate: 150_000}) {
		t.Errorf("ParseTiers = %+v", tiers)
	}
	for _, bad := range []string{"sd", "sd:640x360:500k", "sd:640x360@30:fast", ":640x360@30:500k"} {
		if _, err := ParseTiers(bad); err == nil {
			t.Errorf("ParseTiers(%q) accepted", bad)
		}
	}
	cfg := DefaultConfig()
	cfg.LowerTiers = []Tier{{Name: "sd", Width: 640, Height: 360, FrameRate: 30, VideoBitrate: 2_000_000}}
	if cfg.Validate() == nil {
		t.Error("a lower tier above the main bitrate validated")
	}
	cfg.LowerTiers = []Tier{{Name: "sd", Width: 641, Height: 360, FrameRate: 30, VideoBitrate: 500_000}}
	if cfg.Validate() == nil {
		t.Error("an odd tier size validated")
	}
}
