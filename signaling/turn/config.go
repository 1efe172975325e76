package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// AnyPort as Config.Port or Config.TLSPort listens on a port the system picks (UDP and TCP may then get
// different ones); the Server's address accessors tell which. Meant for tests.
const AnyPort = -1

// Config is the TURN server's configuration. It is plain, serialisable data; start from DefaultConfig and
// check it with Validate (New does).
type Config struct {
	// Port is the UDP and TCP port of plain TURN (turn:HOST:PORT?transport=udp and ?transport=tcp).
	// 0: neither; AnyPort: free ports.
	Port int `json:"port"`
	// TLSPort is the TCP port of TURN over TLS (turns:HOST:PORT?transport=tcp), served only when Params.TLS
	// is set. 0: none; AnyPort: a free port.
	TLSPort int `json:"tls_port"`
	// Host is the IP address the listeners and the relay sockets bind to; empty: every interface.
	Host string `json:"host"`
	// PublicIP is the relay address written in XOR-RELAYED-ADDRESS (what the client advertises as its relay
	// candidate): set it behind 1:1 NAT. Empty: Host if it is a specific address, else the machine's
	// address of the family the client asked for (the source address of the default route, or the first
	// global unicast address of an interface); a family with no such address gets no allocations. With a
	// specific Host, only Host's family gets allocations.
	PublicIP string `json:"public_ip"`
	// Realm is the long-term credential realm (RFC 8489 9.2); a request in another realm is refused.
	Realm string `json:"realm"`
	// RelayPortMin and RelayPortMax bound the UDP ports of relay sockets (inclusive). Relay sockets only
	// ever exchange datagrams with the MCU's own addresses (Params.Peers), so this range need not be open
	// in a firewall unless the MCU is reached through a public IP that loops back through NAT.
	RelayPortMin int `json:"relay_port_min"`
	RelayPortMax int `json:"relay_port_max"`
	// CredentialTTL is how long credentials made by Server.Credentials stay valid, and the longest validity
	// a presented credential may claim: a username whose expiry lies further ahead is refused. The expiry
	// is checked on every authenticated request (Allocate, Refresh, CreatePermission, ChannelBind), so a
	// credential that expires during a call ends its relay at the next refresh: the TTL must outlast the
	// longest call.
	CredentialTTL time.Duration `json:"credential_ttl"`
	// MaxAllocations bounds the allocations (relay sockets) open at once, and the TCP and TLS connections
	// (each carries at most one allocation). 0: no limit.
	MaxAllocations int `json:"max_allocations"`
	// MaxAllocationsPerIP bounds the allocations, and the TCP and TLS connections, of one client IP. 0: no
	// limit.
	MaxAllocationsPerIP int `json:"max_allocations_per_ip"`
	// AllowLoopback lets clients relay to loopback peers (127.0.0.0/8, ::1) that are in Params.Peers;
	// otherwise loopback peers are always refused. Meant for tests and single-host setups.
	AllowLoopback bool `json:"allow_loopback"`
}

// DefaultConfig returns the defaults:
//   - ports 3478 (UDP and TCP) and 5349 (TLS): the IANA "turn" and "turns" ports every client expects;
//   - every interface, relay address from the interfaces, realm "openmcu";
//   - relay ports 49152-65535: coturn's default, the IANA dynamic range, wide enough that a random pick
//     rarely collides with the MCU's own sockets;
//   - credentials valid 12 hours: longer than any meeting (a credential expiring mid-call would end the
//     relay at its next refresh, see Config.CredentialTTL), short enough that a leaked one is useless
//     the next day;
//   - 1000 allocations in all, 30 per client IP: a browser keeps one allocation per TURN URL it was
//     given (UDP, TCP and TLS: three), so 30 lets about ten participants share an office NAT, and 1000
//     covers the MCU's default 500 participants even if a third of them relay everything;
//   - loopback peers refused.
func DefaultConfig() Config {
	return Config{
		Port:                3478,
		TLSPort:             5349,
		Realm:               "openmcu",
		RelayPortMin:        49152,
		RelayPortMax:        65535,
		CredentialTTL:       12 * time.Hour,
		MaxAllocations:      1000,
		MaxAllocationsPerIP: 30,
	}
}

// Bounds of Config.CredentialTTL.
const (
	minCredentialTTL = time.Minute
	maxCredentialTTL = 7 * 24 * time.Hour
)

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.Port > 0 && c.Port == c.TLSPort {
		return fmt.Errorf("turn: port and tls port are both %d", c.Port)
	}
	if c.Host != "" {
		a, err := netip.ParseAddr(c.Host)
		if err != nil || a.IsMulticast() || a.Zone() != "" {
			return fmt.Errorf("turn: host %q is not a usable IP address", c.Host)
		}
	}
	if c.PublicIP != "" {
		a, err := netip.ParseAddr(c.PublicIP)
		if err != nil || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
			return fmt.Errorf("turn: public ip %q is not a usable IP address", c.PublicIP)
		}
	}
	if c.Realm == "" || len(c.Realm) > 127 || strings.ContainsAny(c.Realm, "\"\\\r\n") {
		return fmt.Errorf("turn: bad realm %q (want 1 to 127 characters, no quotes, backslashes or line breaks)", c.Realm)
	}
	if c.RelayPortMin < 1024 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax {
		return fmt.Errorf("turn: relay ports %d-%d: want 1024 <= min <= max <= 65535", c.RelayPortMin, c.RelayPortMax)
	}
	for _, p := range []struct {
		name string
		port int
	}{{"port", c.Port}, {"tls port", c.TLSPort}} {
		if p.port != AnyPort && (p.port < 0 || p.port > 65535) {
			return fmt.Errorf("turn: %s %d out of range", p.name, p.port)
		}
		if p.port > 0 && p.port >= c.RelayPortMin && p.port <= c.RelayPortMax {
			return fmt.Errorf("turn: %s %d inside the relay port range %d-%d", p.name, p.port, c.RelayPortMin, c.RelayPortMax)
		}
	}
	if c.CredentialTTL < minCredentialTTL || c.CredentialTTL > maxCredentialTTL {
		return fmt.Errorf("turn: credential ttl %v: want %v to %v", c.CredentialTTL, minCredentialTTL, maxCredentialTTL)
	}
	if c.MaxAllocations < 0 || c.MaxAllocationsPerIP < 0 {
		return errors.New("turn: max allocations and max allocations per ip must not be negative")
	}
	return nil
}

// hostAddr is Config.Host parsed (unmapped); invalid when empty. Call after Validate.
func (c *Config) hostAddr() netip.Addr {
	a, err := netip.ParseAddr(c.Host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// publicAddr is Config.PublicIP parsed (unmapped); invalid when empty. Call after Validate.
func (c *Config) publicAddr() netip.Addr {
	a, err := netip.ParseAddr(c.PublicIP)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
