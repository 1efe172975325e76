package sip

import (
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
}

// DefaultConfig returns the defaults: every interface, port 5060, UDP and TCP, no authentication.
func DefaultConfig() Config {
	return Config{
		Port:        5060,
		Transports:  []string{"udp", "tcp"},
		Realm:       "openmcu",
		UserAgent:   "openmcu",
		RingTimeout: 60 * time.Second,
		DialVideo:   true,
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
	return nil
}

func (c *Config) serves(transport string) bool { return slices.Contains(c.Transports, transport) }

// Params holds what a Server needs from its owner besides configuration.
type Params struct {
	// Conference is the MCU (MCUConference) or a fake; required.
	Conference Conference
	// Logger receives lifecycle messages (Info) and negotiation details (Debug); nil discards them.
	Logger *slog.Logger
}
