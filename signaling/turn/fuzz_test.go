package turn_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
)

// FuzzServer sends fuzzed datagrams to a running server's UDP listener on loopback. An input holds up to
// fuzzMaxDatagrams datagrams separated by fuzzSep, sent in order from a fresh client socket. A datagram that
// decodes as a STUN message with MESSAGE-INTEGRITY gets valid credentials first (USERNAME, REALM, NONCE
// and MESSAGE-INTEGRITY replaced, FINGERPRINT recomputed), so the fuzzer reaches the authenticated
// requests (Allocate, CreatePermission, ChannelBind, Refresh) and the relay, not only the 401 path.
//
// After each input the client releases whatever it allocated (an authenticated Refresh with LIFETIME 0)
// and the target fails on:
//   - a Binding request left unanswered (before and after the release): the server is wedged or dead;
//   - any panic recovered in the server's callbacks (Stats.Panics), or one not recovered (the process);
//   - an allocation left after the release;
//   - any datagram reaching the sentinel: a socket on the allowed IP (127.0.0.1) whose port the peer filter
//     refuses, which the seeds aim Send indications and ChannelData at. The server handles one client's
//     datagrams in order, so anything relayed to it has arrived when the Binding answer has.
//
// Every fuzzCheckEvery inputs, and once at the end, a pion client allocates with fresh credentials and
// relays a datagram to the peer and back: the server still works.
//
// Run it with
//
//	go test -run '^$' -fuzz FuzzServer -fuzztime 60s ./signaling/turn/
//
// Crashers it finds go to testdata/fuzz/FuzzServer and stay there as seeds.
//
// fuzz budget: 2000x
func FuzzServer(f *testing.F) {
	e := start(f, nil)
	fe := &fuzzEnv{testEnv: e, sentinel: listenUDP(f), realm: "openmcu"}
	fe.user, fe.pass = e.srv.Credentials("fuzz")
	fe.nonce = fe.fetchNonce(f)
	for _, seed := range fe.seeds(f) {
		f.Add(seed)
	}
	f.Cleanup(func() {
		if err := fe.relayWorks(); err != nil {
			f.Errorf("after fuzzing: %v", err)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		fe.run(t, data)
	})
}

const (
	fuzzSep          = "|TURN|"
	fuzzMaxDatagrams = 4
	fuzzCheckEvery   = 250
)

type fuzzEnv struct {
	*testEnv
	sentinel          *net.UDPConn
	user, pass, realm string
	nonce             string
	execs             int
}

func (fe *fuzzEnv) run(t *testing.T, data []byte) {
	c := listenUDP(t)
	server := net.UDPAddrFromAddrPort(fe.srv.UDPAddr())
	for _, d := range bytes.SplitN(data, []byte(fuzzSep), fuzzMaxDatagrams) {
		if _, err := c.WriteTo(fe.withCredentials(d), server); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	fe.binding(t, c, "after the input")
	release := fe.build(t, stun.MethodRefresh, stun.ClassRequest, lifetime(0))
	if _, err := c.WriteTo(release, server); err != nil {
		t.Fatalf("send: %v", err)
	}
	fe.binding(t, c, "after the release")
	st := fe.srv.Stats()
	if st.Panics != 0 {
		t.Fatalf("%d panics recovered in the server's callbacks (logged with their stack at Error)", st.Panics)
	}
	if st.AllocationsActive != 0 {
		t.Fatalf("%d allocations left after their client's Refresh LIFETIME 0", st.AllocationsActive)
	}
	got, err := drain(fe.sentinel)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > 0 {
		t.Fatalf("the sentinel (a refused port) got %q", got)
	}
	if fe.execs++; fe.execs%fuzzCheckEvery == 0 {
		if err := fe.relayWorks(); err != nil {
			t.Fatal(err)
		}
	}
}

// binding sends a Binding request from c and waits for its answer, skipping whatever else comes.
func (fe *fuzzEnv) binding(t *testing.T, c *net.UDPConn, when string) {
	t.Helper()
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.WriteTo(req.Raw, net.UDPAddrFromAddrPort(fe.srv.UDPAddr())); err != nil {
		t.Fatalf("send binding: %v", err)
	}
	buf := make([]byte, 1600)
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer to a Binding request %s: %v", when, err)
		}
		m := &stun.Message{Raw: buf[:n]}
		if m.Decode() == nil && m.TransactionID == req.TransactionID {
			if m.Type != stun.BindingSuccess {
				t.Fatalf("Binding request %s answered %v", when, m.Type)
			}
			return
		}
	}
}

// fetchNonce gets a nonce from the 401 answer to an unauthenticated Allocate (valid an hour).
func (fe *fuzzEnv) fetchNonce(tb testing.TB) string {
	c := listenUDP(tb)
	req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, stun.Fingerprint)
	if _, err := c.WriteTo(req.Raw, net.UDPAddrFromAddrPort(fe.srv.UDPAddr())); err != nil {
		tb.Fatalf("send allocate: %v", err)
	}
	buf := make([]byte, 1600)
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		tb.Fatalf("no answer to Allocate: %v", err)
	}
	m := &stun.Message{Raw: buf[:n]}
	var nonce stun.Nonce
	if err := m.Decode(); err != nil {
		tb.Fatalf("decode the answer to Allocate: %v", err)
	}
	if err := nonce.GetFrom(m); err != nil {
		tb.Fatalf("answer to Allocate %v has no nonce: %v", m, err)
	}
	return nonce.String()
}

// withCredentials gives a STUN message carrying MESSAGE-INTEGRITY valid credentials; anything else is
// returned as is.
func (fe *fuzzEnv) withCredentials(d []byte) []byte {
	m := &stun.Message{Raw: append([]byte(nil), d...)}
	if m.Decode() != nil || !m.Contains(stun.AttrMessageIntegrity) {
		return d
	}
	out := &stun.Message{Type: m.Type, TransactionID: m.TransactionID}
	out.WriteHeader()
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrUsername, stun.AttrRealm, stun.AttrNonce, stun.AttrMessageIntegrity, stun.AttrFingerprint:
			continue
		}
		out.Add(a.Type, a.Value)
	}
	fe.credentials().addTo(out)
	if m.Contains(stun.AttrFingerprint) {
		_ = stun.Fingerprint.AddTo(out)
	}
	return out.Raw
}

// creds are the attributes of an authenticated request, MESSAGE-INTEGRITY last.
type creds []stun.Setter

func (c creds) addTo(m *stun.Message) {
	for _, s := range c {
		_ = s.AddTo(m)
	}
}

func (fe *fuzzEnv) credentials() creds {
	return creds{stun.NewUsername(fe.user), stun.NewRealm(fe.realm), stun.NewNonce(fe.nonce),
		stun.NewLongTermIntegrity(fe.user, fe.realm, fe.pass)}
}

// build builds an authenticated request (or an indication, without credentials) with attrs.
func (fe *fuzzEnv) build(tb testing.TB, method stun.Method, class stun.MessageClass, attrs ...stun.Setter) []byte {
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, class)}, attrs...)
	if class == stun.ClassRequest {
		setters = append(setters, fe.credentials()...)
	}
	m, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		tb.Fatalf("build %v: %v", method, err)
	}
	return m.Raw
}

var udpTransport = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

func lifetime(d time.Duration) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))}
}

func peerAddr(a net.Addr) stun.Setter {
	u := a.(*net.UDPAddr)
	return setterFunc(func(m *stun.Message) error {
		return stun.XORMappedAddress{IP: u.IP, Port: u.Port}.AddToAs(m, stun.AttrXORPeerAddress)
	})
}

type setterFunc func(m *stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

func channel(n uint16) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(n >> 8), byte(n), 0, 0}}
}

func data(b string) stun.Setter { return stun.RawAttribute{Type: stun.AttrData, Value: []byte(b)} }

func channelData(n uint16, payload string) []byte {
	b := binary.BigEndian.AppendUint16(nil, n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func join(datagrams ...[]byte) []byte { return bytes.Join(datagrams, []byte(fuzzSep)) }

// seeds are real requests: a session that allocates, asks permissions and sends to the peer, to the
// sentinel and to the server itself, over Send indications and a channel; the variants of Allocate pion
// handles apart; and garbage.
func (fe *fuzzEnv) seeds(tb testing.TB) [][]byte {
	peer, sentinel := fe.peer.LocalAddr(), fe.sentinel.LocalAddr()
	self := net.UDPAddrFromAddrPort(fe.srv.UDPAddr())
	allocate := fe.build(tb, stun.MethodAllocate, stun.ClassRequest, udpTransport)
	permission := func(to net.Addr) []byte {
		return fe.build(tb, stun.MethodCreatePermission, stun.ClassRequest, peerAddr(to))
	}
	send := func(to net.Addr, payload string) []byte {
		return fe.build(tb, stun.MethodSend, stun.ClassIndication, peerAddr(to), data(payload))
	}
	bind := func(n uint16, to net.Addr) []byte {
		return fe.build(tb, stun.MethodChannelBind, stun.ClassRequest, channel(n), peerAddr(to))
	}
	unauthenticated := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), udpTransport, stun.Fingerprint)
	header := stun.MustBuild(stun.TransactionID, stun.BindingRequest).Raw
	return [][]byte{
		stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint).Raw,
		unauthenticated.Raw,
		allocate,
		join(allocate, permission(peer), send(peer, "to the peer"), send(sentinel, "to the sentinel")),
		join(allocate, permission(sentinel), send(sentinel, "to the sentinel"), send(self, "to the server")),
		join(allocate, bind(0x4000, peer), channelData(0x4000, "over a channel")),
		join(allocate, bind(0x4001, sentinel), channelData(0x4001, "to the sentinel over a channel")),
		join(allocate, permission(net.UDPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:9"))), send(peer, "no permission")),
		join(allocate, fe.build(tb, stun.MethodRefresh, stun.ClassRequest, lifetime(time.Hour))),
		join(allocate, allocate),
		fe.build(tb, stun.MethodAllocate, stun.ClassRequest, udpTransport,
			stun.RawAttribute{Type: stun.AttrEvenPort, Value: []byte{0x80}}),
		fe.build(tb, stun.MethodAllocate, stun.ClassRequest, udpTransport,
			stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{2, 0, 0, 0}}),
		fe.build(tb, stun.MethodAllocate, stun.ClassRequest, stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{6, 0, 0, 0}}),
		fe.build(tb, stun.MethodAllocate, stun.ClassRequest, udpTransport, stun.RawAttribute{Type: 0x7777, Value: []byte("?")}),
		channelData(0x4000, "no channel"),
		send(peer, "no allocation"),
		{},
		{0},
		header[:10],
		[]byte("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"), // a TLS ClientHello on the UDP port
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
}

// drain returns the datagrams queued on c. It sends c a marker from another socket and reads until the
// marker: a datagram sent to c before the marker is queued before it (loopback delivers in order).
func drain(c *net.UDPConn) ([][]byte, error) {
	from, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer from.Close()
	marker := []byte("marker " + from.LocalAddr().String())
	if _, err := from.WriteTo(marker, c.LocalAddr()); err != nil {
		return nil, err
	}
	var got [][]byte
	buf := make([]byte, 1600)
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return got, fmt.Errorf("drain %v: %w", c.LocalAddr(), err)
		}
		if bytes.Equal(buf[:n], marker) {
			return got, nil
		}
		got = append(got, bytes.Clone(buf[:n]))
	}
}

// relayWorks allocates with a pion client and fresh credentials, and relays a datagram to the peer and
// back. It cleans up after itself (no t.Cleanup: it also runs in f.Cleanup).
func (fe *fuzzEnv) relayWorks() error {
	if _, err := drain(fe.peer); err != nil { // what the fuzzer had relayed to the peer
		return err
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	user, pass := fe.srv.Credentials("check")
	server := fe.srv.UDPAddr().String()
	cl, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Conn: conn,
		Username: user, Password: pass, Realm: fe.realm})
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		return err
	}
	relay, err := cl.Allocate()
	if err != nil {
		return errors.Join(errors.New("allocate with valid credentials"), err)
	}
	defer relay.Close()
	if _, err := relay.WriteTo([]byte("check"), fe.peer.LocalAddr()); err != nil {
		return err
	}
	buf := make([]byte, 1600)
	_ = fe.peer.SetReadDeadline(time.Now().Add(waitLimit))
	n, from, err := fe.peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "check" {
		return errors.Join(fmt.Errorf("the peer did not get the relayed datagram (got %q from %v)", buf[:n], from), err)
	}
	if _, err := fe.peer.WriteTo([]byte("check back"), from); err != nil {
		return err
	}
	_ = relay.SetReadDeadline(time.Now().Add(waitLimit))
	if n, _, err = relay.ReadFrom(buf); err != nil || string(buf[:n]) != "check back" {
		return errors.Join(errors.New("the client did not get the peer's answer through the relay"), err)
	}
	return nil
}
