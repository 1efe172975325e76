package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/sip"
	"github.com/openmcu/mcu/signaling/turn"
)

// Config is the server's configuration. Every setting has a flag and an MCU_* environment variable of the
// same name (flag -video-bitrate, variable MCU_VIDEO_BITRATE); a JSON file given with -config may set any
// of them too, with the field names below.
type Config struct {
	// HTTP is the address the page, health check, metrics and signalling listen on; with TLS on, it only
	// redirects to HTTPS (but /healthz).
	HTTP string `json:"http"`
	// HTTPS is the address HTTPS listens on when TLS is on: TLSCert and TLSKey (PEM files) or TLSSelfSigned
	// (a certificate made and kept in TLSDir). See tls.go.
	HTTPS         string `json:"https"`
	TLSCert       string `json:"tls_cert,omitempty"`
	TLSKey        string `json:"tls_key,omitempty"`
	TLSSelfSigned bool   `json:"tls_self_signed,omitempty"`
	TLSDir        string `json:"tls_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// DebugAddr, when set, serves Go's profiler (/debug/pprof/) on this address; keep it private.
	DebugAddr string `json:"debug_addr,omitempty"`
	// MetricsAddr, when set, serves /metrics on this address instead of HTTP (keep it private, e.g.
	// 127.0.0.1:9090); "off" serves no metrics at all.
	MetricsAddr string `json:"metrics_addr,omitempty"`
	// MaxConnsPerIP bounds the signalling connections (WebSocket, WHIP, WHEP) one client IP holds at
	// once; 0: no limit.
	MaxConnsPerIP int `json:"max_conns_per_ip"`
	// TrustedProxies are the reverse proxies (CIDRs) whose X-Forwarded-For names the client: behind one,
	// per-IP limits apply to the real clients rather than to the proxy.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// AllowedOrigins are extra browser origins (host patterns) allowed to use the WebSocket, WHIP and WHEP
	// besides the server's own host.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// WHIPToken, when set, is the bearer token WHIP publishers and WHEP viewers must present
	// (Authorization: Bearer TOKEN); empty leaves /whip/ and /whep/ open like the page.
	WHIPToken string `json:"whip_token,omitempty"`
	// AdminToken, when set, is a bearer token with every right in the operators' API (/api/v1); without
	// it (and without an API key's roomAdmin token) that API answers 401/403.
	AdminToken string `json:"admin_token,omitempty"`
	// APIKeys, "KEY:SECRET,...", turn on room access tokens (JWT HS256, LiveKit-shaped claims): every
	// join, WHIP publish, WHEP watch and operators' call then needs a token signed with one of them.
	// APIKeysFile is a file of "KEY: SECRET" lines with more. Empty: the server is open to anyone who
	// reaches it (it says so at start).
	APIKeys     string `json:"api_keys,omitempty"`
	APIKeysFile string `json:"api_keys_file,omitempty"`
	// RecordDir is where recordings are written (created with the first one).
	RecordDir string `json:"record_dir"`
	// PublicURL is the address people reach the server's pages at ("https://meet.example.com"), for
	// links sent outside the page (shared files in SIP chat). Empty: http://, the SIP public host (or
	// this machine's outbound address) and the HTTP port.
	PublicURL string `json:"public_url,omitempty"`
	// RecordRooms records rooms automatically as they start: "all", or room names.
	RecordRooms []string `json:"record_rooms,omitempty"`
	// Redis turns on clustering: nodes sharing this Redis place rooms on each other (cluster.go). NodeID
	// names this node (default host name and port), NodeCapacity the participants it takes before new
	// rooms go elsewhere (default MCU.MaxTotalParticipants), DrainTimeout how long SIGTERM waits for its
	// rooms to empty.
	Redis        string        `json:"redis,omitempty"`
	NodeID       string        `json:"node_id,omitempty"`
	NodeCapacity int           `json:"node_capacity,omitempty"`
	DrainTimeout time.Duration `json:"drain_timeout"`
	// CascadeRooms are the rooms this node serves itself when another node owns them, linked to the
	// owner's (cascade.go): "all" or names. A room whose owner is full is cascaded anyway.
	// MaxCascadeLinks bounds the links to other nodes (default 32).
	CascadeRooms    []string `json:"cascade_rooms,omitempty"`
	MaxCascadeLinks int      `json:"max_cascade_links,omitempty"`
	// TURN is the embedded TURN server (Port 0: none); TURNSecret the TURN REST shared secret (empty: a
	// random one per start); TURNURLs external TURN servers that share it, handed out instead of the
	// embedded one's. See relay.go.
	TURN       turn.Config `json:"turn"`
	TURNSecret string      `json:"turn_secret,omitempty"`
	TURNURLs   []string    `json:"turn_urls,omitempty"`
	// Chat is the rooms' chat and file sharing: text length, history, rate, file size and per-room quota.
	Chat chat.Config `json:"chat"`
	// WebhookURLs receive the server's events (rooms, participants, recordings, streams) as signed JSON
	// POSTs; they need APIKeys (the first key signs).
	WebhookURLs []string `json:"webhook_urls,omitempty"`
	// SIP is the SIP server's configuration; SIP.Port 0 turns SIP off (here it never means "any port").
	SIP sip.Config `json:"sip"`
	// MCU is the media configuration: canvas, rates, UDP, ICE.
	MCU mcu.Config `json:"mcu"`
}

// DefaultConfig returns the configuration `make run` uses: every interface on port 8080, info logs,
// loopback ICE candidates (so a browser on the same machine can connect) and mcu's media defaults.
func DefaultConfig() Config {
	m := mcu.DefaultConfig()
	m.IncludeLoopback = true
	m.TCPPort = 7881 // ICE over TCP
	return Config{HTTP: ":8080", HTTPS: ":8443", TLSDir: "tls", LogLevel: "info", MaxConnsPerIP: 20,
		RecordDir: "recordings", Chat: chat.DefaultConfig(), SIP: sip.DefaultConfig(), MCU: m, TURN: turn.DefaultConfig(),
		DrainTimeout: 10 * time.Minute}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.HTTP == "" {
		return fmt.Errorf("http address is empty")
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if err := c.validateTURN(); err != nil {
		return err
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	if err := c.whipConfig().Validate(); err != nil {
		return err
	}
	if c.MaxConnsPerIP < 0 {
		return fmt.Errorf("max conns per ip %d: want 0 (no limit) or more", c.MaxConnsPerIP)
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	if len(c.WebhookURLs) > 0 && len(keys) == 0 {
		return fmt.Errorf("webhooks are signed with an API key: set -api-keys too")
	}
	if c.RecordDir == "" {
		return fmt.Errorf("record dir is empty")
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public url %q: want http://HOST[:PORT] or https://...", c.PublicURL)
		}
	}
	if err := c.Chat.Validate(); err != nil {
		return err
	}
	if c.SIP.Port != 0 {
		sc := c.sipConfig()
		if err := sc.Validate(); err != nil {
			return err
		}
	}
	return c.MCU.Validate()
}

// whipConfig is the WHIP and WHEP endpoints' configuration: the token and the allowed origins.
func (c Config) whipConfig() signaling.WHIPConfig {
	w := signaling.DefaultWHIPConfig()
	w.Token = c.WHIPToken
	w.OriginPatterns = c.AllowedOrigins
	return w
}

// sipConfig is the SIP server's configuration: SIP, and RequireAuth when room access tokens are on (a
// caller then needs digest credentials or a trusted network, like every other entry point needs a token).
func (c Config) sipConfig() sip.Config {
	s := c.SIP
	if k, err := c.keys(); err == nil && len(k) > 0 {
		s.RequireAuth = true
	}
	s.PublicURL = c.publicURL()
	return s
}

// publicURL is PublicURL, or its default: http:// (https:// with TLS on), the SIP public host (else the
// SIP host, else the address this machine reaches the world from, else localhost) and the HTTP (HTTPS) port.
func (c Config) publicURL() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	host := c.SIP.PublicHost
	if host == "" {
		if a, err := netip.ParseAddr(c.SIP.Host); err == nil && !a.IsUnspecified() {
			host = c.SIP.Host
		}
	}
	if host == "" {
		host = outboundIP()
	}
	scheme, addr, port := "http", c.HTTP, "8080"
	if c.tlsOn() {
		scheme, addr, port = "https", c.HTTPS, "8443"
	}
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "" && p != "0" {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// keys reads APIKeys and APIKeysFile.
func (c Config) keys() (auth.Keys, error) {
	k, err := auth.ParseKeys(c.APIKeys)
	if err != nil {
		return nil, err
	}
	if c.APIKeysFile != "" {
		f, err := auth.LoadKeysFile(c.APIKeysFile)
		if err != nil {
			return nil, err
		}
		if err := k.Merge(f); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// trustedProxies parses TrustedProxies.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR or an IP", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (c Config) logLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// setting is one configuration knob reachable by flag and environment variable.
type setting struct {
	name, usage string
	set         func(string) error
	get         func() string
}

func strSetting(name, usage string, p *string) setting {
	return setting{name, usage, func(v string) error { *p = v; return nil }, func() string { return *p }}
}

func intSetting(name, usage string, p *int) setting {
	set := func(v string) error {
		n, err := strconv.Atoi(v)
		*p = n
		return err
	}
	return setting{name, usage, set, func() string { return strconv.Itoa(*p) }}
}

func durationSetting(name, usage string, p *time.Duration) setting {
	set := func(v string) error {
		d, err := time.ParseDuration(v)
		*p = d
		return err
	}
	return setting{name, usage, set, func() string { return p.String() }}
}

// secretSettings are a secret's two knobs: -NAME VALUE and -NAME-file PATH (the file's content, trimmed,
// so that the secret need not sit in the environment or the command line, where ps shows it). Neither
// ever prints the secret.
func secretSettings(name, usage string, p *string) []setting {
	hide := func() string {
		if *p == "" {
			return ""
		}
		return "***"
	}
	return []setting{
		{name, usage, func(v string) error { *p = v; return nil }, hide},
		{name + "-file", "file holding -" + name, func(v string) error {
			b, err := os.ReadFile(v)
			if err != nil {
				return err
			}
			*p = strings.TrimSpace(string(b))
			return nil
		}, func() string { return "" }},
	}
}

func listSetting(name, usage string, p *[]string) setting {
	set := func(v string) error { *p = splitList(v); return nil }
	return setting{name, usage, set, func() string { return strings.Join(*p, ",") }}
}

// settings lists every knob, bound to c's fields.
func (c *Config) settings() []setting {
	m := &c.MCU
	out := []setting{
		strSetting("http", "HTTP listen address (page, /ws, /whip/, /whep/, /healthz, /metrics); with TLS on, redirects to -https", &c.HTTP),
		strSetting("log-level", "log level: debug, info, warn, error", &c.LogLevel),
		strSetting("debug-addr", "serve /debug/pprof/ on this address (e.g. 127.0.0.1:6060); empty = off", &c.DebugAddr),
		strSetting("metrics-addr", "serve /metrics on this address (e.g. 127.0.0.1:9090) instead of -http; off = no metrics", &c.MetricsAddr),
		listSetting("allowed-origins", "extra browser origins allowed for WebSocket, WHIP and WHEP, comma separated host patterns", &c.AllowedOrigins),
		intSetting("max-conns-per-ip", "most WebSocket, WHIP and WHEP connections one client IP may hold; 0 = no limit", &c.MaxConnsPerIP),
		listSetting("trusted-proxies", "reverse proxies (CIDRs) whose X-Forwarded-For names the client", &c.TrustedProxies),
		intSetting("max-rooms", "most rooms open at once", &m.MaxRooms),
		intSetting("max-total-participants", "most participants in all rooms together", &m.MaxTotalParticipants),
		intSetting("max-outputs", "most recordings and live streams of one room at once (0 = none)", &m.MaxOutputs),
		durationSetting("negotiation-timeout", "remove a participant whose media has not connected this long after joining", &m.NegotiationTimeout),
		intSetting("max-input-bitrate", "most bit/s one participant may send (audio and video); beyond, packets are dropped", &m.MaxInputBitrate),
		{"max-input-size", "largest picture a participant may send, WIDTHxHEIGHT; larger ones are not decoded",
			func(v string) error {
				_, err := fmt.Sscanf(v, "%dx%d", &m.MaxInputWidth, &m.MaxInputHeight)
				return err
			},
			func() string { return fmt.Sprintf("%dx%d", m.MaxInputWidth, m.MaxInputHeight) }},
	}
	out = append(out, c.tlsSettings()...)
	out = append(out, c.turnSettings()...)
	out = append(out, c.clusterSettings()...)
	out = append(out,
		strSetting("record-dir", "directory of recordings (created with the first one)", &c.RecordDir),
		strSetting("public-url", "address people reach this server's pages at (https://meet.example.com), for links sent to SIP callers; default http://HOST:HTTP_PORT (https://HOST:HTTPS_PORT with TLS on)", &c.PublicURL),
		listSetting("record-rooms", "record rooms automatically as they start: all, or room names, comma separated", &c.RecordRooms),
		setting{"max-file-size", "largest file a participant may share in the chat, in bytes", func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			c.Chat.MaxFile = n
			return err
		}, func() string { return strconv.FormatInt(c.Chat.MaxFile, 10) }},
		listSetting("webhook-urls", "URLs that receive the server's events as signed JSON POSTs (need -api-keys), comma separated", &c.WebhookURLs))
	out = append(out, secretSettings("api-keys", "room access token keys, KEY:SECRET,... (secrets of at least 32 bytes); empty = open server", &c.APIKeys)[0],
		strSetting("api-keys-file", "file of API keys, one KEY: SECRET per line", &c.APIKeysFile))
	out = append(out, secretSettings("whip-token", "bearer token required by /whip/ and /whep/ when no -api-keys are set; empty = open", &c.WHIPToken)...)
	out = append(out, secretSettings("admin-token", "bearer token of the operators' API (/api/v1); empty = only roomAdmin tokens of -api-keys", &c.AdminToken)...)
	return append(out, []setting{
		intSetting("sip-port", "UDP and TCP port of the SIP server; 0 = no SIP", &c.SIP.Port),
		strSetting("sip-host", "IP the SIP server listens on; empty = all interfaces", &c.SIP.Host),
		strSetting("sip-public-host", "IP written in SIP Contact/Via and SDP (set it behind NAT); empty = the local address towards each peer", &c.SIP.PublicHost),
		strSetting("sip-realm", "digest authentication realm for SIP callers", &c.SIP.Realm),
		{"sip-users", "SIP callers allowed in, user:password,... (prefer -sip-users-file or the environment); empty = anyone may call",
			c.setSIPUsers, func() string {
				var parts []string
				for u := range c.SIP.Users {
					parts = append(parts, u+":***")
				}
				slices.Sort(parts)
				return strings.Join(parts, ",")
			}},
		{"sip-users-file", "file of SIP callers, user:password per line or comma separated", func(v string) error {
			b, err := os.ReadFile(v)
			if err != nil {
				return err
			}
			return c.setSIPUsers(strings.Join(strings.Fields(string(b)), ","))
		}, func() string { return "" }},
		listSetting("sip-trusted", "networks (CIDRs or IPs) of trunks and PBXs that may call without digest auth or per-address limits", &c.SIP.Trusted),
		{"sip-new-rooms", "let a SIP call open a room nobody is in (false: callers only join open rooms)", func(v string) error {
			b, err := strconv.ParseBool(v)
			c.SIP.AllowNewRooms = b
			return err
		}, func() string { return strconv.FormatBool(c.SIP.AllowNewRooms) }},
		intSetting("sip-max-calls", "most SIP calls at once; 0 = no limit", &c.SIP.MaxCalls),
		intSetting("sip-max-calls-per-ip", "most SIP calls from one source IP; 0 = no limit", &c.SIP.MaxCallsPerIP),
		{"sip-invite-rate", "new INVITEs per second from one source IP (bursts of twice that); 0 = no limit", func(v string) error {
			r, err := strconv.ParseFloat(v, 64)
			c.SIP.InviteRate, c.SIP.InviteBurst = r, max(1, int(2*r))
			return err
		}, func() string { return strconv.FormatFloat(c.SIP.InviteRate, 'g', -1, 64) }},
		durationSetting("sip-tcp-idle-timeout", "close a SIP TCP connection silent this long (no call on it)", &c.SIP.TCPIdleTimeout),
		{"canvas", "size of each composed picture, WIDTHxHEIGHT",
			func(v string) error { _, err := fmt.Sscanf(v, "%dx%d", &m.Width, &m.Height); return err },
			func() string { return fmt.Sprintf("%dx%d", m.Width, m.Height) }},
		intSetting("fps", "frame rate of the composed pictures", &m.FrameRate),
		intSetting("video-bitrate", "target bitrate of each video encoder, bit/s", &m.VideoBitrate),
		intSetting("audio-bitrate", "target bitrate of each Opus encoder, bit/s", &m.AudioBitrate),
		{"tiers", "video tiers below the main one (-canvas, -fps, -video-bitrate), best first: NAME:WxH@FPS:KBPSk,...", func(v string) error {
			t, err := mcu.ParseTiers(v)
			m.LowerTiers = t
			return err
		}, func() string {
			var parts []string
			for _, t := range m.LowerTiers {
				parts = append(parts, t.String())
			}
			return strings.Join(parts, ",")
		}},
		intSetting("visible-tiles", "most tiles in one picture; larger rooms show the active speakers", &m.VisibleTiles),
		intSetting("max-participants", "most participants in one room", &m.MaxParticipants),
		{"speaker-hold", "least time a speaker's tile stays visible in rooms larger than -visible-tiles", func(v string) error {
			d, err := time.ParseDuration(v)
			m.SpeakerHold = d
			return err
		}, func() string { return m.SpeakerHold.String() }},
		intSetting("udp-port", "one UDP port for every peer's media (ICE UDP mux); 0 = a port per peer", &m.UDPPort),
		{"udp-ports", "range of UDP ports for peers when -udp-port is 0, MIN-MAX", func(v string) error {
			m.UDPPortMin, m.UDPPortMax = 0, 0
			if v == "" {
				return nil
			}
			_, err := fmt.Sscanf(v, "%d-%d", &m.UDPPortMin, &m.UDPPortMax)
			return err
		}, func() string {
			if m.UDPPortMin == 0 && m.UDPPortMax == 0 {
				return ""
			}
			return fmt.Sprintf("%d-%d", m.UDPPortMin, m.UDPPortMax)
		}},
		listSetting("public-ip", "public IPs of a server behind a 1:1 NAT, comma separated", &m.NAT1To1IPs),
		listSetting("interfaces", "network interfaces to gather candidates on, comma separated (default all)", &m.Interfaces),
		{"video-shedding", "under CPU pressure draw fewer video frames so that audio stays on time (false: measure without)", func(v string) error {
			b, err := strconv.ParseBool(v)
			m.NoVideoShedding = !b
			return err
		}, func() string { return strconv.FormatBool(!m.NoVideoShedding) }},
		{"include-loopback", "gather loopback candidates (needed for a browser on the same machine)", func(v string) error {
			b, err := strconv.ParseBool(v)
			m.IncludeLoopback = b
			return err
		}, func() string { return strconv.FormatBool(m.IncludeLoopback) }},
		{"ice-servers", "STUN/TURN servers for clients, comma separated URLs; turn:user:pass@host:3478 sets credentials", func(v string) error {
			s, err := parseICEServers(v)
			m.ICEServers = s
			return err
		}, func() string { return formatICEServers(m.ICEServers) }},
		{"disconnect-timeout", "how long a participant may stay disconnected before removal", func(v string) error {
			d, err := time.ParseDuration(v)
			m.DisconnectTimeout = d
			return err
		}, func() string { return m.DisconnectTimeout.String() }},
		{"keyframe-interval", "least time between two IDRs receivers' keyframe requests force on one shared encoder", func(v string) error {
			d, err := time.ParseDuration(v)
			m.KeyframeInterval = d
			return err
		}, func() string { return m.KeyframeInterval.String() }},
		strSetting("rtp-address", "IP the plain-RTP sockets of SIP calls bind to; empty = all interfaces", &m.RTPAddress),
		{"rtp-ports", "UDP port range of plain RTP/RTCP for SIP calls, MIN-MAX; empty = any", func(v string) error {
			m.RTPPortMin, m.RTPPortMax = 0, 0
			if v == "" {
				return nil
			}
			_, err := fmt.Sscanf(v, "%d-%d", &m.RTPPortMin, &m.RTPPortMax)
			return err
		}, func() string {
			if m.RTPPortMin == 0 && m.RTPPortMax == 0 {
				return ""
			}
			return fmt.Sprintf("%d-%d", m.RTPPortMin, m.RTPPortMax)
		}},
		{"rtp-timeout", "hang up a SIP call when no RTP came for this long", func(v string) error {
			d, err := time.ParseDuration(v)
			m.RTPTimeout = d
			return err
		}, func() string { return m.RTPTimeout.String() }},
	}...)
}

// setSIPUsers reads "user:password,...".
func (c *Config) setSIPUsers(v string) error {
	users := map[string]string{}
	for _, up := range splitList(v) {
		u, pw, ok := strings.Cut(up, ":")
		if !ok || u == "" {
			return fmt.Errorf("sip user %q: want user:password", up)
		}
		users[u] = pw
	}
	c.SIP.Users = users
	if len(users) == 0 {
		c.SIP.Users = nil
	}
	return nil
}

// belowMain keeps the lower tiers that are really below the main one (smaller or equal size and frame
// rate, lower bitrate): the default tiers adapt when -canvas, -fps or -video-bitrate lower the main tier,
// while tiers the user gave are validated as given.
func belowMain(m mcu.Config) []mcu.Tier {
	var out []mcu.Tier
	for _, t := range m.LowerTiers {
		prev := m.VideoBitrate
		if len(out) > 0 {
			prev = out[len(out)-1].VideoBitrate
		}
		if t.Width <= m.Width && t.Height <= m.Height && t.FrameRate <= m.FrameRate && t.VideoBitrate < prev {
			out = append(out, t)
		}
	}
	return out
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseICEServers reads "stun:host:3478,turn:user:pass@host:3478?transport=udp".
func parseICEServers(v string) ([]mcu.ICEServer, error) {
	var out []mcu.ICEServer
	for _, u := range splitList(v) {
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok || (scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns") || rest == "" {
			return nil, fmt.Errorf("ice server %q: want stun:, stuns:, turn: or turns: URL", u)
		}
		s := mcu.ICEServer{URLs: []string{u}}
		if cred, host, ok := strings.Cut(rest, "@"); ok && strings.HasPrefix(scheme, "turn") {
			user, pass, _ := strings.Cut(cred, ":")
			s = mcu.ICEServer{URLs: []string{scheme + ":" + host}, Username: user, Credential: pass}
		}
		out = append(out, s)
	}
	return out, nil
}

func formatICEServers(servers []mcu.ICEServer) string {
	var parts []string
	for _, s := range servers {
		parts = append(parts, s.URLs...)
	}
	return strings.Join(parts, ",")
}

// loadConfig builds the configuration: defaults, then the -config file (strict: unknown fields are
// errors), then MCU_* environment variables, then flags, then Validate.
func loadConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("mcu", flag.ContinueOnError)
	file := fs.String("config", getenv("MCU_CONFIG"), "JSON configuration file (env MCU_CONFIG)")
	settings := cfg.settings()
	flagVals := make(map[string]*string, len(settings))
	for _, s := range settings {
		flagVals[s.name] = fs.String(s.name, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, envName(s.name), s.get()))
	}
	for _, s := range cfg.boolSettings() { // -NAME alone means true
		v := boolFlag{p: new(string)}
		fs.Var(v, s.name, fmt.Sprintf("%s (env %s, default %s)", s.usage, envName(s.name), s.get()))
		flagVals[s.name] = v.p
		settings = append(settings, s)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("parse config %s: %w", *file, err)
		}
	}
	for _, s := range settings {
		if v, ok := lookup(getenv, envName(s.name)); ok {
			if err := s.set(v); err != nil {
				return cfg, fmt.Errorf("%s=%q: %w", envName(s.name), v, err)
			}
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.name == f.Name && ferr == nil {
				if err := s.set(*flagVals[f.Name]); err != nil {
					ferr = fmt.Errorf("-%s %q: %w", f.Name, *flagVals[f.Name], err)
				}
			}
		}
	})
	if ferr != nil {
		return cfg, ferr
	}
	if slices.Equal(cfg.MCU.LowerTiers, mcu.DefaultConfig().LowerTiers) {
		cfg.MCU.LowerTiers = belowMain(cfg.MCU)
	}
	return cfg, cfg.Validate()
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func envName(flagName string) string {
	return "MCU_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
