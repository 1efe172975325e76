package main

// Reachability: the embedded TURN server (signaling/turn) and the STUN/TURN servers each client is handed
// (short-lived TURN credentials in "joined" and in WHIP/WHEP Link headers).

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/turn"
)

// turnSettings are the TURN knobs: the embedded server's ports and relay range, its shared secret, and
// external TURN servers that share it (coturn with use-auth-secret).
func (c *Config) turnSettings() []setting {
	t := &c.TURN
	out := []setting{
		intSetting("turn-port", "embedded TURN server's UDP and TCP port; 0 = no embedded TURN", &t.Port),
		intSetting("turn-tls-port", "embedded TURN server's TLS port (needs HTTPS: -tls-cert/-tls-key or -tls-self-signed); 0 = none", &t.TLSPort),
		{"turn-relay-ports", "UDP ports the embedded TURN server relays from, MIN-MAX", func(v string) error {
			_, err := fmt.Sscanf(v, "%d-%d", &t.RelayPortMin, &t.RelayPortMax)
			return err
		}, func() string { return fmt.Sprintf("%d-%d", t.RelayPortMin, t.RelayPortMax) }},
		durationSetting("turn-credential-ttl", "lifetime of the TURN credentials handed to each client", &t.CredentialTTL),
		listSetting("turn-urls", "external TURN servers sharing -turn-secret (coturn use-auth-secret), e.g. turn:turn.example.org:3478?transport=udp; handed out instead of the embedded server's", &c.TURNURLs),
		{"turn-allow-loopback", "let the embedded TURN server relay to loopback addresses (tests only)", func(v string) error {
			b, err := strconv.ParseBool(v)
			t.AllowLoopback = b
			return err
		}, func() string { return strconv.FormatBool(t.AllowLoopback) }},
		intSetting("ice-tcp-port", "TCP port for ICE over TCP (clients whose UDP is blocked); 0 = none", &c.MCU.TCPPort),
	}
	return append(out, secretSettings("turn-secret", "TURN REST shared secret (16+ bytes; default: a random one per start, enough for the embedded server alone)", &c.TURNSecret)...)
}

// validateTURN checks the TURN settings.
func (c Config) validateTURN() error {
	if err := c.TURN.Validate(); err != nil && c.TURN.Port != 0 {
		return err
	}
	if c.TURNSecret != "" && len(c.TURNSecret) < 16 {
		return fmt.Errorf("turn secret: at least 16 bytes")
	}
	if len(c.TURNURLs) > 0 && c.TURNSecret == "" {
		return fmt.Errorf("-turn-urls needs -turn-secret (the secret the TURN servers were given)")
	}
	for _, u := range c.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("turn url %q: want turn:HOST[:PORT][?transport=udp|tcp] or turns:...", u)
		}
	}
	return nil
}

// relay is the embedded TURN server (nil when off) and what clients are told.
type relay struct {
	cfg    Config
	secret string
	srv    *turn.Server // nil: no embedded server
	tls    bool         // the embedded server serves TLS
	now    func() time.Time
}

// newRelay starts the embedded TURN server unless it is off. It relays only to this server's media
// addresses: the interfaces' addresses (and -public-ip), on the MCU's media ports.
func newRelay(cfg Config, tlsConf *tls.Config, log *slog.Logger) (*relay, error) {
	r := &relay{cfg: cfg, secret: cfg.TURNSecret, now: time.Now}
	if cfg.TURN.Port == 0 && len(cfg.TURNURLs) == 0 {
		return r, nil
	}
	if r.secret == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		r.secret = base64.RawStdEncoding.EncodeToString(b)
	}
	if cfg.TURN.Port == 0 {
		return r, nil
	}
	tc := cfg.TURN
	var extra []netip.Addr
	for _, s := range cfg.MCU.NAT1To1IPs {
		if a, err := netip.ParseAddr(s); err == nil {
			extra = append(extra, a)
		}
	}
	if tc.PublicIP == "" && len(cfg.MCU.NAT1To1IPs) > 0 {
		tc.PublicIP = cfg.MCU.NAT1To1IPs[0]
	}
	peers, err := turn.InterfacePeers(cfg.MCU.Interfaces, extra, mediaPorts(cfg))
	if err != nil {
		return nil, fmt.Errorf("turn: %w", err)
	}
	p := turn.Params{Secret: r.secret, Peers: peers, Logger: log.With("component", "turn")}
	if tlsConf != nil && tc.TLSPort != 0 {
		p.TLS = tlsConf.Clone()
	} else {
		tc.TLSPort = 0
	}
	srv, err := turn.New(tc, p)
	if err != nil {
		return nil, fmt.Errorf("turn: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("turn: %w", err)
	}
	r.srv, r.tls = srv, p.TLS != nil
	log.Info("turn listening", "udp", srv.UDPAddr().String(), "tcp", srv.TCPAddr().String(), "tls", srv.TLSAddr().String())
	return r, nil
}

// mediaPorts is which ports of the MCU's addresses the relay may reach: the single media port, the media
// port range, or any unprivileged port but the server's own signalling ports.
func mediaPorts(cfg Config) func(int) bool {
	m := cfg.MCU
	switch {
	case m.UDPPort != 0:
		return turn.Ports(m.UDPPort)
	case m.UDPPortMin != 0:
		return turn.PortRange(int(m.UDPPortMin), int(m.UDPPortMax))
	}
	var deny []int
	if cfg.SIP.Port != 0 {
		deny = append(deny, cfg.SIP.Port)
	}
	for _, addr := range []string{cfg.HTTP, cfg.HTTPS} {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n != 0 {
				deny = append(deny, n)
			}
		}
	}
	return turn.PortsFrom(1024, deny...)
}

// Close stops the embedded server.
func (r *relay) Close() error {
	if r == nil || r.srv == nil {
		return nil
	}
	return r.srv.Close()
}

// stats returns the embedded server's counts (zero without one).
func (r *relay) stats() (turn.Stats, bool) {
	if r == nil || r.srv == nil {
		return turn.Stats{}, false
	}
	return r.srv.Stats(), true
}

// iceServers is the signaling.ICEServerFunc: the configured STUN servers; static TURN credentials
// (-ice-servers) only for clients with a valid room token; and TURN credentials made for this client
// that expire (-turn-credential-ttl), for the embedded server at the host the client reached us at (or
// -public-ip), or for -turn-urls.
func (r *relay) iceServers(identity, host string, authenticated bool) []mcu.ICEServer {
	var out []mcu.ICEServer
	for _, s := range r.cfg.MCU.ICEServers {
		if (s.Username != "" || s.Credential != "") && !authenticated {
			continue // a long-lived secret is not for strangers
		}
		out = append(out, s)
	}
	if r.secret == "" {
		return out
	}
	var urls []string
	if r.srv != nil {
		h := host
		if r.cfg.TURN.PublicIP != "" {
			h = r.cfg.TURN.PublicIP
		} else if len(r.cfg.MCU.NAT1To1IPs) > 0 {
			h = r.cfg.MCU.NAT1To1IPs[0]
		}
		if h == "" {
			h = "localhost"
		}
		if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
			h = "[" + h + "]"
		}
		port := strconv.Itoa(int(r.srv.UDPAddr().Port()))
		urls = append(urls, "turn:"+h+":"+port+"?transport=udp", "turn:"+h+":"+strconv.Itoa(int(r.srv.TCPAddr().Port()))+"?transport=tcp")
		if r.tls {
			urls = append(urls, "turns:"+h+":"+strconv.Itoa(int(r.srv.TLSAddr().Port()))+"?transport=tcp")
		}
	}
	urls = append(urls, r.cfg.TURNURLs...)
	if len(urls) == 0 {
		return out
	}
	user, pass := turn.Credentials(r.secret, identity, r.cfg.TURN.CredentialTTL, r.now())
	return append(out, mcu.ICEServer{URLs: urls, Username: user, Credential: pass})
}

var _ signaling.ICEServerFunc = (*relay)(nil).iceServers
