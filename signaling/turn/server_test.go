package turn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/signaling/turn"
)

const testSecret = "openmcu-test-secret-0123456789"

// waitLimit bounds every wait of these tests: reaching it means something is broken, not slow.
const waitLimit = 5 * time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

// testEnv is a started server on 127.0.0.1 (UDP, TCP and, with TLS params, TLS on free ports) and the
// socket standing in for the MCU's media socket: the one peer clients may reach (127.0.0.1, its port).
type testEnv struct {
	srv  *turn.Server
	peer *net.UDPConn
}

func listenUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func udpPort(c net.PacketConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// start starts a server: loopback allowed, the peer socket's port the only peer port; mutate adjusts the
// configuration and params first. The server is closed when the test ends.
func start(t testing.TB, mutate func(*turn.Config, *turn.Params)) *testEnv {
	t.Helper()
	peer := listenUDP(t)
	cfg := turn.DefaultConfig()
	cfg.Host, cfg.Port, cfg.TLSPort, cfg.AllowLoopback = "127.0.0.1", turn.AnyPort, turn.AnyPort, true
	p := turn.Params{Secret: testSecret, Peers: turn.Peers{IPs: []netip.Addr{loopback}, Port: turn.Ports(udpPort(peer))}}
	if mutate != nil {
		mutate(&cfg, &p)
	}
	srv, err := turn.New(cfg, p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testEnv{srv: srv, peer: peer}
}

// dial returns a pion TURN client of e's server over transport ("udp", "tcp" or "tls", with roots trusting
// the server's certificate), listening; it is closed when the test ends.
func dial(t testing.TB, e *testEnv, transport, username, password string, roots *x509.CertPool) *pionturn.Client {
	t.Helper()
	var (
		conn   net.PacketConn
		server netip.AddrPort
	)
	switch transport {
	case "udp":
		conn, server = listenUDP(t), reachable(e.srv.UDPAddr())
	case "tcp":
		server = reachable(e.srv.TCPAddr())
		c, err := net.DialTimeout("tcp", server.String(), waitLimit)
		if err != nil {
			t.Fatalf("dial tcp %v: %v", server, err)
		}
		conn = pionturn.NewSTUNConn(c)
	case "tls":
		server = reachable(e.srv.TLSAddr())
		d := &net.Dialer{Timeout: waitLimit}
		c, err := tls.DialWithDialer(d, "tcp", server.String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("dial tls %v: %v", server, err)
		}
		conn = pionturn.NewSTUNConn(c)
	default:
		t.Fatalf("transport %q", transport)
	}
	t.Cleanup(func() { _ = conn.Close() })
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{
		STUNServerAddr: server.String(), TURNServerAddr: server.String(), Conn: conn,
		Username: username, Password: password, Realm: "openmcu",
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatalf("client Listen: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// reachable returns the address of a listener as a client dials it: 127.0.0.1 for the unspecified address.
func reachable(a netip.AddrPort) netip.AddrPort {
	if a.Addr().IsUnspecified() {
		return netip.AddrPortFrom(loopback, a.Port())
	}
	return a
}

// allocate allocates a relay (closed when the test ends).
func allocate(t testing.TB, cl *pionturn.Client) net.PacketConn {
	t.Helper()
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay
}

// readFrom reads one datagram, failing the test after waitLimit.
func readFrom(t testing.TB, c net.PacketConn) ([]byte, net.Addr) {
	t.Helper()
	buf := make([]byte, 1600)
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read from %v: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

// roundTrip sends ping through the relay to the peer, checks it arrives, answers pong from the peer and
// checks it arrives through the relay.
func roundTrip(t testing.TB, relay net.PacketConn, peer *net.UDPConn, ping string) {
	t.Helper()
	if _, err := relay.WriteTo([]byte(ping), peer.LocalAddr()); err != nil {
		t.Fatalf("relay write to %v: %v", peer.LocalAddr(), err)
	}
	got, from := readFrom(t, peer)
	if string(got) != ping {
		t.Fatalf("peer got %q; want %q", got, ping)
	}
	if from.(*net.UDPAddr).Port != relay.LocalAddr().(*net.UDPAddr).Port {
		t.Fatalf("peer got %q from %v; want it from the relay %v", got, from, relay.LocalAddr())
	}
	pong := "re:" + ping
	if _, err := peer.WriteTo([]byte(pong), from); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	got, from = readFrom(t, relay)
	if string(got) != pong || from.String() != peer.LocalAddr().String() {
		t.Fatalf("client got %q from %v through the relay; want %q from %v", got, from, pong, peer.LocalAddr())
	}
}

// eventually polls cond until it holds, failing the test after waitLimit.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCredentialsCoturnVector(t *testing.T) {
	// Computed independently, once, with
	//   printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac 'openmcu-test-secret-0123456789' -binary | base64
	const want = "UxsHJsulikQB6KzXW0qVm4r9olA="
	user, pass := turn.Credentials(testSecret, "alice", 12*time.Hour, time.Unix(1700000000-12*3600, 0))
	if user != "1700000000:alice" || pass != want {
		t.Fatalf("Credentials = %q, %q; want %q, %q", user, pass, "1700000000:alice", want)
	}
}

func TestRelayRoundTrip(t *testing.T) {
	roots, serverTLS := selfSigned(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			e := start(t, func(_ *turn.Config, p *turn.Params) { p.TLS = serverTLS })
			user, pass := e.srv.Credentials("alice")
			cl := dial(t, e, transport, user, pass, roots)
			relay := allocate(t, cl)
			if got := relay.LocalAddr().(*net.UDPAddr).IP; !got.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("relayed address %v; want 127.0.0.1 (Config.Host)", relay.LocalAddr())
			}
			roundTrip(t, relay, e.peer, "hello over "+transport)
			roundTrip(t, relay, e.peer, "again") // over a channel if the client bound one by now
			st := e.srv.Stats()
			if st.AllocationsActive != 1 || st.AllocationsTotal != 1 {
				t.Errorf("Stats allocations active %d, total %d; want 1, 1", st.AllocationsActive, st.AllocationsTotal)
			}
			// The relay counts a datagram after sending it: the answer may come first.
			want := uint64(len("hello over " + transport + "again"))
			eventually(t, "the relayed bytes to be counted", func() bool {
				st := e.srv.Stats()
				return st.BytesToPeers == want && st.BytesFromPeers == want+2*uint64(len("re:"))
			})
			if transport != "udp" && st.ConnsActive != 1 {
				t.Errorf("Stats conns active %d; want 1", st.ConnsActive)
			}
			if err := relay.Close(); err != nil {
				t.Fatalf("relay Close: %v", err)
			}
			eventually(t, "the allocation to end", func() bool { return e.srv.Stats().AllocationsActive == 0 })
		})
	}
}

func TestPermissionRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		loopback bool
		peer     string
	}{
		{"other loopback ip", true, "127.0.0.2:4000"},
		{"other host", true, "192.0.2.1:4000"},
		{"public address", true, "203.0.113.9:4000"},
		{"loopback not allowed", false, "127.0.0.1:4000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, func(c *turn.Config, _ *turn.Params) { c.AllowLoopback = tc.loopback })
			user, pass := e.srv.Credentials("alice")
			cl := dial(t, e, "udp", user, pass, nil)
			allocate(t, cl)
			peer := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.peer))
			if err := cl.CreatePermission(peer); err == nil {
				t.Fatalf("CreatePermission(%v) succeeded; want it refused", peer)
			}
			if got := e.srv.Stats().PermissionsRefused; got != 1 {
				t.Fatalf("Stats.PermissionsRefused = %d; want 1", got)
			}
		})
	}
}

func TestPeerPortFiltered(t *testing.T) {
	e := start(t, nil)
	other := listenUDP(t) // an allowed IP, a port the filter refuses: another UDP service of the host
	user, pass := e.srv.Credentials("alice")
	cl := dial(t, e, "udp", user, pass, nil)
	relay := allocate(t, cl)

	if _, err := relay.WriteTo([]byte("to the other service"), other.LocalAddr()); err != nil {
		t.Fatalf("relay write to %v: %v", other.LocalAddr(), err)
	}
	eventually(t, "the datagram to a refused port to be dropped", func() bool { return e.srv.Stats().DroppedToPeer == 1 })
	roundTrip(t, relay, e.peer, "to the mcu") // still relaying to the allowed port
	if got, err := drain(other); err != nil || len(got) > 0 {
		t.Fatalf("the refused port got %q (%v); want nothing", got, err)
	}

	// The other service's datagrams to the relay are dropped too, although pion's permission (by IP)
	// lets them in.
	if _, err := other.WriteTo([]byte("from the other service"), relay.LocalAddr()); err != nil {
		t.Fatalf("write to the relay: %v", err)
	}
	eventually(t, "the datagram from a refused port to be dropped", func() bool { return e.srv.Stats().DroppedFromPeer == 1 })
	roundTrip(t, relay, e.peer, "still works")
}

func TestNoRelayLoops(t *testing.T) {
	// Every port of 127.0.0.1 is allowed, but not the server's own listening port, nor another relay.
	e := start(t, func(_ *turn.Config, p *turn.Params) { p.Peers.Port = turn.PortsFrom(1024) })
	user, pass := e.srv.Credentials("alice")
	relay1 := allocate(t, dial(t, e, "udp", user, pass, nil))
	relay2 := allocate(t, dial(t, e, "udp", user, pass, nil))
	for i, to := range []net.Addr{net.UDPAddrFromAddrPort(e.srv.UDPAddr()), relay2.LocalAddr()} {
		if _, err := relay1.WriteTo([]byte("loop"), to); err != nil {
			t.Fatalf("relay write to %v: %v", to, err)
		}
		eventually(t, "the datagram to "+to.String()+" to be dropped", func() bool { return e.srv.Stats().DroppedToPeer == uint64(i+1) })
	}
	roundTrip(t, relay1, e.peer, "to the mcu")
}

func TestAuthRefused(t *testing.T) {
	now := time.Now()
	good, goodPass := turn.Credentials(testSecret, "alice", time.Hour, now)
	expired, expiredPass := turn.Credentials(testSecret, "alice", -time.Minute, now)
	tooLong, tooLongPass := turn.Credentials(testSecret, "alice", 48*time.Hour, now)
	_, otherSecretPass := turn.Credentials("some-other-secret-of-length", "alice", time.Hour, now)
	for _, tc := range []struct {
		name, user, pass string
		field            func(turn.Stats) uint64
	}{
		{"expired", expired, expiredPass, func(s turn.Stats) uint64 { return s.AuthExpired }},
		{"wrong password", good, "d3Jvbmc=", func(s turn.Stats) uint64 { return s.AuthBadPassword }},
		{"other secret", good, otherSecretPass, func(s turn.Stats) uint64 { return s.AuthBadPassword }},
		{"no expiry", "alice", goodPass, func(s turn.Stats) uint64 { return s.AuthMalformed }},
		{"beyond the ttl", tooLong, tooLongPass, func(s turn.Stats) uint64 { return s.AuthMalformed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			cl := dial(t, e, "udp", tc.user, tc.pass, nil)
			if relay, err := cl.Allocate(); err == nil {
				_ = relay.Close()
				t.Fatalf("Allocate with %s credentials %q succeeded; want it refused", tc.name, tc.user)
			}
			st := e.srv.Stats()
			if got := tc.field(st); got == 0 {
				t.Fatalf("Allocate with %s credentials: Stats %+v; want the %s count to move", tc.name, st, tc.name)
			}
			if st.AllocationsTotal != 0 {
				t.Fatalf("Stats.AllocationsTotal = %d; want 0", st.AllocationsTotal)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	t.Run("per ip", func(t *testing.T) {
		e := start(t, func(c *turn.Config, _ *turn.Params) { c.MaxAllocationsPerIP = 2 })
		user, pass := e.srv.Credentials("alice")
		first := allocate(t, dial(t, e, "udp", user, pass, nil))
		allocate(t, dial(t, e, "tcp", user, pass, nil))
		if _, err := dial(t, e, "udp", user, pass, nil).Allocate(); err == nil {
			t.Fatalf("third Allocate from 127.0.0.1 succeeded; want 486 (MaxAllocationsPerIP 2)")
		}
		if got := e.srv.Stats().QuotaRefused; got != 1 {
			t.Fatalf("Stats.QuotaRefused = %d; want 1", got)
		}
		_ = first.Close()
		eventually(t, "the first allocation to end", func() bool { return e.srv.Stats().AllocationsActive == 1 })
		relay := allocate(t, dial(t, e, "udp", user, pass, nil))
		roundTrip(t, relay, e.peer, "after a slot freed")
	})
	t.Run("total", func(t *testing.T) {
		e := start(t, func(c *turn.Config, _ *turn.Params) { c.MaxAllocations, c.MaxAllocationsPerIP = 1, 0 })
		user, pass := e.srv.Credentials("alice")
		allocate(t, dial(t, e, "udp", user, pass, nil))
		if _, err := dial(t, e, "udp", user, pass, nil).Allocate(); err == nil {
			t.Fatalf("second Allocate succeeded; want 486 (MaxAllocations 1)")
		}
		if got := e.srv.Stats().QuotaRefused; got != 1 {
			t.Fatalf("Stats.QuotaRefused = %d; want 1", got)
		}
	})
	t.Run("tcp connections", func(t *testing.T) {
		e := start(t, func(c *turn.Config, _ *turn.Params) { c.MaxAllocationsPerIP = 1 })
		user, pass := e.srv.Credentials("alice")
		allocate(t, dial(t, e, "tcp", user, pass, nil))
		c, err := net.DialTimeout("tcp", e.srv.TCPAddr().String(), waitLimit)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(waitLimit))
		n, err := c.Read(make([]byte, 10))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("second TCP connection from 127.0.0.1: read %d bytes, %v; want it closed (MaxAllocationsPerIP 1)", n, err)
		}
		if got := e.srv.Stats().ConnsRefused; got != 1 {
			t.Fatalf("Stats.ConnsRefused = %d; want 1", got)
		}
	})
}

func TestTCPRelayRefused(t *testing.T) {
	// One allocation per IP: the refused TCP relay must give back the quota slot it was granted.
	e := start(t, func(c *turn.Config, _ *turn.Params) { c.MaxAllocationsPerIP = 1 })
	user, pass := e.srv.Credentials("alice")
	cl := dial(t, e, "tcp", user, pass, nil)
	if alloc, err := cl.AllocateTCP(); err == nil {
		_ = alloc.Close()
		t.Fatalf("AllocateTCP succeeded; want TCP relays refused")
	}
	if got := e.srv.Stats().TCPRelayRefused; got != 1 {
		t.Fatalf("Stats.TCPRelayRefused = %d; want 1", got)
	}
	relay := allocate(t, cl)
	roundTrip(t, relay, e.peer, "a UDP relay after the refused TCP one")
	if got := e.srv.Stats().QuotaRefused; got != 0 {
		t.Fatalf("Stats.QuotaRefused = %d; want 0", got)
	}
}

func TestPanicInPortFilterRecovered(t *testing.T) {
	e := start(t, func(_ *turn.Config, p *turn.Params) {
		p.Peers.Port = func(int) bool { panic("port filter bug") }
	})
	user, pass := e.srv.Credentials("alice")
	cl := dial(t, e, "udp", user, pass, nil)
	relay := allocate(t, cl)
	if _, err := relay.WriteTo([]byte("boom"), e.peer.LocalAddr()); err != nil {
		t.Fatalf("relay write: %v", err)
	}
	eventually(t, "the panic to be counted", func() bool {
		st := e.srv.Stats()
		return st.Panics >= 1 && st.DroppedToPeer >= 1
	})
	if _, err := cl.SendBindingRequest(); err != nil {
		t.Fatalf("Binding after the panic: %v", err)
	}
}

func TestStartPortTaken(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	udp := listenUDP(t)
	tcp := listenTCPOnly(t)
	for _, tc := range []struct {
		name string
		port int
		want string
	}{
		{"udp", udpPort(udp), "listen udp"},
		{"tcp", tcp.Addr().(*net.TCPAddr).Port, "listen tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := turn.DefaultConfig()
			cfg.Host, cfg.Port, cfg.TLSPort = "127.0.0.1", tc.port, 0
			if tc.port >= cfg.RelayPortMin {
				cfg.RelayPortMin, cfg.RelayPortMax = 1024, 2047 // the ephemeral port must lie outside
			}
			srv, err := turn.New(cfg, turn.Params{Secret: testSecret, Peers: turn.Peers{IPs: []netip.Addr{loopback}, Port: turn.Ports(1)}})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if err := srv.Start(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start on taken port %d = %v; want an error with %q", tc.port, err, tc.want)
			}
			if srv.UDPAddr().IsValid() || srv.TCPAddr().IsValid() {
				t.Errorf("after a failed Start: UDPAddr %v, TCPAddr %v; want none", srv.UDPAddr(), srv.TCPAddr())
			}
			if err := srv.Close(); err != nil {
				t.Fatalf("Close after a failed Start: %v", err)
			}
			if err := srv.Start(); !errors.Is(err, turn.ErrClosed) {
				t.Fatalf("Start after Close = %v; want ErrClosed", err)
			}
		})
	}
}

func TestCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	roots, serverTLS := selfSigned(t)
	cfg := turn.DefaultConfig()
	cfg.Host, cfg.Port, cfg.TLSPort, cfg.AllowLoopback = "127.0.0.1", turn.AnyPort, turn.AnyPort, true
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer peer.Close()
	srv, err := turn.New(cfg, turn.Params{Secret: testSecret, TLS: serverTLS,
		Peers: turn.Peers{IPs: []netip.Addr{loopback}, Port: turn.Ports(udpPort(peer))}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	e := &testEnv{srv: srv, peer: peer}
	// Clients run in a subtest so that their cleanups (client goroutines) are done before VerifyNone.
	t.Run("clients", func(t *testing.T) {
		user, pass := srv.Credentials("alice")
		for _, transport := range []string{"udp", "tcp", "tls"} {
			relay := allocate(t, dial(t, e, transport, user, pass, roots))
			roundTrip(t, relay, peer, "before close over "+transport)
		}
		idle, err := net.DialTimeout("tcp", srv.TCPAddr().String(), waitLimit) // a connection that never speaks
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer idle.Close()
		eventually(t, "3 connections", func() bool { return srv.Stats().ConnsActive == 3 })
		if st := srv.Stats(); st.AllocationsActive != 3 {
			t.Fatalf("Stats.AllocationsActive = %d; want 3", st.AllocationsActive)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if st := srv.Stats(); st.AllocationsActive != 0 || st.ConnsActive != 0 {
			t.Fatalf("after Close: %d allocations and %d connections active; want none", st.AllocationsActive, st.ConnsActive)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// listenTCPOnly listens on a TCP port of 127.0.0.1 whose UDP port is free (as it was checked), so that a
// server on that port fails on TCP, not UDP.
func listenTCPOnly(t testing.TB) net.Listener {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen tcp: %v", err)
		}
		pc, err := net.ListenPacket("udp4", ln.Addr().String())
		if err == nil {
			_ = pc.Close()
			t.Cleanup(func() { _ = ln.Close() })
			return ln
		}
		_ = ln.Close()
	}
	t.Fatalf("no TCP port of 127.0.0.1 with its UDP port free")
	return nil
}

// selfSigned returns a self-signed certificate for 127.0.0.1, as the roots a client trusts and the
// server's TLS configuration.
func selfSigned(t testing.TB) (*x509.CertPool, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "openmcu turn test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func TestPublicIPAdvertised(t *testing.T) {
	// Listening on every interface, the relay sockets advertise Config.PublicIP, and still relay.
	e := start(t, func(c *turn.Config, _ *turn.Params) { c.Host, c.PublicIP = "", "203.0.113.7" })
	if !e.srv.UDPAddr().Addr().IsUnspecified() {
		t.Fatalf("UDPAddr %v; want the unspecified address (Config.Host empty)", e.srv.UDPAddr())
	}
	user, pass := e.srv.Credentials("alice")
	relay := allocate(t, dial(t, e, "udp", user, pass, nil))
	if got := relay.LocalAddr().(*net.UDPAddr).IP; !got.Equal(net.IPv4(203, 0, 113, 7)) {
		t.Fatalf("relayed address %v; want 203.0.113.7 (Config.PublicIP)", relay.LocalAddr())
	}
	roundTrip(t, relay, e.peer, "hello")
}

func TestTCPClientGone(t *testing.T) {
	e := start(t, nil)
	user, pass := e.srv.Credentials("alice")
	c, err := net.DialTimeout("tcp", e.srv.TCPAddr().String(), waitLimit)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn := pionturn.NewSTUNConn(c)
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{TURNServerAddr: e.srv.TCPAddr().String(), Conn: conn,
		Username: user, Password: pass, Realm: "openmcu"})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	roundTrip(t, relay, e.peer, "before the client goes")
	_ = c.Close() // no Refresh 0: the connection just ends
	eventually(t, "the connection and its allocation to end", func() bool {
		st := e.srv.Stats()
		return st.ConnsActive == 0 && st.AllocationsActive == 0
	})
}

func TestRun(t *testing.T) {
	peer := listenUDP(t)
	cfg := turn.DefaultConfig()
	cfg.Host, cfg.Port, cfg.AllowLoopback = "127.0.0.1", turn.AnyPort, true
	srv, err := turn.New(cfg, turn.Params{Secret: testSecret, Peers: turn.Peers{IPs: []netip.Addr{loopback}, Port: turn.Ports(udpPort(peer))}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	eventually(t, "Run to start the server", func() bool { return srv.UDPAddr().IsValid() })
	if srv.TLSAddr().IsValid() {
		t.Errorf("TLSAddr %v without Params.TLS; want none", srv.TLSAddr())
	}
	user, pass := srv.Credentials("alice")
	roundTrip(t, allocate(t, dial(t, &testEnv{srv: srv, peer: peer}, "udp", user, pass, nil)), peer, "under Run")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after cancel; want nil", err)
	}
}

// logRecord is a record a recorder saw.
type logRecord struct {
	level slog.Level
	msg   string
	pion  bool // logged by pion (the "pion" attribute)
	attrs map[string]string
}

// recorder is a slog.Handler keeping every record, at every level.
type recorder struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	attrs []slog.Attr
}

func newRecorder() *recorder { return &recorder{mu: new(sync.Mutex), recs: new([]logRecord)} }

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	add := func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		if a.Key == "pion" {
			rec.pion = true
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorder{mu: h.mu, recs: h.recs, attrs: append(slices.Clip(h.attrs), attrs...)}
}

func (h *recorder) WithGroup(string) slog.Handler { return h }

func (h *recorder) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.recs)
}

func TestRefusalsReported(t *testing.T) {
	rec := newRecorder()
	e := start(t, func(_ *turn.Config, p *turn.Params) { p.Logger = slog.New(rec) })
	user, pass := e.srv.Credentials("alice")
	cl := dial(t, e, "udp", user, pass, nil)
	allocate(t, cl)
	if err := cl.CreatePermission(&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9}); err == nil {
		t.Fatalf("CreatePermission(192.0.2.1) succeeded; want it refused")
	}
	// Once a second in which something was refused, one Warn line sums it up.
	eventually(t, "the refusal report", func() bool {
		for _, r := range rec.records() {
			if r.level == slog.LevelWarn && r.msg == "turn requests refused" {
				if r.attrs["permissions_refused"] != "1" {
					t.Fatalf("report %v; want permissions_refused=1", r.attrs)
				}
				return true
			}
		}
		return false
	})
	var pion int
	for _, r := range rec.records() {
		if r.pion {
			pion++
			if r.level > slog.LevelDebug {
				t.Errorf("pion logged %q at %v; want Debug or below", r.msg, r.level)
			}
		}
		if r.level >= slog.LevelError {
			t.Errorf("logged %q %v at %v; want nothing at Error", r.msg, r.attrs, r.level)
		}
	}
	if pion == 0 {
		t.Errorf("no record of pion's; want its messages routed to the logger")
	}
}

func TestRelayAddressFromInterfaces(t *testing.T) {
	// Listening on every interface without Config.PublicIP, the relay sockets advertise the machine's
	// address (a global unicast one), never the unspecified address they are bound to.
	e := start(t, func(c *turn.Config, _ *turn.Params) { c.Host = "" })
	user, pass := e.srv.Credentials("alice")
	relay, err := dial(t, e, "udp", user, pass, nil).Allocate()
	if err != nil {
		t.Skipf("no allocation (a machine without a global IPv4 address?): %v", err)
	}
	defer relay.Close()
	ip, _ := netip.AddrFromSlice(relay.LocalAddr().(*net.UDPAddr).IP)
	if ip = ip.Unmap(); !ip.Is4() || !ip.IsGlobalUnicast() {
		t.Fatalf("relayed address %v; want a global unicast IPv4 address of the machine", relay.LocalAddr())
	}
	roundTrip(t, relay, e.peer, "from a relay bound to every interface")
}

// TestTLSHandshakeRefusedCounted: a client that refuses the server's certificate (a browser and a
// self-signed one) is counted and logged, instead of vanishing without a trace.
func TestTLSHandshakeRefusedCounted(t *testing.T) {
	_, serverTLS := selfSigned(t)
	e := start(t, func(_ *turn.Config, p *turn.Params) { p.TLS = serverTLS })
	d := &net.Dialer{Timeout: waitLimit}
	// No roots: the client refuses the certificate and aborts the handshake.
	if c, err := tls.DialWithDialer(d, "tcp", reachable(e.srv.TLSAddr()).String(), &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		c.Close()
		t.Fatal("a client without the root accepted the self-signed certificate")
	}
	deadline := time.Now().Add(waitLimit)
	for e.srv.Stats().TLSHandshakeFailed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: want the failed handshake counted", e.srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
