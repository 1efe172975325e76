package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
)

// WebSocketConfig is the serialisable configuration of the WebSocket endpoint. Start from
// DefaultWebSocketConfig; NewWebSocketHandler validates it.
type WebSocketConfig struct {
	// OriginPatterns are the browser origins, besides the server's own, allowed to open the socket:
	// path.Match patterns against the origin's host[:port] (or scheme://host[:port] when the pattern has
	// "://"), case-insensitive. The page served by this server (Origin host equal to the request's Host)
	// is always allowed, and so are clients that send no Origin (not browsers). Behind a reverse proxy
	// that rewrites Host, list the public host here. "*" allows every origin: any web page could then
	// join rooms from its visitors' browsers (cross-site WebSocket hijacking), so do that only for
	// development. InsecureSkipVerify is never used.
	OriginPatterns []string `json:"origin_patterns"`
	// ReadLimit is the largest client message in bytes; a larger one closes the socket (1009).
	ReadLimit int64 `json:"read_limit"`
	// QueueSize is how many messages may wait to be written to one client; a client that falls further
	// behind is dropped.
	QueueSize int `json:"queue_size"`
	// WriteTimeout bounds each message write; a client that does not take a message in time is dropped.
	WriteTimeout time.Duration `json:"write_timeout"`
	// PingInterval is how often the server pings each client, and PingTimeout how long it waits for the
	// pong before it drops the client (and its participant).
	PingInterval time.Duration `json:"ping_interval"`
	PingTimeout  time.Duration `json:"ping_timeout"`
	// QualityInterval is how often a joined client gets a "quality" message about its downstream link.
	QualityInterval time.Duration `json:"quality_interval"`
	// MessageRate and MessageBurst are each client's token bucket: messages per second, sustained, and
	// how many may come at once (a join with its offer and candidates). A message beyond it is not
	// handled and the client gets a "rate-limited" error (at most one a second); AbuseLimit such
	// messages within 10 s close the socket (1008, policy violation) and its participant leaves.
	MessageRate  float64 `json:"message_rate"`
	MessageBurst int     `json:"message_burst"`
	AbuseLimit   int     `json:"abuse_limit"`
}

// DefaultWebSocketConfig allows localhost origins on any port (besides the server's own origin), reads
// messages of up to 64 KiB, queues 100 messages per client with a 500 ms write deadline, pings every
// 5 s with a 5 s timeout (a vanished client is dropped within 10 s), reports link quality every second,
// and takes 20 messages a second from each client (bursts of 60), closing a socket after 100 messages
// over that within 10 s.
func DefaultWebSocketConfig() WebSocketConfig {
	return WebSocketConfig{
		OriginPatterns:  []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", `\[::1\]`, `\[::1\]:*`},
		ReadLimit:       64 << 10,
		QueueSize:       100,
		WriteTimeout:    500 * time.Millisecond,
		PingInterval:    5 * time.Second,
		PingTimeout:     5 * time.Second,
		QualityInterval: time.Second,
		MessageRate:     20,
		MessageBurst:    60,
		AbuseLimit:      100,
	}
}

// Validate reports every field out of range, joined, or nil.
func (c WebSocketConfig) Validate() error {
	var errs []error
	for _, p := range c.OriginPatterns {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("origin pattern %q: %w", p, err))
		}
	}
	if c.ReadLimit < 4<<10 || c.ReadLimit > 16<<20 {
		errs = append(errs, fmt.Errorf("read limit %d: want 4 KiB..16 MiB", c.ReadLimit))
	}
	if c.QueueSize < 1 || c.QueueSize > 100000 {
		errs = append(errs, fmt.Errorf("queue size %d: want 1..100000", c.QueueSize))
	}
	if c.WriteTimeout < time.Millisecond || c.WriteTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("write timeout %v: want 1ms..1m", c.WriteTimeout))
	}
	if c.PingInterval < time.Millisecond || c.PingInterval > 10*time.Minute {
		errs = append(errs, fmt.Errorf("ping interval %v: want 1ms..10m", c.PingInterval))
	}
	if c.PingTimeout < time.Millisecond || c.PingTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("ping timeout %v: want 1ms..1m", c.PingTimeout))
	}
	if c.QualityInterval < time.Millisecond || c.QualityInterval > time.Minute {
		errs = append(errs, fmt.Errorf("quality interval %v: want 1ms..1m", c.QualityInterval))
	}
	if c.MessageRate < 0.1 || c.MessageRate > 10000 {
		errs = append(errs, fmt.Errorf("message rate %v: want 0.1..10000 per second", c.MessageRate))
	}
	if c.MessageBurst < 1 || c.MessageBurst > 100000 {
		errs = append(errs, fmt.Errorf("message burst %d: want 1..100000", c.MessageBurst))
	}
	if c.AbuseLimit < 1 {
		errs = append(errs, fmt.Errorf("abuse limit %d: want at least 1", c.AbuseLimit))
	}
	if len(errs) > 0 {
		return fmt.Errorf("websocket config: %w", errors.Join(errs...))
	}
	return nil
}

// Params holds what the signalling needs from its owner besides configuration.
type Params struct {
	// Logger receives lifecycle messages (Info), client mistakes and negotiation (Debug), and drops
	// (Warn); nil discards them.
	Logger *slog.Logger
	// Limiter bounds the connections per client IP, shared by every endpoint; nil: no limit.
	Limiter *ConnLimiter
	// Keys turn on room access tokens (package auth): every join, WHIP publish and WHEP watch then needs
	// a token signed with one of them that grants it. Empty: the endpoints are open.
	Keys auth.Keys
	// Recorder serves the page's record button (for tokens granting roomRecord or roomAdmin; never on
	// a server without Keys); nil: no recording from the page.
	Recorder Recorder
	// ICEServers, when set, gives each client its STUN/TURN servers instead of Conference.ICEServers:
	// identity names the client (its participant ID; for a WHIP/WHEP OPTIONS request, "whip"), host is
	// the host name or IP it reached this server at (the request's Host, without the port), and
	// authenticated says it showed a valid room access token. A server with a TURN relay hands out
	// short-lived credentials here (ICEServerFunc).
	ICEServers ICEServerFunc
	// Route, when set, says where a room is served (several servers sharing rooms): "" here, or the
	// base URL of the server that serves it ("https://node2.example.org:8443"). A WebSocket join is then
	// answered "moved" with that server's /ws, a WHIP or WHEP POST 307 to the same path there; an error
	// (the cluster cannot place the room now) refuses with "unavailable" or 503.
	Route RouteFunc
	// Owner, when set, is Route's read-only lookup: the server that serves a room now, never placing it.
	// A WHIP/WHEP OPTIONS (no credentials needed) is redirected by it, so that it cannot place rooms.
	Owner RouteFunc
	// AllowOrigin, when set, accepts browser origins besides WebSocketConfig.OriginPatterns and WHIP's:
	// the pages of the other servers of a cluster, whose clients it moves here.
	AllowOrigin func(origin string) bool
	// Chat is the rooms' chat and file sharing, over the page's "chat" data channel (and the /watch
	// page's, read-only); nil: no chat.
	Chat ChatHub
}

// RouteFunc says which server serves a room (Params.Route): "" this one, or another's base URL.
type RouteFunc func(ctx context.Context, room string) (baseURL string, err error)

// ICEServerFunc returns the STUN/TURN servers for one client (Params.ICEServers).
type ICEServerFunc func(identity, host string, authenticated bool) []mcu.ICEServer

// servers returns the servers for the client of request r: from f, or else conf's.
func (f ICEServerFunc) servers(conf Conference, r *http.Request, identity string, authenticated bool) []mcu.ICEServer {
	if f != nil {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return f(identity, strings.Trim(host, "[]"), authenticated)
	}
	return conf.ICEServers()
}

// Recorder starts and stops a room's recording (signaling/egress.Manager).
type Recorder interface {
	// RecordRoom starts recording room unless it is recorded already.
	RecordRoom(room string) error
	// StopRecordingRoom stops the room's running recordings.
	StopRecordingRoom(room string) error
}

// WebSocketStats are counters since the handler was created, plus the current number of sockets.
type WebSocketStats struct {
	Connections int    // sockets open now
	Dropped     uint64 // clients dropped for not reading: queue overflow, write timeout or no pong
	// RateLimited counts the messages refused by a client's token bucket, Abusive the sockets closed
	// for too many of them.
	RateLimited, Abusive uint64
	// Coalesced counts the state messages (speaking, muted, quality) replaced by a newer state of the
	// same subject before a client read them, on closed sockets.
	Coalesced uint64
	// Panics counts the panics recovered on a socket's goroutines: that socket was closed and its
	// participant left; no other was disturbed.
	Panics uint64
}

// WebSocketHandler serves the JSON signalling protocol (see the package documentation) on WebSocket
// upgrades; the server mounts it at /ws. Each socket gets one reader goroutine (the HTTP handler's own)
// and one writer goroutine, both ended when the socket closes. Create it with NewWebSocketHandler and stop
// it with Close. Its methods are safe for concurrent use.
type WebSocketHandler struct {
	conf Conference
	cfg  WebSocketConfig
	log  *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	limiter     *ConnLimiter
	keys        auth.Keys
	recorder    Recorder
	chat        ChatHub
	ice         ICEServerFunc
	route       RouteFunc
	allowOrigin func(origin string) bool

	mu     sync.Mutex
	closed bool
	conns  int
	wg     sync.WaitGroup // one per socket being served

	dropped, rateLimited, abusive, coalesced, panics atomic.Uint64
}

// NewWebSocketHandler returns a handler that joins conf's rooms on behalf of WebSocket clients. It starts
// no goroutine; it fails only on an invalid cfg.
func NewWebSocketHandler(conf Conference, cfg WebSocketConfig, p Params) (*WebSocketHandler, error) {
	if conf == nil {
		return nil, errors.New("websocket handler: nil conference")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &WebSocketHandler{conf: conf, cfg: cfg, log: log, ctx: ctx, cancel: cancel, limiter: p.Limiter, keys: p.Keys,
		recorder: p.Recorder, chat: p.Chat, ice: p.ICEServers, route: p.Route, allowOrigin: p.AllowOrigin}, nil
}

// Close closes every socket (status 1001, going away; their participants leave) and waits until they are
// done; later upgrades get 503. It is idempotent.
func (h *WebSocketHandler) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	return nil
}

// Stats returns a snapshot of the counters.
func (h *WebSocketHandler) Stats() WebSocketStats {
	h.mu.Lock()
	n := h.conns
	h.mu.Unlock()
	return WebSocketStats{Connections: n, Dropped: h.dropped.Load(), RateLimited: h.rateLimited.Load(),
		Abusive: h.abusive.Load(), Coalesced: h.coalesced.Load(), Panics: h.panics.Load()}
}

// ServeHTTP upgrades the request to a WebSocket and serves it until it closes.
func (h *WebSocketHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	h.conns++
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.conns--
		h.mu.Unlock()
		h.wg.Done()
	}()

	ip := h.limiter.ClientIP(r)
	log := h.log.With("remote_addr", r.RemoteAddr, "client_ip", ip)
	release, ok := h.limiter.Acquire(ip)
	if !ok {
		log.Info("websocket refused: too many connections from this address")
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	defer release()
	patterns := h.cfg.OriginPatterns
	if origin := r.Header.Get("Origin"); origin != "" && h.allowOrigin != nil && h.allowOrigin(origin) {
		if u, err := url.Parse(origin); err == nil && u.Host != "" { // a page of another node of the cluster
			patterns = append(slices.Clone(patterns), u.Host)
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: patterns})
	if err != nil {
		// Accept has written the HTTP error (403 for a foreign origin, 426 without an upgrade).
		log.Debug("websocket upgrade refused", "err", err)
		return
	}
	ws.SetReadLimit(h.cfg.ReadLimit)
	c := &conn{h: h, ws: ws, log: log, out: newOutbox(h.cfg.QueueSize),
		limit: rate.NewLimiter(rate.Limit(h.cfg.MessageRate), h.cfg.MessageBurst), req: r}
	c.serve()
	h.coalesced.Add(c.out.coalescedCount())
}

// conn is one socket. The reader (serve, on the HTTP handler's goroutine) owns session and the protocol
// state; the writer goroutine owns writes, pings and closing; they share only the outbox. The session's
// listener only queues on the outbox, so the MCU is never blocked by a client.
type conn struct {
	h   *WebSocketHandler
	ws  *websocket.Conn
	log *slog.Logger
	out *outbox

	// quality is the joined session's link quality, if the session reports one (set by the reader,
	// polled every QualityInterval by the writer).
	quality atomic.Pointer[qualitySource]

	// Owned by the reader.
	req     *http.Request // the upgrade request (its token, if any)
	claims  *auth.Claims  // the verified token of the join; nil when tokens are off
	session Session
	chat    *chatLink // the session's chat channel (set by join)
	room    string    // the joined room
	left    bool      // session.Leave was called
	maxKbps int       // from "join"

	limit       *rate.Limiter // MessageRate, MessageBurst
	excess      int           // messages refused since excessSince
	excessSince time.Time
	lastRateErr time.Time // when the client was last told it is rate-limited
}

// serve runs the reader until the socket closes, then stops the writer, makes the participant leave
// (once) and returns when both are done.
func (c *conn) serve() {
	readerCtx, readerDone := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer c.catch("writer")
		c.writeLoop(readerCtx)
	}()
	c.log.Debug("websocket open")
	// Reads end when the socket closes: by the peer, or by the writer (which owns closing).
	err := c.readSafely(context.Background())
	readerDone()
	c.leaveSafely()
	<-writerDone
	c.ws.CloseNow() // a no-op when the writer closed it
	c.log.Debug("websocket closed", "err", err)
}

// catch recovers a panic on one of the socket's goroutines: it is logged with its stack and counted, and
// the socket is closed (its participant then leaves). Deferred directly.
func (c *conn) catch(where string) {
	v := recover()
	if v == nil {
		return
	}
	c.h.panics.Add(1)
	c.log.Error("websocket panic recovered", "where", where, "panic", v, "stack", string(debug.Stack()))
	c.ws.CloseNow()
}

// readSafely is readLoop, ended by a panic as by a closed socket.
func (c *conn) readSafely(ctx context.Context) (err error) {
	defer c.catch("reader")
	err = errors.New("panic")
	return c.readLoop(ctx)
}

// leaveSafely is leave, a panic in it recovered.
func (c *conn) leaveSafely() {
	defer c.catch("leave")
	c.leave()
}

// allow takes one message from the client's token bucket. A message over the rate is refused: the client
// is told (at most once a second), and AbuseLimit refusals within 10 s close the socket.
func (c *conn) allow() bool {
	now := time.Now()
	if c.limit.AllowN(now, 1) {
		return true
	}
	c.h.rateLimited.Add(1)
	if now.Sub(c.excessSince) > abuseWindow {
		c.excess, c.excessSince = 0, now
	}
	c.excess++
	if c.excess >= c.h.cfg.AbuseLimit {
		c.h.abusive.Add(1)
		c.log.Warn("closing a flooding client", "refused_messages", c.excess, "window", abuseWindow)
		c.out.push(errorOutOf(errorf(CodeRateLimited, "too many messages: closing the connection")))
		c.out.closeAfterFlush(websocket.StatusPolicyViolation, "rate limit exceeded")
		return false
	}
	if now.Sub(c.lastRateErr) >= time.Second {
		c.lastRateErr = now
		c.out.push(errorOutOf(errorf(CodeRateLimited, "too many messages; this one was ignored (limit %.0f a second)",
			c.h.cfg.MessageRate)))
	}
	return false
}

// abuseWindow is the window in which WebSocketConfig.AbuseLimit refused messages close a socket.
const abuseWindow = 10 * time.Second

// readLoop reads and handles messages in order until the socket fails or closes.
func (c *conn) readLoop(ctx context.Context) error {
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		if !c.allow() {
			continue
		}
		if typ != websocket.MessageText {
			c.sendError(errorf(CodeBadMessage, "binary frames are not supported; send JSON text"))
			continue
		}
		msg, err := decodeMessage(data)
		if err != nil {
			c.sendError(err)
			continue
		}
		if err := c.handle(msg); err != nil {
			c.sendError(err)
		}
	}
}

// handle does what one decoded message asks. The returned error goes to the client as an "error"
// message; the connection stays open.
func (c *conn) handle(msg any) error {
	if _, ok := msg.(joinMsg); !ok && c.session == nil {
		if _, ok := msg.(leaveMsg); ok {
			c.out.closeAfterFlush(websocket.StatusNormalClosure, "left")
			return nil
		}
		return errorf(CodeNotJoined, "send \"join\" first")
	}
	switch m := msg.(type) {
	case joinMsg:
		return c.join(m)
	case offerMsg:
		answer, err := c.session.HandleOffer(m.SDP)
		if err != nil {
			c.log.Debug("offer rejected", "err", err)
			switch {
			case errors.Is(err, mcu.ErrClosed):
				return errorf(CodeInternal, "the participant has been removed")
			case errors.Is(err, mcu.ErrNoCodec):
				return errorf(CodeBadSDP, "the offer has no usable codec (want Opus, and H.264 or VP8)")
			case errors.Is(err, mcu.ErrTooManyTracks):
				return errorf(CodeBadSDP, "the offer has too many audio and video sections")
			}
			return errorf(CodeBadSDP, "the offer could not be applied")
		}
		c.log.Debug("answered offer")
		c.out.push(sdpOut{Type: typeAnswer, SDP: answer})
	case answerMsg:
		if err := c.session.HandleAnswer(m.SDP); err != nil {
			c.log.Debug("answer rejected", "err", err)
			if errors.Is(err, mcu.ErrClosed) {
				return errorf(CodeInternal, "the participant has been removed")
			}
			return errorf(CodeBadSDP, "the answer could not be applied")
		}
	case candidateMsg:
		if m.End {
			return nil
		}
		if err := c.session.AddICECandidate(m.Candidate); err != nil {
			c.log.Debug("candidate rejected", "err", err)
			if errors.Is(err, mcu.ErrClosed) {
				return errorf(CodeInternal, "the participant has been removed")
			}
			return errorf(CodeBadSDP, "the ICE candidate could not be added")
		}
	case muteMsg:
		c.session.SetMuted(m.Audio, m.Video)
	case layoutMsg:
		if err := c.session.SetLayout(m.Layout); err != nil {
			c.log.Debug("set layout", "err", err)
			return errorf(CodeInternal, "the layout could not be changed")
		}
	case capsMsg:
		if err := c.session.SetCaps(m.Caps); err != nil {
			c.log.Debug("set caps", "err", err)
			return errorf(CodeInternal, "the caps could not be applied")
		}
	case leaveMsg:
		c.leave()
		c.out.closeAfterFlush(websocket.StatusNormalClosure, "left")
	case recordMsg:
		return c.record(m.On)
	case screenMsg:
		if !m.On {
			c.session.StopScreen()
			return nil
		}
		if c.claims != nil && !c.claims.Video.CanPublishMedia() {
			return errorf(CodeForbidden, "sharing a screen needs the canPublish grant")
		}
		if err := c.session.ShareScreen(m.Stream); err != nil {
			c.log.Debug("share screen", "err", err)
			return errorf(CodeForbidden, "this participant cannot share a screen")
		}
	case pinMsg:
		if err := c.session.SetPin(m.ID); err != nil {
			c.log.Debug("pin", "err", err)
			return errorf(CodeInternal, "the pin could not be applied")
		}
	}
	return nil
}

// record starts or stops the room's recording for a participant whose token grants roomRecord or
// roomAdmin; everyone learns of it by a "room" message.
func (c *conn) record(on bool) error {
	if !c.canRecord() {
		return errorf(CodeForbidden, "recording needs a token with roomRecord or roomAdmin")
	}
	rec := c.h.recorder
	if rec == nil {
		return errorf(CodeForbidden, "recording is not available on this server")
	}
	room := c.room
	var err error
	if on {
		err = rec.RecordRoom(room)
	} else {
		err = rec.StopRecordingRoom(room)
	}
	if err != nil {
		c.log.Warn("record from the page", "on", on, "err", err)
		return errorf(CodeInternal, "the recording could not be %s", map[bool]string{true: "started", false: "stopped"}[on])
	}
	c.log.Info("record from the page", "on", on)
	return nil
}

// canRecord reports whether the participant's token grants recording its room.
func (c *conn) canRecord() bool {
	return c.h.recorder != nil && c.claims != nil && c.session != nil && c.claims.Allow(c.room, auth.NeedRecord) == nil
}

// join joins the room and queues "joined", listing the members the MCU announced during the join.
// routed checks that this server serves room (Params.Route): a "moved" error names the one that does.
func (c *conn) routed(room string) error {
	if c.h.route == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.h.ctx, 3*time.Second)
	defer cancel()
	base, err := c.h.route(ctx, room)
	switch {
	case err != nil:
		c.log.Info("join refused: room not placed", "room", room, "err", err)
		return errorf(CodeUnavailable, "the room cannot be placed now; try again in a few seconds")
	case base == "":
		return nil
	}
	u, err := url.Parse(base)
	if err != nil {
		c.log.Warn("route: bad server URL", "url", base, "err", err)
		return errorf(CodeInternal, "the room's server has no usable address")
	}
	u.Scheme = map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
	u.Path, u.RawQuery = strings.TrimSuffix(u.Path, "/")+"/ws", ""
	c.log.Debug("join moved", "room", room, "to", u.String())
	e := errorf(CodeMoved, "the room is served by another server")
	e.URL = u.String()
	return e
}

func (c *conn) join(m joinMsg) error {
	if c.session != nil || c.left {
		return errorf(CodeAlreadyJoined, "this connection has already joined a room")
	}
	opts, name, err := c.admit(m)
	if err != nil {
		return err
	}
	if err := c.routed(m.Room); err != nil {
		return err
	}
	c.out.startJoin()
	c.chat = &chatLink{hub: c.h.chat}
	s, err := c.h.conf.Join(m.Room, name, listener{out: c.out, chat: c.chat}, opts)
	if err != nil {
		c.out.abortJoin()
		switch {
		case errors.Is(err, mcu.ErrRoomFull):
			c.log.Debug("join refused", "room", m.Room, "err", err)
			return errorf(CodeRoomFull, "the room is full")
		case errors.Is(err, mcu.ErrServerFull), errors.Is(err, mcu.ErrTooManyRooms):
			c.log.Info("join refused", "room", m.Room, "err", err)
			return errorf(CodeServerFull, "the server is full; try again later")
		case errors.Is(err, mcu.ErrBadName):
			c.log.Debug("join refused", "room", m.Room, "err", err)
			return errorf(CodeBadMessage, "room and name must be 1 to 128 bytes of UTF-8")
		case errors.Is(err, mcu.ErrClosed):
			c.log.Debug("join refused", "room", m.Room, "err", err)
			return errorf(CodeInternal, "the server is shutting down")
		}
		c.log.Warn("join failed", "room", m.Room, "err", err)
		return errorf(CodeInternal, "could not join the room")
	}
	c.session, c.room = s, m.Room
	// Chat needs canPublishData once tokens are on; without keys everyone may chat.
	c.chat.bind(m.Room, name, s, c.claims == nil || c.claims.Video.CanPublishDataMessages())
	c.maxKbps = m.MaxKbps
	c.log = c.log.With("room", m.Room, "participant", s.ID())
	c.log.Info("joined", "max_kbps", m.MaxKbps)
	var setupErr error
	if m.HasLayout { // before "joined", so that the client's first picture has it
		setupErr = s.SetLayout(m.Layout)
	}
	if m.MaxKbps > 0 && setupErr == nil {
		setupErr = s.SetCaps(mcu.Caps{MaxBitrate: m.MaxKbps * 1000})
	}
	c.out.finishJoin(joinedOut{Type: typeJoined, ID: string(s.ID()), Room: m.Room, Name: name,
		ICEServers: toWireICEServers(c.h.ice.servers(c.h.conf, c.req, string(s.ID()), c.claims != nil)), CanRecord: c.canRecord()})
	if q, ok := s.(qualitySource); ok { // after "joined": no "quality" comes before it
		c.quality.Store(&q)
	}
	if setupErr != nil {
		c.log.Debug("set layout or caps", "err", setupErr)
		return errorf(CodeInternal, "the layout or caps could not be applied")
	}
	return nil
}

// admit checks the join's room access token when tokens are on: it must be valid, for this room, and
// grant roomJoin and canSubscribe (the page receives the room). A token without canPublish joins as a
// viewer (listed as one, or not at all with the hidden grant). The display name is the token's, else the
// join's, else the identity.
func (c *conn) admit(m joinMsg) (mcu.JoinOptions, string, error) {
	if len(c.h.keys) == 0 {
		return mcu.JoinOptions{}, m.Name, nil
	}
	token := m.Token
	if token == "" {
		token = auth.TokenFromRequest(c.req)
	}
	claims, err := c.h.keys.Verify(token, time.Now())
	if err == nil {
		err = claims.Allow(m.Room, auth.NeedJoin|auth.NeedSubscribe)
	}
	if err != nil {
		c.log.Info("join refused: access token", "room", m.Room, "err", err)
		code := CodeUnauthorized
		switch {
		case errors.Is(err, auth.ErrExpired):
			code = CodeTokenExpired
		case auth.HTTPStatus(err) == http.StatusForbidden:
			code = CodeForbidden
		}
		return mcu.JoinOptions{}, "", errorf(code, "%s", auth.Message(err))
	}
	c.claims = claims
	opts := mcu.JoinOptions{Viewer: !claims.Video.CanPublishMedia()}
	opts.Hidden = opts.Viewer && claims.Video.Hidden
	name := claims.Name
	if name == "" {
		name = m.Name
	}
	if name == "" {
		name = claims.Identity()
	}
	return opts, name, nil
}

// leave makes the participant leave, once.
func (c *conn) leave() {
	if c.session == nil || c.left {
		return
	}
	c.left = true
	c.chat.leave()
	c.session.Leave()
	c.log.Info("left")
}

func (c *conn) sendError(err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(CodeInternal, "internal error")
	}
	c.log.Debug("client error", "code", e.Code, "err", e.Message)
	c.out.push(errorOutOf(e))
}

// writeLoop writes queued messages, pings, and closes the socket when the outbox asks, a client does not
// keep up, or the handler closes. It returns when the reader has finished (ctx is done) or after closing
// the socket.
func (c *conn) writeLoop(ctx context.Context) {
	cfg := &c.h.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	quality := time.NewTicker(cfg.QualityInterval)
	defer quality.Stop()
	for {
		select {
		case <-quality.C:
			if q := c.quality.Load(); q != nil {
				c.out.pushState("quality", qualityOutOf((*q).Quality())) // never blocks; the latest wins
			}
			continue
		case <-ctx.Done():
			return
		case <-c.h.ctx.Done():
			c.ws.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, cfg.PingTimeout)
			err := c.ws.Ping(pctx)
			timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
			cancel()
			if err != nil {
				c.failed("no pong", err, timedOut)
				return
			}
			continue
		case <-c.out.notify:
		}
		for {
			b, cl := c.out.take()
			if b != nil {
				wctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
				err := c.ws.Write(wctx, websocket.MessageText, b)
				timedOut := errors.Is(wctx.Err(), context.DeadlineExceeded)
				cancel()
				if err != nil {
					c.failed("write timed out", err, timedOut)
					return
				}
				continue
			}
			if cl == nil {
				break
			}
			if cl.overflow {
				c.h.dropped.Add(1)
				c.log.Warn("dropping client", "reason", "send queue full", "queue_size", cfg.QueueSize)
				// The socket still works, so say why (bounded by the library's 5 s timeouts).
				c.ws.Close(websocket.StatusPolicyViolation, "too slow: send queue full")
				return
			}
			c.ws.Close(cl.code, cl.reason)
			return
		}
	}
}

// failed closes the socket after a failed write or ping. A timeout means the client does not keep up
// (or has vanished): it is dropped and counted. Otherwise the socket was closing anyway.
func (c *conn) failed(what string, err error, timedOut bool) {
	if timedOut {
		c.h.dropped.Add(1)
		c.log.Warn("dropping client", "reason", what, "err", err)
	} else {
		c.log.Debug("socket closed while writing", "err", err)
	}
	c.ws.CloseNow()
}

// qualitySource is a Session that reports its downstream link quality (*mcu.Participant does).
type qualitySource interface{ Quality() mcu.Quality }

// listener is the participant's mcu.ParticipantListener: it only queues.
type listener struct {
	out  *outbox
	chat *chatLink
}

func (l listener) OnICECandidate(c mcu.ICECandidate) { l.out.push(candidateOutOf(c)) }
func (l listener) OnRoster(e mcu.RosterEvent)        { l.out.roster(e) }
func (l listener) OnDataOpen(label string)           { l.chat.open(label) }
func (l listener) OnData(m mcu.DataMessage)          { l.chat.data(m) }

func (l listener) OnClosed(err error) {
	l.chat.leave()
	l.out.closed(err)
}

// closeRequest asks the writer to close the socket after writing what is queued (nothing on overflow).
type closeRequest struct {
	code     websocket.StatusCode
	reason   string
	overflow bool // the queue was full: the client is dropped
}

// outbox is a connection's bounded output queue of encoded messages. Producers (the reader and the
// MCU's callbacks) never block: when the queue is full the client is dropped. State messages (who
// speaks, who is muted, the link quality) are coalesced per subject: a new state replaces the one still
// queued for the same subject, in its place, so a client that is behind gets the latest state rather
// than every change, and a participant toggling its mute thousands of times cannot fill the others'
// queues. The lock is never held across a channel send or I/O.
type outbox struct {
	notify chan struct{} // capacity 1: there is something to take

	mu        sync.Mutex
	max       int
	queue     []*queued
	states    map[string]*queued // the queued state message of each subject
	coalesced uint64             // state messages replaced before they were written
	close     *closeRequest      // once set, nothing more is queued
	joining   bool               // roster events go to pending, for "joined"
	pending   roster
	removed   bool  // OnClosed came while joining
	removeErr error // its error
}

// queued is one encoded message waiting in an outbox; key is its subject for a state message, or "".
type queued struct {
	b   []byte
	key string
}

func newOutbox(max int) *outbox {
	return &outbox{notify: make(chan struct{}, 1), max: max, states: make(map[string]*queued)}
}

func (o *outbox) wake() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// push queues msg, or drops the client when the queue is full.
func (o *outbox) push(msg any) { o.pushKeyed("", msg) }

// pushState queues msg as the latest state of subject key: it replaces, in its place, a state of the
// same subject still waiting.
func (o *outbox) pushState(key string, msg any) { o.pushKeyed(key, msg) }

func (o *outbox) pushKeyed(key string, msg any) {
	o.mu.Lock()
	closing := o.close != nil
	o.mu.Unlock()
	if closing {
		return // do not even encode
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return // cannot happen with the wire types
	}
	o.mu.Lock()
	o.pushLocked(key, b)
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) pushLocked(key string, b []byte) {
	if o.close != nil {
		return
	}
	if key != "" {
		if q := o.states[key]; q != nil {
			q.b = b
			o.coalesced++
			return
		}
	}
	if len(o.queue) >= o.max {
		o.queue, o.states = nil, nil
		o.close = &closeRequest{overflow: true}
		return
	}
	q := &queued{b: b, key: key}
	o.queue = append(o.queue, q)
	if key != "" {
		o.states[key] = q
	}
}

// closeAfterFlush asks the writer to close the socket once the queued messages are written.
func (o *outbox) closeAfterFlush(code websocket.StatusCode, reason string) {
	o.mu.Lock()
	if o.close == nil {
		o.close = &closeRequest{code: code, reason: reason}
	}
	o.mu.Unlock()
	o.wake()
}

// take removes and returns the oldest queued message, or nil and the close request (if any) when the
// queue is empty.
func (o *outbox) take() ([]byte, *closeRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) == 0 {
		return nil, o.close
	}
	q := o.queue[0]
	o.queue[0] = nil
	o.queue = o.queue[1:]
	if q.key != "" {
		delete(o.states, q.key)
	}
	return q.b, nil
}

// coalescedCount returns how many state messages were replaced by a newer state before being written.
func (o *outbox) coalescedCount() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.coalesced
}

func (o *outbox) startJoin() {
	o.mu.Lock()
	o.joining, o.pending, o.removed, o.removeErr = true, roster{}, false, nil
	o.mu.Unlock()
}

func (o *outbox) abortJoin() {
	o.mu.Lock()
	o.joining, o.pending, o.removed, o.removeErr = false, roster{}, false, nil
	o.mu.Unlock()
}

// finishJoin queues joined with the members gathered while joining, then delivers roster events directly.
// If the participant was removed while joining, the client gets the error and the socket closes.
func (o *outbox) finishJoin(joined joinedOut) {
	o.mu.Lock()
	joined.Participants = o.pending.participants()
	st := o.pending.room
	joined.Recording, joined.Streaming = st.Recording, st.Streaming
	joined.Presenter, joined.PresenterName = string(st.Presenter), st.PresenterName
	if b, err := json.Marshal(joined); err == nil {
		o.pushLocked("", b)
	}
	o.joining, o.pending = false, roster{}
	removed, err := o.removed, o.removeErr
	o.mu.Unlock()
	o.wake()
	if removed {
		o.closed(err)
	}
}

func (o *outbox) roster(e mcu.RosterEvent) {
	o.mu.Lock()
	if o.joining {
		o.pending.apply(e)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	m := rosterOut(e)
	switch e.Type {
	case mcu.RosterSpeaking:
		o.pushState("speaking\x00"+string(e.Participant.ID), m)
	case mcu.RosterMuted:
		o.pushState("muted\x00"+string(e.Participant.ID), m)
	case mcu.RosterRoom:
		o.pushState("room", m)
	default:
		if m != nil {
			o.push(m)
		}
	}
}

// closed handles the participant's removal: after Leave (nil) nothing, otherwise an error message and
// the socket closes.
func (o *outbox) closed(err error) {
	if err == nil {
		return
	}
	o.mu.Lock()
	if o.joining {
		o.removed, o.removeErr = true, err
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	code, reason, msg := websocket.StatusNormalClosure, "participant removed", "the media connection was lost; rejoin"
	switch {
	case errors.Is(err, mcu.ErrClosed):
		code, reason, msg = websocket.StatusGoingAway, "server shutting down", "the server is shutting down"
	case errors.Is(err, mcu.ErrNegotiationTimeout):
		msg = "the media connection did not come up in time; rejoin"
	case errors.Is(err, mcu.ErrInternal):
		msg = "the server failed; rejoin"
	}
	o.push(errorOutOf(errorf(CodeInternal, "%s", msg)))
	o.closeAfterFlush(code, reason)
}
