package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config is the SIP server's configuration. It is plain, serialisable data; start from DefaultConfig.
type Config struct {
	// Host is the address the server listens on; empty: every interface.
	Host string `json:"host"`
	// Port is the UDP and TCP port (the same for both); 0 picks a free one (see Server.Port). The owner
	// turns SIP off by not creating a Server.
	Port int `json:"port"`
	// Transports lists the transports to serve: "udp", "tcp" or both (the default).
	Transports []string `json:"transports"`
	// PublicHost is the IP address written in Contact and Via headers and in SDP (o=, and c= for media
	// bound to a wildcard address): set it behind NAT. Empty: the local address the system routes towards
	// each peer.
	PublicHost string `json:"public_host"`
	// Realm and Users turn on digest authentication (RFC 3261 22, MD5) of callers: a new INVITE must carry
	// credentials of one of Users (name to password). Empty Users: anyone may call in. Realm defaults to
	// "openmcu".
	Realm string            `json:"realm"`
	Users map[string]string `json:"users"`
	// UserAgent is the User-Agent and Server header value.
	UserAgent string `json:"user_agent"`
	// RingTimeout bounds how long a dial-out rings before it is cancelled.
	RingTimeout time.Duration `json:"ring_timeout"`
	// DialVideo makes dial-out offer H.264 video besides audio.
	DialVideo bool `json:"dial_video"`
	// PublicURL is the server's web address as callers' users reach it ("http://192.0.2.7:8080"): the
	// links of shared files sent to callers as chat lines start with it. Empty: they are bare paths.
	PublicURL string `json:"public_url"`

	// Admission and flood limits. Each refusal is counted in Stats and answered with a Warning header.

	// Trusted lists the networks (CIDR, or a single IP) of trunks and PBXs that may call without digest
	// authentication and without the per-address limits (InviteRate, MaxCallsPerIP, MaxTCPConnsPerIP);
	// MaxCalls still applies to them.
	Trusted []string `json:"trusted"`
	// RequireAuth refuses (403) a new call unless the caller passed digest authentication (Users) or
	// comes from a Trusted network. With neither Users nor Trusted every caller is refused: a closed
	// server, which New logs. Without RequireAuth and Users, anyone may call.
	RequireAuth bool `json:"require_auth"`
	// AllowNewRooms lets a call create the room it asks for; false: a call to a room that does not exist
	// is refused (404), so SIP callers can only join rooms others opened.
	AllowNewRooms bool `json:"allow_new_rooms"`
	// InviteRate and InviteBurst limit the new INVITEs from one source IP: a token bucket of InviteBurst
	// filled at InviteRate per second. An INVITE beyond it gets 503 with Retry-After. InviteRate 0: no
	// limit. At most maxRateBuckets sources are tracked; beyond that (a flood from spoofed sources) the
	// untracked ones share one bucket.
	InviteRate  float64 `json:"invite_rate"`
	InviteBurst int     `json:"invite_burst"`
	// MaxCalls bounds the calls at once (inbound, ringing or answered, and outbound): a new INVITE beyond
	// it gets 503, a Dial ErrTooManyCalls. MaxCallsPerIP bounds the inbound calls from one source IP
	// (486). 0: no limit.
	MaxCalls      int `json:"max_calls"`
	MaxCallsPerIP int `json:"max_calls_per_ip"`
	// MaxMessageSize is the largest SIP message accepted, in bytes: a larger UDP datagram is dropped, a TCP
	// connection that sends a larger message (headers and Content-Length) is closed before its body is
	// read. At most 65535.
	MaxMessageSize int `json:"max_message_size"`
	// TCPIdleTimeout closes a TCP connection that sent nothing (not even a keep-alive CRLF) for that long,
	// unless a call runs over it. 0: never.
	TCPIdleTimeout time.Duration `json:"tcp_idle_timeout"`
	// MaxTCPConnsPerIP bounds the TCP connections open at once from one IP; a connection beyond it is
	// closed as it is accepted. 0: no limit.
	MaxTCPConnsPerIP int `json:"max_tcp_conns_per_ip"`
}

// DefaultConfig returns the defaults: every interface, port 5060, UDP and TCP, no authentication, new
// rooms allowed, 5 INVITEs a second (bursts of 10) per source, 200 calls (20 per source), messages up to
// 16 KiB, idle TCP connections closed after 2 minutes, 16 TCP connections per source.
func DefaultConfig() Config {
	return Config{
		Port:             5060,
		Transports:       []string{"udp", "tcp"},
		Realm:            "openmcu",
		UserAgent:        "openmcu",
		RingTimeout:      60 * time.Second,
		DialVideo:        true,
		AllowNewRooms:    true,
		InviteRate:       5,
		InviteBurst:      10,
		MaxCalls:         200,
		MaxCallsPerIP:    20,
		MaxMessageSize:   16 << 10,
		TCPIdleTimeout:   2 * time.Minute,
		MaxTCPConnsPerIP: 16,
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("sip: port %d out of range", c.Port)
	}
	if len(c.Transports) == 0 {
		return errors.New("sip: no transport")
	}
	for _, t := range c.Transports {
		if t != "udp" && t != "tcp" {
			return fmt.Errorf("sip: unknown transport %q (want udp or tcp)", t)
		}
	}
	if c.Host != "" {
		if _, err := netip.ParseAddr(c.Host); err != nil {
			return fmt.Errorf("sip: host %q is not an IP address", c.Host)
		}
	}
	if c.PublicHost != "" {
		a, err := netip.ParseAddr(c.PublicHost)
		if err != nil || a.IsUnspecified() {
			return fmt.Errorf("sip: public host %q is not a usable IP address", c.PublicHost)
		}
	}
	for u := range c.Users {
		if u == "" || strings.ContainsAny(u, "\"\\\r\n") {
			return fmt.Errorf("sip: bad user name %q", u)
		}
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		return fmt.Errorf("sip: bad realm %q", c.Realm)
	}
	if strings.ContainsAny(c.UserAgent, "\r\n") {
		return errors.New("sip: bad user agent")
	}
	if c.RingTimeout <= 0 {
		return errors.New("sip: ring timeout must be positive")
	}
	if _, err := parsePrefixes(c.Trusted); err != nil {
		return fmt.Errorf("sip: trusted: %w", err)
	}
	if c.InviteRate < 0 || c.InviteRate > 1e6 || c.InviteRate != c.InviteRate {
		return fmt.Errorf("sip: invite rate %v: want 0..1000000", c.InviteRate)
	}
	if c.InviteRate > 0 && (c.InviteBurst < 1 || c.InviteBurst > 1e6) {
		return fmt.Errorf("sip: invite burst %d: want 1..1000000", c.InviteBurst)
	}
	if c.MaxCalls < 0 || c.MaxCallsPerIP < 0 || c.MaxTCPConnsPerIP < 0 {
		return errors.New("sip: max calls, max calls per ip and max tcp connections per ip must not be negative")
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 65535 {
		return fmt.Errorf("sip: max message size %d: want 1024..65535", c.MaxMessageSize)
	}
	if c.TCPIdleTimeout < 0 || c.TCPIdleTimeout > 0 && c.TCPIdleTimeout < time.Second {
		return fmt.Errorf("sip: tcp idle timeout %v: want 0 (never) or at least 1s", c.TCPIdleTimeout)
	}
	return nil
}

// parsePrefixes parses CIDRs or single IPs (a /32 or /128).
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 { // sources are compared unmapped
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (c *Config) serves(transport string) bool { return slices.Contains(c.Transports, transport) }

// Params holds what a Server needs from its owner besides configuration.
type Params struct {
	// Conference is the MCU (MCUConference) or a fake; required.
	Conference Conference
	// Logger receives lifecycle messages (Info) and negotiation details (Debug); nil discards them.
	Logger *slog.Logger
	// Chat, when set, is the rooms' chat (*chat.Hub): callers send and receive it as SIP MESSAGE.
	Chat ChatHub
	// Route, when set, says where a new call's room is served (several servers sharing rooms): "" here,
	// or the host:port of the SIP server of the node that serves it, where the caller is redirected (302
	// with that Contact). An error (the cluster cannot place the room now) refuses the call with 503.
	Route func(ctx context.Context, room string) (target string, err error)
}
