package mcu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/openmcu/mcu/mcu/internal/nackfilter"
)

// Tier is one video output profile for a class of link: a picture size, frame rate and bitrate. Receivers
// on the same view and tier share one encoder. It is plain data.
type Tier struct {
	Name         string `json:"name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FrameRate    int    `json:"frame_rate"`
	VideoBitrate int    `json:"video_bitrate"`
}

// String returns the tier as NAME:WxH@FPS:KBPSk.
func (t Tier) String() string {
	return fmt.Sprintf("%s:%dx%d@%d:%dk", t.Name, t.Width, t.Height, t.FrameRate, t.VideoBitrate/1000)
}

// Caps are one receiver's limits on the video it gets; zero means no limit. They come from the client
// (the page's low-bandwidth option, a low-power device) and from b=AS / b=TIAS in its SDP.
type Caps struct {
	MaxBitrate   int // bits per second for audio and video together
	MaxWidth     int
	MaxHeight    int
	MaxFrameRate int
}

// merge returns the tighter of c and o in every field.
func (c Caps) merge(o Caps) Caps {
	tight := func(a, b int) int {
		switch {
		case a == 0:
			return b
		case b == 0:
			return a
		}
		return min(a, b)
	}
	return Caps{tight(c.MaxBitrate, o.MaxBitrate), tight(c.MaxWidth, o.MaxWidth),
		tight(c.MaxHeight, o.MaxHeight), tight(c.MaxFrameRate, o.MaxFrameRate)}
}

// Tiers returns the video tiers, best first: the main one (Width x Height at FrameRate and VideoBitrate,
// named "hd") and then LowerTiers.
func (c Config) Tiers() []Tier {
	main := Tier{Name: "hd", Width: c.Width, Height: c.Height, FrameRate: c.FrameRate, VideoBitrate: c.VideoBitrate}
	return append([]Tier{main}, c.LowerTiers...)
}

// tierSet is the tiers of a configuration, computed once (Config.Tiers builds a new slice each call),
// with the audio bitrate that comes with each. Read-only: safe for concurrent use.
type tierSet struct {
	tiers []Tier
	audio int // bit/s of the audio that goes with every tier
}

func (c Config) tierSet() tierSet { return tierSet{tiers: c.Tiers(), audio: c.AudioBitrate} }

// nackHistory is how many recent packets each outgoing video stream keeps to resend on a NACK: enough
// for the fastest tier (nackfilter.HistoryFor).
func (s tierSet) nackHistory() int {
	h := nackfilter.MinHistory
	for _, t := range s.tiers {
		h = max(h, nackfilter.HistoryFor(t.VideoBitrate, t.FrameRate))
	}
	return h
}

// fit returns the index of the best tier that fits caps, or -1 when none does and the receiver gets
// audio only.
func (s tierSet) fit(caps Caps) int {
	for i, t := range s.tiers {
		if caps.MaxBitrate > 0 && t.VideoBitrate+s.audio > caps.MaxBitrate {
			continue
		}
		if (caps.MaxWidth > 0 && t.Width > caps.MaxWidth) || (caps.MaxHeight > 0 && t.Height > caps.MaxHeight) ||
			(caps.MaxFrameRate > 0 && t.FrameRate > caps.MaxFrameRate) {
			continue
		}
		return i
	}
	return -1
}

// of returns the index of the tier with this picture size and frame rate, or 0.
func (s tierSet) of(width, height, frameRate int) int {
	for i, t := range s.tiers {
		if t.Width == width && t.Height == height && t.FrameRate == frameRate {
			return i
		}
	}
	return 0
}

// needs returns what each tier needs of a link, best first: its video bitrate plus the audio's.
func (s tierSet) needs() []int {
	need := make([]int, 0, len(s.tiers))
	for _, t := range s.tiers {
		need = append(need, t.VideoBitrate+s.audio)
	}
	return need
}

// sdpCaps reads the bandwidth a client allows in its SDP: b=TIAS (bits per second) or b=AS (kilobits per
// second), at session level or in the video section, the tightest that applies. A description that does
// not parse gives no caps.
func sdpCaps(offer string) Caps {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return Caps{}
	}
	var c Caps
	add := func(bs []sdp.Bandwidth) {
		for _, b := range bs {
			bps := 0
			switch strings.ToUpper(b.Type) {
			case "AS":
				bps = int(b.Bandwidth) * 1000
			case "TIAS":
				bps = int(b.Bandwidth)
			}
			if bps > 0 {
				c = c.merge(Caps{MaxBitrate: bps})
			}
		}
	}
	add(sd.Bandwidth)
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "video" {
			add(md.Bandwidth)
		}
	}
	return c
}

// ParseTiers reads tiers written as NAME:WxH@FPS:KBPSk, comma separated (for example
// "sd:640x360@30:500k,ld:320x180@15:150k").
func ParseTiers(s string) ([]Tier, error) {
	var out []Tier
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rest, ok := strings.Cut(part, ":")
		size, kbps, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || name == "" {
			return nil, fmt.Errorf("tier %q: want NAME:WxH@FPS:KBPSk", part)
		}
		var t Tier
		if _, err := fmt.Sscanf(size, "%dx%d@%d", &t.Width, &t.Height, &t.FrameRate); err != nil {
			return nil, fmt.Errorf("tier %q: size %q: want WxH@FPS", part, size)
		}
		k, err := strconv.Atoi(strings.TrimSuffix(strings.ToLower(kbps), "k"))
		if err != nil {
			return nil, fmt.Errorf("tier %q: bitrate %q: want KBPSk", part, kbps)
		}
		t.Name, t.VideoBitrate = name, k*1000
		out = append(out, t)
	}
	return out, nil
}
