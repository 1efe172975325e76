package mcu

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/openmcu/mcu/codec/h264"
)

// ICEServer is a STUN or TURN server handed to clients, like the browser's RTCIceServer. It is plain data.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Config is the serialisable configuration of an MCU. Start from DefaultConfig, change what you need, and
// call Validate (New does).
type Config struct {
	// Width and Height of every participant's composed picture in pixels (even).
	Width  int `json:"width"`
	Height int `json:"height"`
	// FrameRate of the composed pictures, in frames per second.
	FrameRate int `json:"frame_rate"`
	// VideoBitrate is the target bitrate of each video encoder of the main tier, in bits per second.
	VideoBitrate int `json:"video_bitrate"`
	// LowerTiers are the video tiers below the main one (Width x Height at FrameRate and VideoBitrate),
	// best first. A receiver whose caps do not fit a tier gets the next; below the last, audio only.
	LowerTiers []Tier `json:"lower_tiers,omitempty"`
	// AudioBitrate is the target bitrate of each Opus encoder, in bits per second.
	AudioBitrate int `json:"audio_bitrate"`
	// VisibleTiles is the largest number of tiles in one picture; larger rooms show the active speakers.
	VisibleTiles int `json:"visible_tiles"`
	// SpeakerHold is the least time a participant stays among the visible tiles of a room larger than
	// VisibleTiles once the speakers put it there (so tiles do not flicker).
	SpeakerHold time.Duration `json:"speaker_hold"`
	// KeyframeInterval is the shortest time between two IDRs that receivers' keyframe requests (PLI/FIR)
	// force on one encoder; requests in between are coalesced into one at the end of the interval, so
	// one lossy receiver cannot flood the others who share its encoder with keyframes. A new receiver on
	// an encoder gets its IDR at once.
	KeyframeInterval time.Duration `json:"keyframe_interval"`
	// MeasurePSNR makes the H.264 output encoders measure each picture's luma PSNR against the composed
	// picture (Stats.VideoPSNR): what receivers decode when nothing is lost. It costs a little CPU per
	// picture; the capacity benchmark turns it on.
	MeasurePSNR bool `json:"measure_psnr,omitempty"`
	// MaxParticipants is the largest number of participants in one room (viewers included).
	MaxParticipants int `json:"max_participants"`
	// MaxRooms is the largest number of rooms open at once; a join that would open another gets
	// ErrTooManyRooms.
	MaxRooms int `json:"max_rooms"`
	// MaxTotalParticipants is the largest number of participants in all rooms together; a join beyond it
	// gets ErrServerFull.
	MaxTotalParticipants int `json:"max_total_participants"`
	// MaxOutputs is the largest number of recordings and live streams of one room at once (each costs
	// a video and an AAC encoder); Record and Stream beyond it get ErrTooManyOutputs. 0: none allowed.
	MaxOutputs int `json:"max_outputs"`
	// MaxRemotes is the largest number of remote participants (MCU.JoinRemote: participants of another
	// server that holds the same room, reached over a link) in one room at once; JoinRemote beyond it
	// gets ErrTooManyRemotes. The other server admitted them, so they count neither towards
	// MaxParticipants nor MaxTotalParticipants, but each costs a decoder per stream here. 0: no
	// cascading.
	MaxRemotes int `json:"max_remotes"`
	// NegotiationTimeout is how long a WebRTC participant may take from joining to connected media (an
	// offer answered and ICE and DTLS up); one that has not connected by then is removed with
	// ErrNegotiationTimeout. Until it connects it costs no encode: it is no receiver of the mixers.
	NegotiationTimeout time.Duration `json:"negotiation_timeout"`
	// MaxMediaSections is the most audio and video sections (m= lines) an offer may have; a larger
	// offer gets ErrTooManyTracks. Data channel sections are not counted.
	MaxMediaSections int `json:"max_media_sections"`
	// MaxInputWidth and MaxInputHeight bound the pictures a participant may send: a larger picture is
	// not decoded (dropped and counted in Stats.InputRefused) until a smaller one comes.
	MaxInputWidth  int `json:"max_input_width"`
	MaxInputHeight int `json:"max_input_height"`
	// MaxInputBitrate bounds what one participant may send, audio and video together, in bit/s: packets
	// beyond it (a token bucket of one second's worth) are dropped and counted in Stats.InputRefused.
	MaxInputBitrate int `json:"max_input_bitrate"`
	// NoVideoShedding keeps every view at its full frame rate when the server is short of CPU. By
	// default, when the audio mixers run late the compositors draw fewer frames (the least-shared views
	// first) until audio is on time again (governor.go); turn it off only to measure the difference.
	NoVideoShedding bool `json:"no_video_shedding,omitempty"`

	// UDPPort, when not zero, carries every peer's media on this one UDP port (ICE UDP mux), and
	// UDPPortMin and UDPPortMax are ignored.
	UDPPort int `json:"udp_port,omitempty"`
	// TCPPort, when not zero, also offers ICE over TCP (passive TCP candidates, RFC 6544) on this one TCP
	// port, for clients that reach the server on TCP but not on UDP.
	TCPPort int `json:"tcp_port,omitempty"`
	// UDPPortMin and UDPPortMax bound the ephemeral UDP ports of the peers; both zero means any port.
	UDPPortMin uint16 `json:"udp_port_min,omitempty"`
	UDPPortMax uint16 `json:"udp_port_max,omitempty"`
	// NAT1To1IPs are public addresses that replace the host's own in the host candidates (a server
	// behind a 1:1 NAT).
	NAT1To1IPs []string `json:"nat_1to1_ips,omitempty"`
	// Interfaces, when not empty, restricts candidates to these network interfaces (by name).
	Interfaces []string `json:"interfaces,omitempty"`
	// IncludeLoopback gathers loopback candidates, which local runs and tests need.
	IncludeLoopback bool `json:"include_loopback"`
	// ICEServers are handed to clients (MCU.ICEServers); the server itself gathers host candidates only.
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
	// DisconnectTimeout is how long a participant may stay disconnected before it is removed.
	DisconnectTimeout time.Duration `json:"disconnect_timeout"`

	// Plain RTP (SIP calls, RTP/AVP endpoints). RTPAddress is the IP the RTP and RTCP sockets are bound
	// to ("" or "0.0.0.0": all interfaces; the signalling layer then puts the address the call came in on
	// into its SDP). RTPPortMin..RTPPortMax is the range of their ports (an even port for RTP and the next
	// for RTCP per stream); 0..0: any free ports. RTPTimeout hangs up a participant from which no RTP and
	// no RTCP has arrived for that long, whatever the direction of its media (on hold too).
	RTPAddress string        `json:"rtp_address"`
	RTPPortMin int           `json:"rtp_port_min"`
	RTPPortMax int           `json:"rtp_port_max"`
	RTPTimeout time.Duration `json:"rtp_timeout"`
}

// DefaultConfig returns 1280x720 at 30 fps and 1.5 Mbit/s (lower tiers 640x360@30 at 500 kbit/s and
// 320x180@15 at 150 kbit/s), Opus at 32 kbit/s, 9 visible tiles, 25
// participants per room, 100 rooms and 500 participants per server, 4 recordings and streams and 50 remote
// participants per room, 20 s to connect, offers of at most 4
// media sections, input pictures up to 1920x1088 at up to 8 Mbit/s, any UDP port, no loopback
// candidates, and a 5 s disconnect timeout.
func DefaultConfig() Config {
	return Config{
		Width:        1280,
		Height:       720,
		FrameRate:    30,
		VideoBitrate: 1_500_000,
		LowerTiers: []Tier{
			{Name: "sd", Width: 640, Height: 360, FrameRate: 30, VideoBitrate: 500_000},
			{Name: "ld", Width: 320, Height: 180, FrameRate: 15, VideoBitrate: 150_000},
		},
		AudioBitrate:         32_000,
		VisibleTiles:         9,
		MaxParticipants:      25,
		MaxRooms:             100,
		MaxTotalParticipants: 500,
		MaxOutputs:           4,
		MaxRemotes:           50,
		NegotiationTimeout:   20 * time.Second,
		MaxMediaSections:     4,
		MaxInputWidth:        1920,
		MaxInputHeight:       1088,
		MaxInputBitrate:      8_000_000,
		SpeakerHold:          3 * time.Second,
		KeyframeInterval:     500 * time.Millisecond,
		DisconnectTimeout:    5 * time.Second,
		RTPTimeout:           30 * time.Second,
	}
}

// Validate reports every field out of range, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.Width < 64 || c.Height < 36 || c.Width%2 != 0 || c.Height%2 != 0 {
		errs = append(errs, fmt.Errorf("canvas %dx%d: want even sizes of at least 64x36", c.Width, c.Height))
	}
	if c.FrameRate < 1 || c.FrameRate > 60 {
		errs = append(errs, fmt.Errorf("frame rate %d: want 1..60", c.FrameRate))
	}
	if c.VideoBitrate < h264.MinBitrate || c.VideoBitrate > h264.MaxBitrate {
		errs = append(errs, fmt.Errorf("video bitrate %d: want %d..%d", c.VideoBitrate, h264.MinBitrate, h264.MaxBitrate))
	}
	for i, t := range c.LowerTiers {
		prev := c.Tiers()[i]
		switch {
		case t.Name == "" || t.Name == "hd":
			errs = append(errs, fmt.Errorf("tier %d: want a name other than hd", i+1))
		case t.Width < 64 || t.Height < 36 || t.Width%2 != 0 || t.Height%2 != 0:
			errs = append(errs, fmt.Errorf("tier %s: size %dx%d: want even sizes of at least 64x36", t.Name, t.Width, t.Height))
		case t.FrameRate < 1 || t.FrameRate > c.FrameRate:
			errs = append(errs, fmt.Errorf("tier %s: frame rate %d: want 1..%d", t.Name, t.FrameRate, c.FrameRate))
		case t.VideoBitrate < h264.MinBitrate || t.VideoBitrate >= prev.VideoBitrate:
			errs = append(errs, fmt.Errorf("tier %s: bitrate %d: want at least %d and below the tier above (%d)",
				t.Name, t.VideoBitrate, h264.MinBitrate, prev.VideoBitrate))
		}
	}
	if c.AudioBitrate < 6000 || c.AudioBitrate > 510000 {
		errs = append(errs, fmt.Errorf("audio bitrate %d: want 6000..510000", c.AudioBitrate))
	}
	if c.VisibleTiles < 1 || c.VisibleTiles > 25 {
		errs = append(errs, fmt.Errorf("visible tiles %d: want 1..25", c.VisibleTiles))
	}
	if c.MaxParticipants < 1 || c.MaxParticipants > 1000 {
		errs = append(errs, fmt.Errorf("max participants %d: want 1..1000", c.MaxParticipants))
	}
	if c.MaxRooms < 1 || c.MaxRooms > 100000 {
		errs = append(errs, fmt.Errorf("max rooms %d: want 1..100000", c.MaxRooms))
	}
	if c.MaxTotalParticipants < 1 || c.MaxTotalParticipants > 1000000 {
		errs = append(errs, fmt.Errorf("max total participants %d: want 1..1000000", c.MaxTotalParticipants))
	}
	if c.MaxOutputs < 0 || c.MaxOutputs > 16 {
		errs = append(errs, fmt.Errorf("max outputs %d: want 0..16", c.MaxOutputs))
	}
	if c.MaxRemotes < 0 || c.MaxRemotes > 1000 {
		errs = append(errs, fmt.Errorf("max remotes %d: want 0..1000", c.MaxRemotes))
	}
	if c.NegotiationTimeout < time.Second || c.NegotiationTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("negotiation timeout %v: want 1s..5m", c.NegotiationTimeout))
	}
	if c.MaxMediaSections < 2 || c.MaxMediaSections > 16 {
		errs = append(errs, fmt.Errorf("max media sections %d: want 2..16", c.MaxMediaSections))
	}
	if c.MaxInputWidth < 64 || c.MaxInputHeight < 64 || c.MaxInputWidth > 4096 || c.MaxInputHeight > 4096 {
		errs = append(errs, fmt.Errorf("max input size %dx%d: want 64x64..4096x4096", c.MaxInputWidth, c.MaxInputHeight))
	}
	if c.MaxInputBitrate < 100_000 || c.MaxInputBitrate > 100_000_000 {
		errs = append(errs, fmt.Errorf("max input bitrate %d: want 100000..100000000", c.MaxInputBitrate))
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("udp port %d: want 0..65535", c.UDPPort))
	}
	if c.TCPPort < 0 || c.TCPPort > 65535 {
		errs = append(errs, fmt.Errorf("tcp port %d: want 0..65535", c.TCPPort))
	}
	if (c.UDPPortMin == 0) != (c.UDPPortMax == 0) || c.UDPPortMin > c.UDPPortMax {
		errs = append(errs, fmt.Errorf("udp port range %d..%d: want both zero or min <= max", c.UDPPortMin, c.UDPPortMax))
	}
	for _, ip := range c.NAT1To1IPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("nat 1:1 ip %q: not an IP address", ip))
		}
	}
	for i, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			errs = append(errs, fmt.Errorf("ice server %d: no urls", i))
		}
	}
	if c.SpeakerHold < 0 || c.SpeakerHold > time.Minute {
		errs = append(errs, fmt.Errorf("speaker hold %v: want 0..1m", c.SpeakerHold))
	}
	if c.KeyframeInterval < 0 || c.KeyframeInterval > time.Minute {
		errs = append(errs, fmt.Errorf("keyframe interval %v: want 0..1m", c.KeyframeInterval))
	}
	if c.DisconnectTimeout < 100*time.Millisecond || c.DisconnectTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("disconnect timeout %v: want 100ms..1m", c.DisconnectTimeout))
	}
	if c.RTPAddress != "" {
		if _, err := netip.ParseAddr(c.RTPAddress); err != nil {
			errs = append(errs, fmt.Errorf("rtp address %q: %w", c.RTPAddress, err))
		}
	}
	if (c.RTPPortMin == 0) != (c.RTPPortMax == 0) || c.RTPPortMin < 0 || c.RTPPortMax > 65535 ||
		c.RTPPortMin > c.RTPPortMax || (c.RTPPortMin != 0 && c.RTPPortMax-c.RTPPortMin < 3) {
		errs = append(errs, fmt.Errorf("rtp ports %d-%d: want both 0, or a range of at least 4 ports", c.RTPPortMin, c.RTPPortMax))
	}
	if c.RTPTimeout < time.Second || c.RTPTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("rtp timeout %v: want 1s..1h", c.RTPTimeout))
	}
	if len(errs) > 0 {
		return fmt.Errorf("mcu config: %w", errors.Join(errs...))
	}
	return nil
}
