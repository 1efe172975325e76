package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("turn: server closed")

// minSecretLen is the shortest Params.Secret New accepts. Every client receives a (username, HMAC) pair, so
// a short secret could be found offline by brute force.
const minSecretLen = 16

// Timing of connections, quotas and Close.
const (
	// firstReadTimeout bounds the time from accepting a TCP or TLS connection to its first bytes (the TLS
	// handshake included).
	firstReadTimeout = 10 * time.Second
	// idleTimeout closes a TCP or TLS connection that sent nothing for that long. A client with an
	// allocation refreshes its permissions every 5 minutes at the latest (they last 5), so only dead or
	// idle connections reach it.
	idleTimeout = 10 * time.Minute
	// writeTimeout bounds one write to a TCP or TLS client; a client that stops reading loses its
	// connection rather than blocking the relay.
	writeTimeout = 10 * time.Second
	// pendingTimeout is how long a quota slot granted to an Allocate request stays reserved when pion
	// reports neither the allocation created nor the request failed (a backstop: it always reports one).
	pendingTimeout = 10 * time.Second
	// closeTimeout bounds how long Close waits for pion's goroutines to let go of connections, relays
	// and allocations.
	closeTimeout = 5 * time.Second
	// reportInterval is how often report logs what was refused or dropped.
	reportInterval = time.Second
	// relayPortTries is how many random ports of the relay range an allocation tries.
	relayPortTries = 32
)

// Params holds what a Server needs from its owner besides configuration.
type Params struct {
	// Secret is the shared secret of the TURN REST API credentials (see Credentials); required, at least
	// 16 bytes. Used as coturn's static-auth-secret, it makes coturn and this server interchangeable.
	Secret string
	// Peers is where clients may relay to: the MCU's own media addresses (see InterfacePeers); required.
	Peers Peers
	// TLS, when set, serves TURN over TLS on Config.TLSPort. nil: no TLS listener. The Server does not
	// modify it.
	TLS *tls.Config
	// Logger receives lifecycle messages (Info), a once-a-second summary of refusals (Warn), panics
	// (Error) and details (Debug, pion's messages included); nil discards them.
	Logger *slog.Logger
	// Now is the clock credentials are made and checked with; nil: time.Now.
	Now func() time.Time
}

type serverState int

const (
	stateNew serverState = iota
	stateStarted
	stateClosed
)

// Server is the embedded TURN server (RFC 8656 over UDP, TCP and TLS, UDP relays only) on pion/turn. It
// relays only to the MCU's own addresses (Params.Peers) and only for clients holding credentials made with
// Params.Secret. Create it with New, start it with Start (or Run), stop it with Close. Its methods are
// safe for concurrent use.
type Server struct {
	cfg    Config
	secret string
	peers  peerSet
	tls    *tls.Config
	log    *slog.Logger
	now    func() time.Time
	st     counters

	mu      sync.Mutex
	state   serverState
	pion    *turn.Server
	udpAddr netip.AddrPort // zero unless listening
	tcpAddr netip.AddrPort
	tlsAddr netip.AddrPort
	// ownPorts (the listening ports) and relay (addresses of relay sockets) are set by Start before pion's
	// goroutines start, and never change afterwards: read without the lock.
	ownPorts []int
	relay    relayAddrs
	// conns are the TCP and TLS connections pion has not closed yet, connsPerIP their count by client IP;
	// relays the relay sockets not finished (relayConn.finish); allocs the allocations (by allocKey)
	// pion reported created and not yet deleted, with their client IP, counted in allocsPerIP; pending the
	// quota slots granted to Allocate requests whose allocation is not created yet.
	conns       map[*trackedConn]struct{}
	connsPerIP  map[netip.Addr]int
	relays      map[*relayConn]struct{}
	allocs      map[string]netip.Addr
	allocsPerIP map[netip.Addr]int
	pending     []pendingAlloc
	// live counts what Close waits for: pion's listener loops, connections, relays and allocations.
	// quiet, when set, is closed when live drops to 0.
	live       int
	quiet      chan struct{}
	stop       chan struct{} // closed by Close: ends report
	reportDone chan struct{}

	relayMu    sync.RWMutex
	relayPorts map[int]int // ports of open relay sockets (both families), with their count
}

// pendingAlloc is a quota slot granted to an Allocate request, released when the allocation is created,
// when the request fails (onRequestError) or after pendingTimeout.
type pendingAlloc struct {
	key string // srcKey of the client
	ip  netip.Addr
	at  time.Time
}

// relayAddrs are the addresses relay sockets bind to and advertise, by family; an invalid advertised
// address means the family gets no allocations.
type relayAddrs struct {
	bind4, adv4 netip.Addr
	bind6, adv6 netip.Addr
}

// counters are the Server's atomic counts (see Stats).
type counters struct {
	allocsTotal        atomic.Uint64
	bytesToPeers       atomic.Uint64
	bytesFromPeers     atomic.Uint64
	permissionsRefused atomic.Uint64
	droppedToPeer      atomic.Uint64
	droppedFromPeer    atomic.Uint64
	authMalformed      atomic.Uint64
	authExpired        atomic.Uint64
	authBadPassword    atomic.Uint64
	quotaRefused       atomic.Uint64
	connsRefused       atomic.Uint64
	tlsHandshakeFailed atomic.Uint64
	tcpRelayRefused    atomic.Uint64
	allocateFailed     atomic.Uint64
	requestErrors      atomic.Uint64
	panics             atomic.Uint64
}

// New checks cfg and p and prepares a server; it opens no socket and starts no goroutine.
func New(cfg Config, p Params) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(p.Secret) < minSecretLen {
		return nil, fmt.Errorf("turn: secret of %d bytes: want at least %d", len(p.Secret), minSecretLen)
	}
	if err := p.Peers.validate(); err != nil {
		return nil, err
	}
	if cfg.Port == 0 && (p.TLS == nil || cfg.TLSPort == 0) {
		return nil, errors.New("turn: nothing to serve: port 0 and no TLS listener")
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	var tlsConf *tls.Config
	if p.TLS != nil && cfg.TLSPort != 0 {
		tlsConf = p.TLS
		if tlsConf.MinVersion < tls.VersionTLS12 {
			tlsConf = tlsConf.Clone()
			tlsConf.MinVersion = tls.VersionTLS12
		}
	}
	return &Server{
		cfg:         cfg,
		secret:      p.Secret,
		peers:       newPeerSet(p.Peers, cfg.AllowLoopback),
		tls:         tlsConf,
		log:         log,
		now:         now,
		conns:       make(map[*trackedConn]struct{}),
		connsPerIP:  make(map[netip.Addr]int),
		relays:      make(map[*relayConn]struct{}),
		allocs:      make(map[string]netip.Addr),
		allocsPerIP: make(map[netip.Addr]int),
		relayPorts:  make(map[int]int),
	}, nil
}

// Start opens the listeners (UDP and TCP on Config.Port, TLS on Config.TLSPort when Params.TLS is set) and
// starts serving. It fails, having opened nothing, if a port is taken; it fails after Close (ErrClosed) and
// when already started.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateClosed:
		return ErrClosed
	case stateStarted:
		return errors.New("turn: already started")
	}
	var opened []io.Closer
	fail := func(err error) error {
		for _, c := range opened {
			_ = c.Close()
		}
		s.udpAddr, s.tcpAddr, s.tlsAddr = netip.AddrPort{}, netip.AddrPort{}, netip.AddrPort{}
		return err
	}
	host := ""
	if a := s.cfg.hostAddr(); a.IsValid() {
		host = a.String()
	}
	portString := func(p int) string {
		if p == AnyPort {
			return "0"
		}
		return strconv.Itoa(p)
	}
	gen := relayGenerator{s}
	var (
		packetConfigs   []turn.PacketConnConfig
		listenerConfigs []turn.ListenerConfig
		ownPorts        []int
	)
	if s.cfg.Port != 0 {
		addr := net.JoinHostPort(host, portString(s.cfg.Port))
		pc, err := net.ListenPacket("udp", addr) //nolint:noctx // nothing to cancel
		if err != nil {
			return fail(fmt.Errorf("turn: listen udp %s: %w", addr, err))
		}
		opened = append(opened, pc)
		ln, err := net.Listen("tcp", addr) //nolint:noctx // nothing to cancel
		if err != nil {
			return fail(fmt.Errorf("turn: listen tcp %s: %w", addr, err))
		}
		opened = append(opened, ln)
		s.udpAddr, s.tcpAddr = addrPortOf(pc.LocalAddr()), addrPortOf(ln.Addr())
		ownPorts = append(ownPorts, int(s.udpAddr.Port()), int(s.tcpAddr.Port()))
		packetConfigs = append(packetConfigs, turn.PacketConnConfig{
			PacketConn: &packetListener{PacketConn: pc, srv: s}, RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
		listenerConfigs = append(listenerConfigs, turn.ListenerConfig{
			Listener: newConnListener(s, ln, nil), RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
	}
	if s.tls != nil {
		addr := net.JoinHostPort(host, portString(s.cfg.TLSPort))
		ln, err := net.Listen("tcp", addr) //nolint:noctx // nothing to cancel
		if err != nil {
			return fail(fmt.Errorf("turn: listen tls %s: %w", addr, err))
		}
		opened = append(opened, ln)
		s.tlsAddr = addrPortOf(ln.Addr())
		ownPorts = append(ownPorts, int(s.tlsAddr.Port()))
		listenerConfigs = append(listenerConfigs, turn.ListenerConfig{
			Listener: newConnListener(s, ln, s.tls), RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
	}
	s.ownPorts = ownPorts
	s.relay = s.relayAddrs()
	s.live = len(packetConfigs) + len(listenerConfigs)
	srv, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: packetConfigs,
		ListenerConfigs:   listenerConfigs,
		LoggerFactory:     pionLogs{s.log},
		Realm:             s.cfg.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.quota,
		EventHandler: turn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
			OnAllocationError:   s.onRequestError,
		},
	})
	if err != nil {
		s.live = 0
		return fail(fmt.Errorf("turn: %w", err))
	}
	s.pion = srv
	s.state = stateStarted
	s.stop = make(chan struct{})
	s.reportDone = make(chan struct{})
	go s.report()
	s.log.Info("turn server listening", "udp", s.udpAddr, "tcp", s.tcpAddr, "tls", s.tlsAddr,
		"relay_ipv4", s.relay.adv4, "relay_ipv6", s.relay.adv6,
		"relay_ports", fmt.Sprintf("%d-%d", s.cfg.RelayPortMin, s.cfg.RelayPortMax), "realm", s.cfg.Realm)
	return nil
}

// relayAddrs works out where relay sockets bind and what they advertise (see Config.PublicIP).
func (s *Server) relayAddrs() relayAddrs {
	host, public := s.cfg.hostAddr(), s.cfg.publicAddr()
	var r relayAddrs
	switch {
	case host.IsValid() && !host.IsUnspecified() && host.Is4():
		r.bind4, r.adv4 = host, host
	case host.IsValid() && !host.IsUnspecified():
		r.bind6, r.adv6 = host, host
	default: // every interface
		r.bind4, r.adv4 = netip.IPv4Unspecified(), localAddr(true)
		r.bind6, r.adv6 = netip.IPv6Unspecified(), localAddr(false)
	}
	switch {
	case public.Is4() && r.bind4.IsValid():
		r.adv4 = public
	case public.Is6() && r.bind6.IsValid():
		r.adv6 = public
	}
	return r
}

// localAddr returns the machine's address of a family for relays bound to every interface: the source
// address of the default route, else the first global unicast address of an interface; invalid if none.
func localAddr(v4 bool) netip.Addr {
	network, probe := "udp4", "198.51.100.1:9" // documentation addresses: only the route is looked up
	if !v4 {
		network, probe = "udp6", "[2001:db8::1]:9"
	}
	if c, err := net.Dial(network, probe); err == nil { //nolint:noctx // a UDP "dial" sends nothing
		a := addrPortOf(c.LocalAddr()).Addr()
		_ = c.Close()
		if a.IsGlobalUnicast() {
			return a
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipnet.IP)
		if ip = ip.Unmap(); ok && ip.IsGlobalUnicast() && ip.Is4() == v4 {
			return ip
		}
	}
	return netip.Addr{}
}

// Run starts the server, serves until ctx is cancelled, then closes it.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Close stops serving: it closes the listeners, every TCP and TLS connection and every relay socket (which
// ends every allocation), then waits (at most 5 s) until pion's goroutines have let go of them. It is
// idempotent; after it Start fails.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return nil
	}
	started := s.state == stateStarted
	s.state = stateClosed
	srv := s.pion
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	relays := make([]*relayConn, 0, len(s.relays))
	for r := range s.relays {
		relays = append(relays, r)
	}
	s.mu.Unlock()
	if !started {
		return nil
	}
	var errs []error
	close(s.stop)
	if err := srv.Close(); err != nil {
		errs = append(errs, fmt.Errorf("turn: close listeners: %w", err))
	}
	for _, c := range conns {
		_ = c.raw.Close() // pion's connection goroutine sees the error, ends the allocation and closes c
	}
	for _, r := range relays {
		_ = r.Close()
	}
	<-s.reportDone
	if n := s.waitQuiet(closeTimeout); n > 0 {
		err := fmt.Errorf("turn: close: %d connections, relays or allocations still held by pion after %v", n, closeTimeout)
		s.log.Error("turn server close incomplete", "err", err)
		errs = append(errs, err)
	}
	st := s.Stats()
	s.log.Info("turn server closed", "allocations_total", st.AllocationsTotal,
		"bytes_to_peers", st.BytesToPeers, "bytes_from_peers", st.BytesFromPeers)
	return errors.Join(errs...)
}

// waitQuiet waits until live is 0, at most d; it returns what is still live.
func (s *Server) waitQuiet(d time.Duration) int {
	s.mu.Lock()
	if s.live == 0 {
		s.mu.Unlock()
		return 0
	}
	quiet := make(chan struct{})
	s.quiet = quiet
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-quiet:
		return 0
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// endedLocked counts one live thing (listener loop, connection, relay, allocation) as ended.
func (s *Server) endedLocked() {
	s.live--
	if s.live == 0 && s.quiet != nil {
		close(s.quiet)
		s.quiet = nil
	}
}

// loopEnded is called when one of pion's listener loops got its terminal error from its socket.
func (s *Server) loopEnded(kind string, err error) {
	s.mu.Lock()
	closing := s.state == stateClosed
	s.endedLocked()
	s.mu.Unlock()
	if !closing {
		s.log.Error("turn listener stopped", "listener", kind, "err", err)
	}
}

// UDPAddr returns the address of the UDP listener once started; the zero AddrPort if there is none.
func (s *Server) UDPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr
}

// TCPAddr returns the address of the TCP listener once started; the zero AddrPort if there is none.
func (s *Server) TCPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// TLSAddr returns the address of the TLS listener once started; the zero AddrPort if there is none.
func (s *Server) TLSAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tlsAddr
}

// Credentials returns credentials for identity valid Config.CredentialTTL from now (see the package
// function Credentials).
func (s *Server) Credentials(identity string) (username, password string) {
	return Credentials(s.secret, identity, s.cfg.CredentialTTL, s.now())
}

// guard, deferred in every callback pion makes into the Server, recovers a panic: it logs it with its stack
// at Error, counts it (Stats.Panics) and runs onPanic (if not nil), which sets the callback's refusal.
func (s *Server) guard(where string, onPanic func()) {
	v := recover()
	if v == nil {
		return
	}
	s.st.panics.Add(1)
	s.log.Error("turn: panic recovered", "in", where, "panic", v, "stack", string(debug.Stack()))
	if onPanic != nil {
		onPanic()
	}
}

// authenticate is pion's AuthHandler: it accepts a TURN REST API username (see Credentials) in the
// server's realm whose expiry has not passed and lies at most Config.CredentialTTL ahead, and returns the
// long-term key its password gives; pion then checks MESSAGE-INTEGRITY with it (onAuth counts a
// mismatch). The identity is the allocation's user ID.
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	defer s.guard("auth", func() { userID, key, ok = "", nil, false })
	if ra.Realm != s.cfg.Realm {
		s.st.authMalformed.Add(1)
		s.debug("turn auth refused: realm", "client", ra.SrcAddr, "realm", ra.Realm)
		return "", nil, false
	}
	expiry, identity, err := parseUsername(ra.Username)
	if err != nil {
		s.st.authMalformed.Add(1)
		s.debug("turn auth refused: username", "client", ra.SrcAddr, "username", ra.Username)
		return "", nil, false
	}
	now := s.now()
	if expiry < now.Unix() {
		s.st.authExpired.Add(1)
		s.debug("turn auth refused: expired", "client", ra.SrcAddr, "username", ra.Username)
		return "", nil, false
	}
	if expiry > now.Add(s.cfg.CredentialTTL+time.Minute).Unix() {
		s.st.authMalformed.Add(1)
		s.debug("turn auth refused: expiry beyond the credential ttl", "client", ra.SrcAddr, "username", ra.Username)
		return "", nil, false
	}
	password := restPassword(s.secret, ra.Username)
	return identity, turn.GenerateAuthKey(ra.Username, ra.Realm, password), true
}

// onAuth counts requests whose MESSAGE-INTEGRITY did not match the key authenticate returned: a wrong
// password (or secret).
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	defer s.guard("auth event", nil)
	if !verdict {
		s.st.authBadPassword.Add(1)
		s.debug("turn auth refused: bad password", "client", src, "username", username, "method", method)
	}
}

// permit is pion's PermissionHandler (CreatePermission and ChannelBind): the peer IP must be one of
// Params.Peers (loopback ones only with Config.AllowLoopback).
func (s *Server) permit(client net.Addr, peer net.IP) (ok bool) {
	defer s.guard("permission", func() { ok = false })
	ip, _ := netip.AddrFromSlice(peer)
	if s.peers.ipAllowed(ip) {
		return true
	}
	s.st.permissionsRefused.Add(1)
	s.debug("turn permission refused", "client", client, "peer", ip)
	return false
}

// peerAllowed reports whether a relay socket may exchange a datagram with ap: an allowed peer IP, a port
// Peers.Port admits, and neither a listening port of this server nor the port of one of its relay
// sockets (so no relay loops through the server itself).
func (s *Server) peerAllowed(ap netip.AddrPort) (ok bool) {
	defer s.guard("peer filter", func() { ok = false })
	if !s.peers.ipAllowed(ap.Addr()) {
		return false
	}
	port := int(ap.Port())
	if port == 0 {
		return false
	}
	for _, p := range s.ownPorts {
		if port == p {
			return false
		}
	}
	if port >= s.cfg.RelayPortMin && port <= s.cfg.RelayPortMax {
		s.relayMu.RLock()
		_, relay := s.relayPorts[port]
		s.relayMu.RUnlock()
		if relay {
			return false
		}
	}
	return s.peers.port(port)
}

// quota is pion's QuotaHandler, called for an authenticated Allocate before the relay socket is opened: it
// enforces Config.MaxAllocations and Config.MaxAllocationsPerIP, counting the allocations open and the
// slots already granted to Allocate requests not finished, and grants a slot.
func (s *Server) quota(_, _ string, src net.Addr) (ok bool) {
	defer s.guard("quota", func() { ok = false })
	ip := addrPortOf(src).Addr()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateStarted {
		return false
	}
	kept := s.pending[:0]
	for _, p := range s.pending {
		if now.Sub(p.at) < pendingTimeout {
			kept = append(kept, p)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	if limit := s.cfg.MaxAllocations; limit > 0 && len(s.allocs)+len(s.pending) >= limit {
		s.st.quotaRefused.Add(1)
		s.debug("turn allocation refused: max allocations", "client", src)
		return false
	}
	if limit := s.cfg.MaxAllocationsPerIP; limit > 0 {
		n := s.allocsPerIP[ip]
		for _, p := range s.pending {
			if p.ip == ip {
				n++
			}
		}
		if n >= limit {
			s.st.quotaRefused.Add(1)
			s.debug("turn allocation refused: max allocations per ip", "client", src)
			return false
		}
	}
	s.pending = append(s.pending, pendingAlloc{key: srcKey(src), ip: ip, at: now})
	return true
}

// onAllocationCreated turns the quota slot of the client into an open allocation.
func (s *Server) onAllocationCreated(src, dst net.Addr, _, userID, _ string, relayAddr net.Addr, _ int) {
	defer s.guard("allocation created", nil)
	key, ip := srcKey(src), addrPortOf(src).Addr()
	s.mu.Lock()
	s.releaseSlotLocked(key)
	s.allocs[allocKey(src, dst)] = ip
	s.allocsPerIP[ip]++
	s.live++
	s.mu.Unlock()
	s.st.allocsTotal.Add(1)
	s.debug("turn allocation created", "client", src, "relay", relayAddr, "user", userID)
}

// onAllocationDeleted closes the allocation's books. pion calls it once per allocation, whichever way it
// ends (refresh to 0, lifetime, connection closed, relay socket closed).
func (s *Server) onAllocationDeleted(src, dst net.Addr, _, userID, _ string) {
	defer s.guard("allocation deleted", nil)
	key := allocKey(src, dst)
	s.mu.Lock()
	ip, ok := s.allocs[key]
	if ok {
		delete(s.allocs, key)
		if s.allocsPerIP[ip]--; s.allocsPerIP[ip] <= 0 {
			delete(s.allocsPerIP, ip)
		}
		s.endedLocked()
	}
	s.mu.Unlock()
	s.debug("turn allocation deleted", "client", src, "user", userID)
}

// releaseSlotLocked releases the quota slot granted to the client key, if any.
func (s *Server) releaseSlotLocked(key string) {
	for i, p := range s.pending {
		if p.key == key {
			s.pending = slices.Delete(s.pending, i, i+1)
			return
		}
	}
}

// onRequestError counts requests pion could not handle (malformed, refused without an answer, or an
// Allocate whose relay could not be opened). A quota slot still granted to the client is released: pion
// handles a client's requests one at a time, and the request it was granted to has failed.
func (s *Server) onRequestError(src, _ net.Addr, _, message string) {
	defer s.guard("request error", nil)
	s.st.requestErrors.Add(1)
	s.mu.Lock()
	if len(s.pending) > 0 {
		s.releaseSlotLocked(srcKey(src))
	}
	s.mu.Unlock()
	s.debug("turn request failed", "client", src, "err", message)
}

// debug logs at Debug if enabled: callers are per request, so the message is not built otherwise.
func (s *Server) debug(msg string, args ...any) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug(msg, args...)
	}
}

// srcKey identifies a client transport address (UDP and TCP apart).
func srcKey(src net.Addr) string {
	if src == nil {
		return ""
	}
	return src.Network() + " " + src.String()
}

// allocKey identifies an allocation: pion's 5-tuple without its (constant) protocol.
func allocKey(src, dst net.Addr) string {
	d := ""
	if dst != nil {
		d = dst.String()
	}
	return srcKey(src) + " " + d
}

// addrPortOf converts a *net.UDPAddr or *net.TCPAddr to an unmapped netip.AddrPort; the zero value for
// anything else.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// Stats are the server's counts since New. It is plain data.
type Stats struct {
	// AllocationsActive is the number of allocations open now; AllocationsTotal how many were created.
	AllocationsActive int
	AllocationsTotal  uint64
	// ConnsActive is the number of TCP and TLS client connections open now.
	ConnsActive int
	// BytesToPeers and BytesFromPeers are the payload bytes relayed from clients to peers and from peers
	// to clients (counted on the relay sockets).
	BytesToPeers, BytesFromPeers uint64
	// PermissionsRefused counts peer IPs refused in CreatePermission and ChannelBind requests (403): not
	// one of Params.Peers, or loopback without Config.AllowLoopback.
	PermissionsRefused uint64
	// DroppedToPeer counts datagrams a client sent to a refused peer address (a port Peers.Port refuses,
	// a listening or relay port of this server); DroppedFromPeer those a relay socket received from one.
	DroppedToPeer, DroppedFromPeer uint64
	// AuthMalformed counts requests refused (401) for a username that is not "<expiry>:<identity>", an
	// expiry further ahead than Config.CredentialTTL, or a foreign realm; AuthExpired for an expiry
	// passed; AuthBadPassword for a MESSAGE-INTEGRITY the password does not give (a wrong password or
	// secret).
	AuthMalformed, AuthExpired, AuthBadPassword uint64
	// QuotaRefused counts Allocate requests refused (486) by Config.MaxAllocations or
	// Config.MaxAllocationsPerIP; ConnsRefused TCP and TLS connections closed as they were accepted for
	// the same limits.
	QuotaRefused, ConnsRefused uint64
	// TLSHandshakeFailed counts TLS connections whose handshake failed (a client that refuses the
	// certificate, or speaks something else).
	TLSHandshakeFailed uint64
	// TCPRelayRefused counts Allocate requests for a TCP relay (RFC 6062), which the server does not
	// offer; AllocateFailed those whose relay socket could not be opened (no free port in the relay
	// range, or an address family with no relay address). Both are answered 508.
	TCPRelayRefused, AllocateFailed uint64
	// RequestErrors counts requests pion could not handle: malformed messages, and requests refused with no
	// answer (a Refresh without allocation, ...).
	RequestErrors uint64
	// Panics counts panics recovered in the server's callbacks (logged at Error with their stack).
	Panics uint64
}

// Stats returns the counts so far. It is safe for concurrent use.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	allocs, conns := len(s.allocs), len(s.conns)
	s.mu.Unlock()
	return Stats{
		AllocationsActive:  allocs,
		AllocationsTotal:   s.st.allocsTotal.Load(),
		ConnsActive:        conns,
		BytesToPeers:       s.st.bytesToPeers.Load(),
		BytesFromPeers:     s.st.bytesFromPeers.Load(),
		PermissionsRefused: s.st.permissionsRefused.Load(),
		DroppedToPeer:      s.st.droppedToPeer.Load(),
		DroppedFromPeer:    s.st.droppedFromPeer.Load(),
		AuthMalformed:      s.st.authMalformed.Load(),
		AuthExpired:        s.st.authExpired.Load(),
		AuthBadPassword:    s.st.authBadPassword.Load(),
		QuotaRefused:       s.st.quotaRefused.Load(),
		ConnsRefused:       s.st.connsRefused.Load(),
		TLSHandshakeFailed: s.st.tlsHandshakeFailed.Load(),
		TCPRelayRefused:    s.st.tcpRelayRefused.Load(),
		AllocateFailed:     s.st.allocateFailed.Load(),
		RequestErrors:      s.st.requestErrors.Load(),
		Panics:             s.st.panics.Load(),
	}
}

// report logs at Warn, every reportInterval in which something was refused or dropped, how much of each
// (the refusals themselves are logged at Debug only: a flood must not flood the log). It runs from Start
// until Close.
func (s *Server) report() {
	defer close(s.reportDone)
	tick := time.NewTicker(reportInterval)
	defer tick.Stop()
	last := s.Stats()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		now := s.Stats()
		var attrs []any
		for _, c := range []struct {
			key      string
			now, was uint64
		}{
			{"permissions_refused", now.PermissionsRefused, last.PermissionsRefused},
			{"dropped_to_peer", now.DroppedToPeer, last.DroppedToPeer},
			{"dropped_from_peer", now.DroppedFromPeer, last.DroppedFromPeer},
			{"auth_malformed", now.AuthMalformed, last.AuthMalformed},
			{"auth_expired", now.AuthExpired, last.AuthExpired},
			{"auth_bad_password", now.AuthBadPassword, last.AuthBadPassword},
			{"quota_refused", now.QuotaRefused, last.QuotaRefused},
			{"conns_refused", now.ConnsRefused, last.ConnsRefused},
			{"tcp_relay_refused", now.TCPRelayRefused, last.TCPRelayRefused},
			{"allocate_failed", now.AllocateFailed, last.AllocateFailed},
		} {
			if d := c.now - c.was; d > 0 {
				attrs = append(attrs, c.key, d)
			}
		}
		if len(attrs) > 0 {
			s.log.Warn("turn requests refused", append(attrs, "interval", reportInterval)...)
		}
		last = now
	}
}
