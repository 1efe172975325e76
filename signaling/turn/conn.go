package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// packetListener is the UDP listener as pion sees it: it tells the Server when pion's read loop got its
// terminal error (the loop returns on the first error).
type packetListener struct {
	net.PacketConn
	srv   *Server
	ended sync.Once
}

func (l *packetListener) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := l.PacketConn.ReadFrom(p)
	if err != nil {
		l.ended.Do(func() { l.srv.loopEnded("udp", err) })
	}
	return n, addr, err
}

// connListener is a TCP or TLS listener as pion sees it. Accept admits a connection only within the
// allocation limits (each connection carries at most one allocation), wraps it in TLS when serving TLS
// (the handshake then runs in pion's connection goroutine, bounded by firstReadTimeout), and retries
// transient accept errors (EMFILE, ...) with a backoff instead of returning them: pion's accept loop ends
// on any error.
type connListener struct {
	net.Listener
	srv       *Server
	tls       *tls.Config // nil: plain TCP
	kind      string      // "tcp" or "tls"
	done      chan struct{}
	closeOnce sync.Once
	ended     sync.Once
}

func newConnListener(s *Server, ln net.Listener, conf *tls.Config) *connListener {
	kind := "tcp"
	if conf != nil {
		kind = "tls"
	}
	return &connListener{Listener: ln, srv: s, tls: conf, kind: kind, done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			backoff = 0
			if tc := l.srv.admitConn(c, l.tls); tc != nil {
				return tc, nil
			}
			continue
		}
		if errors.Is(err, net.ErrClosed) || l.isClosed() {
			l.ended.Do(func() { l.srv.loopEnded(l.kind, err) })
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.srv.debug("turn accept failed", "listener", l.kind, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-l.done: // the next Accept fails with net.ErrClosed
			t.Stop()
		case <-t.C:
		}
	}
}

func (l *connListener) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *connListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// trackedConn is a TCP or TLS client connection as pion sees it (pion reads it from one goroutine and
// closes it when that goroutine ends). It bounds reads (firstReadTimeout, then idleTimeout) and writes
// (writeTimeout), and tells the Server when pion closed it.
type trackedConn struct {
	net.Conn           // the TCP connection, or a *tls.Conn over it
	raw       net.Conn // the TCP connection
	srv       *Server
	ip        netip.Addr
	released  sync.Once
	handshake sync.Once // a failed TLS handshake is counted once
}

// admitConn registers an accepted connection, or closes it (counted) beyond the limits or after Close.
func (s *Server) admitConn(c net.Conn, conf *tls.Config) *trackedConn {
	ip := addrPortOf(c.RemoteAddr()).Addr()
	s.mu.Lock()
	refuse := s.state != stateStarted
	if !refuse && (s.cfg.MaxAllocations > 0 && len(s.conns) >= s.cfg.MaxAllocations ||
		s.cfg.MaxAllocationsPerIP > 0 && s.connsPerIP[ip] >= s.cfg.MaxAllocationsPerIP) {
		refuse = true
		s.st.connsRefused.Add(1)
	}
	var tc *trackedConn
	if !refuse {
		tc = &trackedConn{Conn: c, raw: c, srv: s, ip: ip}
		if conf != nil {
			tc.Conn = tls.Server(c, conf)
		}
		s.conns[tc] = struct{}{}
		s.connsPerIP[ip]++
		s.live++
	}
	s.mu.Unlock()
	if tc == nil {
		s.debug("turn connection refused", "client", c.RemoteAddr())
		_ = c.Close()
		return nil
	}
	_ = c.SetReadDeadline(time.Now().Add(firstReadTimeout))
	return tc
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(idleTimeout))
	}
	if err != nil {
		if t, ok := c.Conn.(*tls.Conn); ok && !t.ConnectionState().HandshakeComplete {
			// A client that refuses the certificate (a self-signed one) or speaks no TLS: say so, once.
			c.handshake.Do(func() {
				c.srv.st.tlsHandshakeFailed.Add(1)
				c.srv.log.Info("turn tls handshake failed", "client", c.raw.RemoteAddr().String(), "err", err)
			})
		}
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(p)
}

// Close is pion's, the last thing the connection's goroutine does.
func (c *trackedConn) Close() error {
	err := c.Conn.Close() // a *tls.Conn closes the TCP connection too
	c.released.Do(func() {
		s := c.srv
		s.mu.Lock()
		delete(s.conns, c)
		if s.connsPerIP[c.ip]--; s.connsPerIP[c.ip] <= 0 {
			delete(s.connsPerIP, c.ip)
		}
		s.endedLocked()
		s.mu.Unlock()
	})
	return err
}

var errTCPRelay = errors.New("turn: TCP relays (RFC 6062) are not offered")

// relayGenerator is pion's RelayAddressGenerator: UDP relay sockets in the relay port range, wrapped in
// relayConn; TCP relays are refused.
type relayGenerator struct{ srv *Server }

func (g relayGenerator) Validate() error { return nil }

func (g relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (conn net.PacketConn, addr net.Addr, err error) {
	defer g.srv.guard("allocate relay", func() { conn, addr, err = nil, nil, errors.New("turn: panic opening a relay") })
	return g.srv.openRelay(conf)
}

func (g relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	g.srv.st.tcpRelayRefused.Add(1)
	return nil, nil, errTCPRelay
}

func (g relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	g.srv.st.tcpRelayRefused.Add(1)
	return nil, errTCPRelay
}

// openRelay opens a relay socket of the requested family on a random port of the relay range (or the
// requested one, which pion asks for to honour a RESERVATION-TOKEN, if it is in the range).
func (s *Server) openRelay(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	var bind, adv netip.Addr
	switch conf.Network {
	case "udp4":
		bind, adv = s.relay.bind4, s.relay.adv4
	case "udp6":
		bind, adv = s.relay.bind6, s.relay.adv6
	}
	if !adv.IsValid() {
		s.st.allocateFailed.Add(1)
		return nil, nil, fmt.Errorf("turn: no relay address for %q", conf.Network)
	}
	lo, hi := s.cfg.RelayPortMin, s.cfg.RelayPortMax
	var (
		pc  net.PacketConn
		err error
	)
	switch {
	case conf.RequestedPort != 0 && (conf.RequestedPort < lo || conf.RequestedPort > hi):
		err = fmt.Errorf("turn: requested relay port %d outside %d-%d", conf.RequestedPort, lo, hi)
	case conf.RequestedPort != 0:
		pc, err = listenRelay(conf.Network, bind, conf.RequestedPort)
	default:
		for range relayPortTries {
			if pc, err = listenRelay(conf.Network, bind, lo+rand.IntN(hi-lo+1)); err == nil { //nolint:gosec // not a secret
				break
			}
		}
	}
	if err != nil {
		s.st.allocateFailed.Add(1)
		return nil, nil, fmt.Errorf("turn: open relay socket: %w", err)
	}
	r := &relayConn{PacketConn: pc, srv: s, port: addrPortOf(pc.LocalAddr()).Port()}
	if !s.addRelay(r) {
		_ = pc.Close()
		return nil, nil, ErrClosed
	}
	return r, &net.UDPAddr{IP: adv.AsSlice(), Port: int(r.port)}, nil
}

func listenRelay(network string, bind netip.Addr, port int) (net.PacketConn, error) {
	return net.ListenPacket(network, netip.AddrPortFrom(bind, uint16(port)).String()) //nolint:gosec,noctx // port is in 1024-65535
}

// addRelay registers a new relay socket; false after Close.
func (s *Server) addRelay(r *relayConn) bool {
	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		return false
	}
	s.relays[r] = struct{}{}
	s.live++
	s.mu.Unlock()
	s.relayMu.Lock()
	s.relayPorts[int(r.port)]++
	s.relayMu.Unlock()
	return true
}

// relayConn is a relay socket as pion sees it. pion reads it from the allocation's goroutine, writes it from
// the client's request goroutine (Send indications, ChannelData) and closes it when the allocation ends.
// Writes to, and datagrams from, an address the Server does not allow (Server.peerAllowed) are dropped and
// counted: pion's permissions only know peer IPs, and a port filter keeps clients off the host's other UDP
// services. The relayed bytes are counted here.
type relayConn struct {
	net.PacketConn
	srv  *Server
	port uint16

	mu       sync.Mutex
	closed   bool
	reading  int  // ReadFrom calls in progress
	finished bool // closed with no ReadFrom in progress: the Server no longer waits for it
}

func (r *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ap := addrPortOf(addr); !r.srv.peerAllowed(ap) {
		r.srv.st.droppedToPeer.Add(1)
		return len(p), nil // as UDP would: pion need not know, nor log it per packet
	}
	n, err := r.PacketConn.WriteTo(p, addr)
	if n > 0 {
		r.srv.st.bytesToPeers.Add(uint64(n))
	}
	return n, err
}

func (r *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, nil, net.ErrClosed
	}
	r.reading++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.reading--
		fin := r.finishLocked()
		r.mu.Unlock()
		if fin {
			r.srv.relayFinished(r)
		}
	}()
	for {
		n, addr, err := r.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !r.srv.peerAllowed(addrPortOf(addr)) {
			r.srv.st.droppedFromPeer.Add(1)
			continue
		}
		r.srv.st.bytesFromPeers.Add(uint64(n))
		return n, addr, nil
	}
}

// Close closes the socket (pion's when the allocation ends, or the Server's in Close); idempotent.
func (r *relayConn) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	fin := r.finishLocked()
	r.mu.Unlock()
	s := r.srv
	s.relayMu.Lock()
	if s.relayPorts[int(r.port)]--; s.relayPorts[int(r.port)] <= 0 {
		delete(s.relayPorts, int(r.port))
	}
	s.relayMu.Unlock()
	err := r.PacketConn.Close()
	if fin {
		s.relayFinished(r)
	}
	return err
}

// finishLocked reports, once, that the socket is closed and no ReadFrom is in progress.
func (r *relayConn) finishLocked() bool {
	if r.finished || !r.closed || r.reading > 0 {
		return false
	}
	r.finished = true
	return true
}

func (s *Server) relayFinished(r *relayConn) {
	s.mu.Lock()
	delete(s.relays, r)
	s.endedLocked()
	s.mu.Unlock()
}
