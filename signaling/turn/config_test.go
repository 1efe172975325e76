package turn_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/signaling/turn"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := turn.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*turn.Config)
		want   string // in the error; "" for valid
	}{
		{"any ports", func(c *turn.Config) { c.Port, c.TLSPort = turn.AnyPort, turn.AnyPort }, ""},
		{"plain off", func(c *turn.Config) { c.Port = 0 }, ""},
		{"host and public ip", func(c *turn.Config) { c.Host, c.PublicIP = "10.0.0.2", "203.0.113.7" }, ""},
		{"port range", func(c *turn.Config) { c.Port = 70000 }, "port 70000"},
		{"negative port", func(c *turn.Config) { c.TLSPort = -2 }, "tls port -2"},
		{"same ports", func(c *turn.Config) { c.Port, c.TLSPort = 443, 443 }, "both 443"},
		{"port in relay range", func(c *turn.Config) { c.Port = 50000 }, "inside the relay port range"},
		{"bad host", func(c *turn.Config) { c.Host = "turn.example.org" }, "host"},
		{"multicast host", func(c *turn.Config) { c.Host = "224.0.0.1" }, "host"},
		{"bad public ip", func(c *turn.Config) { c.PublicIP = "0.0.0.0" }, "public ip"},
		{"empty realm", func(c *turn.Config) { c.Realm = "" }, "realm"},
		{"quote in realm", func(c *turn.Config) { c.Realm = `a"b` }, "realm"},
		{"long realm", func(c *turn.Config) { c.Realm = strings.Repeat("r", 128) }, "realm"},
		{"relay min low", func(c *turn.Config) { c.RelayPortMin = 80 }, "relay ports"},
		{"relay min above max", func(c *turn.Config) { c.RelayPortMin, c.RelayPortMax = 60000, 50000 }, "relay ports"},
		{"relay max high", func(c *turn.Config) { c.RelayPortMax = 65536 }, "relay ports"},
		{"short ttl", func(c *turn.Config) { c.CredentialTTL = time.Second }, "credential ttl"},
		{"long ttl", func(c *turn.Config) { c.CredentialTTL = 30 * 24 * time.Hour }, "credential ttl"},
		{"negative quota", func(c *turn.Config) { c.MaxAllocationsPerIP = -1 }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := turn.DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate(%+v) = %v; want nil", cfg, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate(%+v) = %v; want an error with %q", cfg, err, tc.want)
			}
		})
	}
}

func TestNewRefusesParams(t *testing.T) {
	peers := turn.Peers{IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Port: turn.Ports(4000)}
	for _, tc := range []struct {
		name   string
		mutate func(*turn.Config, *turn.Params)
		want   string
	}{
		{"no secret", func(_ *turn.Config, p *turn.Params) { p.Secret = "" }, "secret"},
		{"short secret", func(_ *turn.Config, p *turn.Params) { p.Secret = "0123456789" }, "secret"},
		{"no peers", func(_ *turn.Config, p *turn.Params) { p.Peers.IPs = nil }, "no peer ips"},
		{"no port filter", func(_ *turn.Config, p *turn.Params) { p.Peers.Port = nil }, "port filter"},
		{"unspecified peer", func(_ *turn.Config, p *turn.Params) { p.Peers.IPs = []netip.Addr{netip.IPv4Unspecified()} }, "unicast"},
		{"nothing to serve", func(c *turn.Config, _ *turn.Params) { c.Port = 0 }, "nothing to serve"},
		{"bad config", func(c *turn.Config, _ *turn.Params) { c.Realm = "" }, "realm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := turn.DefaultConfig()
			p := turn.Params{Secret: testSecret, Peers: peers}
			tc.mutate(&cfg, &p)
			if _, err := turn.New(cfg, p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want an error with %q", err, tc.want)
			}
		})
	}
}

func TestPortFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(int) bool
		in   []int
		out  []int
	}{
		{"Ports", turn.Ports(3000, 3002), []int{3000, 3002}, []int{0, 2999, 3001, 3003, 5060}},
		{"PortRange", turn.PortRange(10000, 10010), []int{10000, 10005, 10010}, []int{9999, 10011, 5060}},
		{"PortsFrom", turn.PortsFrom(1024, 5060, 5353), []int{1024, 3478, 65535}, []int{0, 53, 1023, 5060, 5353, 65536}},
	} {
		for _, p := range tc.in {
			if !tc.f(p) {
				t.Errorf("%s refuses %d; want it admitted", tc.name, p)
			}
		}
		for _, p := range tc.out {
			if tc.f(p) {
				t.Errorf("%s admits %d; want it refused", tc.name, p)
			}
		}
	}
}

func TestInterfacePeers(t *testing.T) {
	public := netip.MustParseAddr("203.0.113.7")
	p, err := turn.InterfacePeers([]string{"lo"}, []netip.Addr{public, netip.MustParseAddr("::ffff:198.51.100.1")}, turn.Ports(4000))
	if err != nil {
		t.Skipf("no loopback interface named lo: %v", err)
	}
	for _, want := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), public, netip.MustParseAddr("198.51.100.1")} {
		if !slices.Contains(p.IPs, want) {
			t.Errorf("InterfacePeers(lo, %v) = %v; want %v in it", public, p.IPs, want)
		}
	}
	if !p.Port(4000) || p.Port(4001) {
		t.Errorf("InterfacePeers kept the wrong port filter")
	}
	if _, err := turn.InterfacePeers([]string{"no-such-interface0"}, nil, turn.Ports(1)); err == nil {
		t.Errorf("InterfacePeers(no-such-interface0) = nil error; want one")
	}
	if _, err := turn.InterfacePeers(nil, []netip.Addr{netip.MustParseAddr("224.0.0.1")}, turn.Ports(1)); err == nil {
		t.Errorf("InterfacePeers with a multicast extra address = nil error; want one")
	}
	all, err := turn.InterfacePeers(nil, nil, turn.Ports(1))
	if err != nil {
		t.Fatalf("InterfacePeers(all) = %v", err)
	}
	for _, ip := range all.IPs {
		if ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.Is4In6() {
			t.Errorf("InterfacePeers(all) has %v; want no link-local, multicast or mapped address", ip)
		}
	}
}
