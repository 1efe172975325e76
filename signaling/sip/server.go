package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// allowedMethods is the Allow header: the methods the server handles (and MESSAGE with a chat, see
// Server.allowed).
const allowedMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"

// allowed is the server's Allow header: MESSAGE too when it relays a chat.
func (s *Server) allowed() string {
	if s.chat != nil {
		return allowedMethods + ", MESSAGE"
	}
	return allowedMethods
}

// ErrServerClosed is returned by Start, Dial and Hangup after Close.
var ErrServerClosed = errors.New("sip: server closed")

// transactFunc sends one of the server's own requests and returns the final response.
type transactFunc func(ctx context.Context, req *sip.Request) (*sip.Response, error)

// Server is the SIP server. Create it with New, start it with Start (or Run), stop it with Close. Its
// methods are safe for concurrent use.
type Server struct {
	cfg   Config
	conf  Conference
	chat  ChatHub                                                // Params.Chat; nil: no chat
	route func(ctx context.Context, room string) (string, error) // Params.Route; nil: every room is here
	log   *slog.Logger
	auth  *digestAuth // nil: no authentication

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client // sends the server's own requests, built by session.build (immutable, shared)

	ctx    context.Context // cancelled by Close: stops answers, rings and retransmissions
	cancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	closing  bool
	udp      net.PacketConn // nil unless serving UDP
	tcp      net.Listener   // nil unless serving TCP
	port     int
	sessions map[string]*session // by session ID
	dialogs  map[string]*session // by dialog key (Call-ID, local tag, remote tag)
	perIP    map[netip.Addr]int  // inbound calls by source IP, of sources that are not trusted
	tcpConns map[netip.Addr]int  // accepted TCP connections by source IP
	wg       sync.WaitGroup      // request handlers and every goroutine the server starts

	trusted []netip.Prefix // Config.Trusted
	invites *rateLimiter   // nil: no INVITE rate limit
	parser  *sip.Parser    // the transport's, with Config.MaxMessageSize

	// ackTimeout is how long an answered INVITE waits for its ACK: 64*T1 (RFC 3261 13.3.1.4), in
	// nanoseconds. transact sends the server's own requests (BYE, CANCEL) in a client transaction. Tests
	// change them while the server runs: both are atomic.
	ackTimeout atomic.Int64
	transact   atomic.Pointer[transactFunc]

	// stopping is set when Close begins: the read filter then drops every message. lastRead is when the
	// filter last let one through (UnixNano).
	stopping atomic.Bool
	lastRead atomic.Int64

	// The counts of Stats.
	panics, malformed, oversized, rateLimited, tooManyCalls, tooManyFromIP atomic.Uint64
	noRoom, unauthorized, ackTimeouts, rtpTimeouts, tcpIdle, tcpRefused    atomic.Uint64
	chatSent, chatReceived, chatRefused, chatDropped                       atomic.Uint64
	redirects                                                              atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// quiet is how long Close lets messages read before it began be handled before it closes sipgo's
// transport: sipgo handles each message on a goroutine of its own, and one that runs after the close
// would open a socket nobody closes.
const quiet = 50 * time.Millisecond

// readFilter sees every datagram and stream chunk before sipgo parses it. It drops UDP datagrams larger
// than Config.MaxMessageSize, or that filled sipgo's read buffer (cut), and counts them; a TCP stream's
// messages are measured by its tcpConn.
func (s *Server) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if s.stopping.Load() {
		return nil, nil // dropped
	}
	if s.tooLarge(props.Transport, data) {
		s.oversized.Add(1)
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("sip datagram too large: dropped", "bytes", len(data), "max", s.cfg.MaxMessageSize,
				"source", fmt.Sprint(props.RemoteAddr))
		}
		return nil, nil
	}
	s.lastRead.Store(time.Now().UnixNano())
	return data, nil
}

// tooLarge reports whether a UDP datagram is larger than Config.MaxMessageSize or filled sipgo's read
// buffer (and so may have been cut).
func (s *Server) tooLarge(transport string, data []byte) bool {
	return strings.EqualFold(transport, "UDP") &&
		(len(data) > s.cfg.MaxMessageSize || len(data) >= int(sip.TransportBufferReadSize))
}

// New checks cfg and prepares a server; it opens no socket and starts no goroutine.
func New(cfg Config, p Params) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Conference == nil {
		return nil, errors.New("sip: no conference")
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	trusted, err := parsePrefixes(cfg.Trusted)
	if err != nil {
		return nil, fmt.Errorf("sip: trusted: %w", err) // checked by Validate
	}
	s := &Server{cfg: cfg, conf: p.Conference, chat: p.Chat, route: p.Route, log: log,
		sessions: make(map[string]*session), dialogs: make(map[string]*session),
		perIP: make(map[netip.Addr]int), tcpConns: make(map[netip.Addr]int),
		trusted: trusted, invites: newRateLimiter(cfg.InviteRate, cfg.InviteBurst)}
	s.ackTimeout.Store(int64(64 * sip.T1))
	tf := transactFunc(s.clientTransaction)
	s.transact.Store(&tf)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if len(cfg.Users) > 0 {
		a, err := newDigestAuth(cfg.Realm, cfg.Users)
		if err != nil {
			return nil, err
		}
		s.auth = a
	}
	if cfg.RequireAuth && len(cfg.Users) == 0 && len(cfg.Trusted) == 0 {
		log.Warn("sip requires authentication but has no users and no trusted networks: every caller is refused")
	}
	// The transport's parser refuses a message larger than the limit (backing up readFilter and tcpConn).
	s.parser = sip.NewParser()
	s.parser.MaxMessageLength = cfg.MaxMessageSize
	// sipgo logs what it drops (garbage, unmatched responses) at Error: for the MCU that is Debug.
	sipLog := slog.New(debugHandler{log.Handler()}).With("component", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentParser(s.parser),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("sip response matches no transaction", "status", r.StatusCode, "source", r.Source())
			})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(s.readFilter)))
	if err != nil {
		return nil, fmt.Errorf("sip: new user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: new server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: new client: %w", err)
	}
	s.ua, s.srv, s.cli = ua, srv, cli
	srv.OnInvite(s.handler(s.onInvite))
	srv.OnAck(s.handler(s.onAck))
	srv.OnBye(s.handler(s.onBye))
	srv.OnCancel(s.handler(s.onCancel))
	srv.OnOptions(s.handler(s.onOptions))
	srv.OnInfo(s.handler(s.onInfo))
	srv.OnMessage(s.handler(s.onMessage))
	srv.OnNoRoute(s.handler(s.onOther))
	return s, nil
}

// Start opens the UDP and TCP sockets (Config.Transports) on Config.Port and starts serving. It fails if
// called twice or after Close.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	if s.started {
		return errors.New("sip: already started")
	}
	udp, tcp, err := s.listen()
	if err != nil {
		return err
	}
	s.started, s.udp, s.tcp = true, udp, tcp
	if tcp != nil {
		tcp = &tcpListener{Listener: tcp, s: s}
	}
	if udp != nil {
		s.port = udp.LocalAddr().(*net.UDPAddr).Port
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.ServeUDP(udp); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("sip udp serve ended", "err", err)
			}
		}()
		s.awaitPool("udp", udp.LocalAddr().String())
	}
	if tcp != nil {
		s.port = tcp.Addr().(*net.TCPAddr).Port
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.ServeTCP(tcp); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("sip tcp serve ended", "err", err)
			}
		}()
	}
	s.wg.Add(1)
	go s.report()
	s.log.Info("sip listening", "host", s.cfg.Host, "port", s.port, "transports", strings.Join(s.cfg.Transports, ","),
		"auth", s.auth != nil, "require_auth", s.cfg.RequireAuth, "trusted", strings.Join(s.cfg.Trusted, ","),
		"allow_new_rooms", s.cfg.AllowNewRooms, "max_calls", s.cfg.MaxCalls, "max_calls_per_ip", s.cfg.MaxCallsPerIP,
		"invite_rate", s.cfg.InviteRate)
	return nil
}

// awaitPool waits (briefly) until sipgo's transport has put the listening socket in its pool: requests
// sent before would open a socket of their own.
func (s *Server) awaitPool(network, addr string) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for range 1000 {
		if _, err := s.ua.TransportLayer().GetConnection(network, addr); err == nil {
			return
		}
		<-tick.C
	}
	s.log.Warn("sip listener not ready", "network", network, "addr", addr)
}

// listen opens the sockets on one port for both transports; with Config.Port 0 it tries a few free
// UDP ports until TCP gets the same one.
func (s *Server) listen() (net.PacketConn, net.Listener, error) {
	host := s.cfg.Host
	for attempt := 0; ; attempt++ {
		var udp net.PacketConn
		var tcp net.Listener
		port := s.cfg.Port
		if s.cfg.serves("udp") {
			c, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return nil, nil, fmt.Errorf("sip: listen udp: %w", err)
			}
			udp, port = c, c.LocalAddr().(*net.UDPAddr).Port
		}
		if s.cfg.serves("tcp") {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				if udp != nil {
					udp.Close()
				}
				if s.cfg.Port == 0 && errors.Is(err, syscall.EADDRINUSE) && attempt < 20 {
					continue
				}
				return nil, nil, fmt.Errorf("sip: listen tcp: %w", err)
			}
			tcp = l
		}
		return udp, tcp, nil
	}
}

// Port returns the port the server listens on (after Start), useful with Config.Port 0.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// Run starts the server, serves until ctx is cancelled, then closes it.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Close hangs up every call (BYE or CANCEL, waiting briefly for the answers), takes the participants out
// of their rooms, closes the sockets and waits for every goroutine of the server. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopping.Store(true)
		s.mu.Lock()
		s.closing = true
		calls := make([]*session, 0, len(s.sessions))
		for _, c := range s.sessions {
			calls = append(calls, c)
		}
		s.mu.Unlock()

		s.cancel()
		var wg sync.WaitGroup
		for _, c := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.hangup(hangupShutdown)
			}()
		}
		wg.Wait()

		if wait := quiet - time.Since(time.Unix(0, s.lastRead.Load())); wait > 0 {
			time.Sleep(wait) // bounded: let sipgo finish the messages read before Close began
		}
		s.mu.Lock()
		udp, tcp := s.udp, s.tcp
		s.mu.Unlock()
		var errs []error
		if udp != nil {
			if err := udp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if tcp != nil {
			if err := tcp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		s.ua.Close() // the pool's connections; errors here are of connections already gone
		s.wg.Wait()
		s.closeErr = errors.Join(errs...)
		s.log.Info("sip closed")
	})
	return s.closeErr
}

// enter counts a goroutine in s.wg unless the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// spawn runs f on a new goroutine counted in s.wg, unless the server is closing (Close then does the
// work itself). A panic in f is recovered, logged with its stack and counted.
func (s *Server) spawn(f func()) bool {
	if !s.enter() {
		return false
	}
	go func() {
		defer s.wg.Done()
		defer func() {
			if v := recover(); v != nil { // the goroutine's own work ends, never the process
				s.panics.Add(1)
				s.log.Error("sip goroutine panicked", "panic", v, "stack", string(debug.Stack()))
			}
		}()
		f()
	}()
	return true
}

// handler wraps a request handler: counted in s.wg, refused with 503 while closing, refused with 400
// when a mandatory header is missing, repeated or inconsistent, and isolated: a panic in h is logged
// with its stack and counted, ends only this request (answered 500) and never the process.
func (s *Server) handler(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !s.enter() {
			if !req.IsAck() {
				s.reply(tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
			}
			return
		}
		defer s.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				s.panics.Add(1)
				s.log.Error("sip handler panicked", "method", req.Method, "source", req.Source(),
					"panic", v, "stack", string(debug.Stack()))
				if !req.IsAck() {
					s.reply(tx, req, sip.StatusInternalServerError, "Server Internal Error")
				}
			}
		}()
		if err := checkHeaders(req); err != nil {
			s.malformed.Add(1)
			s.log.Debug("sip malformed request", "method", req.Method, "source", req.Source(), "err", err)
			if !req.IsAck() {
				s.reply(tx, req, sip.StatusBadRequest, "Bad Request", warning(399, err.Error()))
			}
			return
		}
		h(req, tx)
	}
}

// checkHeaders checks what RFC 3261 8.1.1 makes mandatory in every request: exactly one To, From,
// Call-ID and CSeq (whose method is the request's), at least one Via, and a From tag. The handlers rely
// on it.
func checkHeaders(req *sip.Request) error {
	for _, name := range []string{"To", "From", "Call-ID", "CSeq"} {
		switch n := len(req.GetHeaders(name)); {
		case n == 0:
			return fmt.Errorf("missing %s", name)
		case n > 1:
			return fmt.Errorf("repeated %s", name)
		}
	}
	if req.Via() == nil {
		return errors.New("missing Via")
	}
	if req.To() == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil {
		return errors.New("malformed To, From, Call-ID or CSeq")
	}
	if m := req.CSeq().MethodName; m != req.Method && !(req.IsAck() && m == sip.INVITE) {
		return fmt.Errorf("CSeq method %s in a %s", m, req.Method)
	}
	if tag, _ := req.From().Params.Get("tag"); tag == "" {
		return errors.New("missing From tag")
	}
	return nil
}

// reply answers req with a body-less response carrying extra headers.
func (s *Server) reply(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "code", code, "method", req.Method, "err", err)
	}
}

// Refusals of register.
var (
	errClosing       = errors.New("server closing")
	errTooManyCalls  = errors.New("too many calls")
	errTooManyFromIP = errors.New("too many calls from this address")
)

// register adds c to the server's tables. It fails with errClosing once the server is closing, and with
// errTooManyCalls or errTooManyFromIP (counted) beyond Config.MaxCalls or, for an inbound call from a
// source that is not trusted, Config.MaxCallsPerIP.
func (s *Server) register(c *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errClosing
	}
	if n := s.cfg.MaxCalls; n > 0 && len(s.sessions) >= n {
		s.tooManyCalls.Add(1)
		return errTooManyCalls
	}
	if c.perIP {
		if n := s.cfg.MaxCallsPerIP; n > 0 && s.perIP[c.src] >= n {
			s.tooManyFromIP.Add(1)
			return errTooManyFromIP
		}
		s.perIP[c.src]++
	}
	s.sessions[c.id] = c
	return nil
}

// registerDialog makes c findable by the requests of its dialog.
func (s *Server) registerDialog(c *session, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[c.id] == c {
		s.dialogs[key] = c
	}
}

func (s *Server) unregister(c *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[c.id] == c {
		delete(s.sessions, c.id)
		if c.perIP {
			if s.perIP[c.src] <= 1 {
				delete(s.perIP, c.src)
			} else {
				s.perIP[c.src]--
			}
		}
	}
	for k, v := range s.dialogs {
		if v == c {
			delete(s.dialogs, k)
		}
	}
}

// dialogOf finds the session of an in-dialog request: the To tag is ours, the From tag theirs.
func (s *Server) dialogOf(req *sip.Request) *session {
	callID, local, remote, ok := dialogTags(req)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[dialogKey(callID, local, remote)]
}

func dialogTags(req *sip.Request) (callID, local, remote string, ok bool) {
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return "", "", "", false
	}
	local, _ = to.Params.Get("tag")
	remote, _ = from.Params.Get("tag")
	return cid.Value(), local, remote, local != ""
}

func dialogKey(callID, local, remote string) string { return callID + "\x00" + local + "\x00" + remote }

// newID returns n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// localHost is the address the server writes in Contact, Via and SDP for a peer at remote: the
// configured public host, the configured listen host, or the local address routed towards remote.
func (s *Server) localHost(remote netip.Addr) netip.Addr {
	if s.cfg.PublicHost != "" {
		return netip.MustParseAddr(s.cfg.PublicHost) // checked by Validate
	}
	if s.cfg.Host != "" {
		if a := netip.MustParseAddr(s.cfg.Host); !a.IsUnspecified() {
			return a
		}
	}
	// Connecting a UDP socket sends nothing; it only asks the kernel for the route: towards remote, else
	// towards a documentation address (the default route).
	for _, to := range []netip.Addr{remote, netip.AddrFrom4([4]byte{192, 0, 2, 1})} {
		if !to.IsValid() || to.IsUnspecified() {
			continue
		}
		if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, 9))); err == nil {
			a := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
			c.Close()
			return a
		}
	}
	return netip.IPv4Unspecified()
}

// isTrusted reports whether ip is in Config.Trusted.
func (s *Server) isTrusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// sourceAddr parses a request's source "ip:port".
func sourceAddr(src string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// onOptions answers OPTIONS (keep-alives and capability queries) with the methods and body types.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.reply(tx, req, sip.StatusOK, "OK", sip.NewHeader("Allow", s.allowed()),
		sip.NewHeader("Accept", "application/sdp"), sip.NewHeader("Accept-Language", "en"))
}

// onOther answers the methods the server does not handle.
func (s *Server) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	s.reply(tx, req, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", s.allowed()))
}

// onCancel gets only the CANCELs sipgo matched to no pending INVITE (it answers the others itself: 200,
// and 487 for the INVITE).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// onAck passes the ACK of a 2xx to the session waiting for it.
func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if c := s.dialogOf(req); c != nil {
		c.ack(req)
	}
}

// onBye ends a call at the caller's request.
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.dialogOf(req)
	if c == nil {
		s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	s.reply(tx, req, sip.StatusOK, "OK")
	c.log.Info("sip bye received")
	c.hangup(hangupRemote)
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay or application/dtmf) within a call.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := s.dialogOf(req)
	if c == nil {
		s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	body := string(req.Body())
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	switch {
	case len(body) == 0:
	case strings.HasPrefix(ct, "application/dtmf-relay"):
		for line := range strings.SplitSeq(body, "\n") {
			k, v, _ := strings.Cut(line, "=")
			if strings.EqualFold(strings.TrimSpace(k), "signal") {
				if d, ok := infoDigit(strings.TrimSpace(v)); ok {
					c.OnDTMF(d)
				}
			}
		}
	case strings.HasPrefix(ct, "application/dtmf"):
		if d, ok := infoDigit(strings.TrimSpace(body)); ok {
			c.OnDTMF(d)
		}
	default:
		s.reply(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type",
			sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	s.reply(tx, req, sip.StatusOK, "OK")
}

// infoDigit reads the digit of a SIP INFO DTMF body: "0"-"9", "*", "#", "A"-"D", or the event numbers
// "10" and "11" some phones send for * and #.
func infoDigit(s string) (rune, bool) {
	switch {
	case s == "10":
		return '*', true
	case s == "11":
		return '#', true
	case len(s) == 1 && strings.ContainsRune("0123456789*#ABCDabcd", rune(s[0])):
		return unicode.ToUpper(rune(s[0])), true
	}
	return 0, false
}

// debugHandler logs every record of the wrapped handler at Debug at most.
type debugHandler struct{ h slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{d.h.WithAttrs(attrs)}
}
func (d debugHandler) WithGroup(name string) slog.Handler { return debugHandler{d.h.WithGroup(name)} }

// Stats are the server's counts of hostile or broken input and of what its limits refused, since New.
// It is plain data.
type Stats struct {
	Panics    uint64 // request handlers that panicked (recovered, answered 500)
	Malformed uint64 // requests refused for a missing, repeated or inconsistent mandatory header
	// Oversized counts messages larger than Config.MaxMessageSize: UDP datagrams dropped, TCP connections
	// closed.
	Oversized uint64
	// RateLimited counts new INVITEs refused (503, Retry-After) by the per-source rate limit.
	RateLimited uint64
	// TooManyCalls and TooManyCallsFromIP count new INVITEs refused for Config.MaxCalls (503) and
	// Config.MaxCallsPerIP (486).
	TooManyCalls, TooManyCallsFromIP uint64
	// NoRoom counts new INVITEs refused (404) for a room that does not exist while new rooms are not
	// allowed (Config.AllowNewRooms false).
	NoRoom uint64
	// Unauthorized counts new INVITEs refused with 403: bad credentials, or Config.RequireAuth and
	// neither credentials to check nor a trusted source.
	Unauthorized uint64
	// AckTimeouts counts answered INVITEs whose ACK never came (64*T1, 32 s): the call was hung up.
	AckTimeouts uint64
	// RTPTimeouts counts calls hung up because the MCU received neither RTP nor RTCP for its RTP timeout.
	RTPTimeouts uint64
	// TCPIdleClosed counts TCP connections closed for Config.TCPIdleTimeout; TCPRefused those closed as
	// they were accepted for Config.MaxTCPConnsPerIP.
	TCPIdleClosed, TCPRefused uint64
	// RateLimitSources is how many source addresses the INVITE rate limit tracks now (at most 4096).
	RateLimitSources int
	// Chat over SIP MESSAGE: lines sent to callers (answered 2xx), lines received from callers and
	// posted, received and refused (too long, rate-limited, not text...), and lines dropped because a
	// caller's queue was full.
	ChatSent, ChatReceived, ChatRefused, ChatDropped uint64
	// Redirects counts new calls sent to the node that serves their room (302, Params.Route).
	Redirects uint64
}

// reportInterval is how often report logs what was refused.
const reportInterval = time.Second

// report logs at Warn, every reportInterval in which something was refused, how many requests each limit
// refused (the refusals themselves are logged at Debug only: a flood must not flood the log). It runs
// from Start until Close.
func (s *Server) report() {
	defer s.wg.Done()
	tick := time.NewTicker(reportInterval)
	defer tick.Stop()
	last := s.Stats()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		now := s.Stats()
		var attrs []any
		for _, c := range []struct {
			key      string
			now, was uint64
		}{
			{"malformed", now.Malformed, last.Malformed},
			{"oversized", now.Oversized, last.Oversized},
			{"rate_limited", now.RateLimited, last.RateLimited},
			{"too_many_calls", now.TooManyCalls, last.TooManyCalls},
			{"too_many_calls_from_ip", now.TooManyCallsFromIP, last.TooManyCallsFromIP},
			{"no_room", now.NoRoom, last.NoRoom},
			{"unauthorized", now.Unauthorized, last.Unauthorized},
			{"ack_timeouts", now.AckTimeouts, last.AckTimeouts},
			{"tcp_refused", now.TCPRefused, last.TCPRefused},
		} {
			if d := c.now - c.was; d > 0 {
				attrs = append(attrs, c.key, d)
			}
		}
		if len(attrs) > 0 {
			s.log.Warn("sip requests refused", append(attrs, "interval", reportInterval)...)
		}
		last = now
	}
}

// Stats returns the counts so far. It is safe for concurrent use.
func (s *Server) Stats() Stats {
	st := Stats{Panics: s.panics.Load(), Malformed: s.malformed.Load(), Oversized: s.oversized.Load(),
		RateLimited: s.rateLimited.Load(), TooManyCalls: s.tooManyCalls.Load(), TooManyCallsFromIP: s.tooManyFromIP.Load(),
		NoRoom: s.noRoom.Load(), Unauthorized: s.unauthorized.Load(), AckTimeouts: s.ackTimeouts.Load(),
		RTPTimeouts: s.rtpTimeouts.Load(), TCPIdleClosed: s.tcpIdle.Load(), TCPRefused: s.tcpRefused.Load(),
		ChatSent: s.chatSent.Load(), ChatReceived: s.chatReceived.Load(), ChatRefused: s.chatRefused.Load(),
		ChatDropped: s.chatDropped.Load(), Redirects: s.redirects.Load()}
	if s.invites != nil {
		st.RateLimitSources = s.invites.size()
	}
	return st
}
