// Command mcu is the conference server: it serves the browser page, the signalling WebSocket, WHIP and
// WHEP, health and metrics, and runs the rooms. Configuration comes from defaults, then an optional JSON
// file (-config), then environment variables (MCU_*), then flags; see -help.
package main

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/sip"
	"github.com/openmcu/mcu/web"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		os.Exit(tokenCommand(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcu:", err)
		os.Exit(2)
	}
	withMallocTunables()
	withGCPercent(os.Getenv)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel()}))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

// run starts the MCU and serves HTTP on the configured address (and HTTPS, with TLS on) until ctx is
// cancelled.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	// tlsConf is nil with TLS off; its GetCertificate returns the certificate (see loadTLS).
	tlsConf, fingerprint, err := loadTLS(cfg, log)
	if err != nil {
		return err
	}
	events := &eventFanout{}
	m, err := mcu.New(cfg.MCU, mcu.Params{Logger: log, Events: events})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		m.Close()
		return fmt.Errorf("listen on %s: %w", cfg.HTTP, err)
	}
	mux, eps, err := newMux(m, cfg, tlsConf, log, events)
	if err != nil {
		m.Close()
		return err
	}
	// Sockets, WHIP resources and calls end first (participants leave), then the rooms (recordings are
	// finished), then the last webhooks go out.
	defer func() {
		eps.Close()
		m.Close()
		eps.ops.close()
	}()
	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.DebugAddr, err)
		}
		log.Info("profiler listening", "addr", dln.Addr().String())
		go func() { _ = serve(ctx, dln, pprofMux(), log) }()
	}
	if cfg.MetricsAddr != "" && cfg.MetricsAddr != "off" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.MetricsAddr, err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", eps.metrics)
		go func() { _ = serve(ctx, mln, mmux, log) }()
	}
	serveCtx := ctx
	if eps.cluster != nil {
		// SIGTERM drains a node of a cluster: no new rooms, and it serves until its rooms empty (or
		// -drain-timeout), then shuts down.
		var cancel context.CancelFunc
		serveCtx, cancel = context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-ctx.Done()
			eps.cluster.drain(cfg.DrainTimeout)
			cancel()
		}()
		keep, stop := context.WithCancel(serveCtx)
		defer stop()
		go eps.cluster.maintain(keep)
	}
	if tlsConf != nil {
		return serveTLS(serveCtx, cfg, ln, tlsConf, fingerprint, eps.guard(mux), log)
	}
	log.Info("listening", "addr", ln.Addr().String())
	fmt.Printf("Open http://%s/ in a browser\n", displayAddr(ln.Addr()))
	return serve(serveCtx, ln, eps.guard(mux), log)
}

// endpoints are the signalling handlers that hold participants; Close ends them all.
type endpoints struct {
	ws      *signaling.WebSocketHandler
	whip    *signaling.WHIPHandler // WHIP and WHEP
	sip     *sip.Server            // nil when SIP is off
	relay   *relay                 // the embedded TURN server and the clients' ICE servers
	cluster *clusterNode           // nil: this server alone
	limiter *signaling.ConnLimiter
	ops     *operations // the API, recordings and streams, webhooks
	metrics http.Handler
	log     *slog.Logger

	httpPanics atomic.Uint64 // panics recovered in HTTP handlers (guard)
}

// edge is what the endpoints count of hostile or broken input: recovered panics by where, and
// refusals by limit.
func (e *endpoints) edge() edgeStats {
	w := e.ws.Stats()
	out := edgeStats{
		Panics:   map[string]uint64{"http": e.httpPanics.Load(), "websocket": w.Panics},
		Refusals: map[string]uint64{"conns_per_ip": e.limiter.Refused(), "ws_rate": w.RateLimited, "ws_abuse": w.Abusive},
	}
	if e.sip != nil {
		st := e.sip.Stats()
		out.Panics["sip"] = st.Panics
		for k, v := range map[string]uint64{"malformed": st.Malformed, "oversized": st.Oversized,
			"rate_limited": st.RateLimited, "too_many_calls": st.TooManyCalls, "too_many_calls_from_ip": st.TooManyCallsFromIP,
			"no_room": st.NoRoom, "unauthorized": st.Unauthorized, "ack_timeout": st.AckTimeouts, "rtp_timeout": st.RTPTimeouts,
			"tcp_idle_closed": st.TCPIdleClosed, "tcp_refused": st.TCPRefused, "chat_refused": st.ChatRefused,
			"chat_dropped": st.ChatDropped} {
			out.Refusals["sip_"+k] = v
		}
	}
	return out
}

// guard wraps the public HTTP handler: a panic in a handler is recovered, logged with its stack, counted
// and answered 500 (net/http would only log it), and request bodies are limited to maxBody.
func (e *endpoints) guard(h http.Handler) http.Handler {
	h = http.MaxBytesHandler(h, maxBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's own way to abort a response
			}
			e.httpPanics.Add(1)
			e.log.Error("http handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v,
				"stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}()
		h.ServeHTTP(w, r)
	})
}

// maxBody bounds every request body (SDP offers, API calls): 1 MiB.
const maxBody = 1 << 20

// sessions counts the open signalling sessions by kind, for the metrics.
func (e *endpoints) sessions() map[string]int {
	w := e.whip.Stats()
	out := map[string]int{"websocket": e.ws.Stats().Connections, "whip": w.Publishers, "whep": w.Viewers}
	if e.sip != nil {
		out["sip"] = len(e.sip.Calls())
	}
	return out
}

// Close closes every socket, WHIP/WHEP resource and SIP call; their participants leave.
func (e *endpoints) Close() error {
	err := errors.Join(e.ws.Close(), e.whip.Close())
	if e.sip != nil {
		err = errors.Join(err, e.sip.Close())
	}
	return errors.Join(err, e.relay.Close(), e.cluster.Close())
}

// newMux routes the server's HTTP endpoints: the page (with /watch/ROOM), the signalling WebSocket,
// WHIP and WHEP, the operators' API, health and metrics; events is the MCU's (the recordings and
// webhooks join it). The caller closes the returned endpoints, then the MCU, then eps.ops.
func newMux(m *mcu.MCU, cfg Config, tlsConf *tls.Config, log *slog.Logger, events *eventFanout) (*http.ServeMux, *endpoints, error) {
	conf := signaling.MCUConference(m)
	wcfg := signaling.DefaultWebSocketConfig()
	wcfg.OriginPatterns = cfg.AllowedOrigins
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, nil, err
	}
	keys, err := cfg.keys()
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		log.Warn("no -api-keys: anyone who can reach this server can join and watch any room; see README, Security")
	} else {
		log.Info("room access tokens required", "api_keys", keys.Names())
	}
	ops, err := newOperations(m, cfg, events, log)
	if err != nil {
		return nil, nil, err
	}
	hub, err := chat.New(cfg.Chat, chat.Params{Logger: log})
	if err != nil {
		ops.close()
		return nil, nil, err
	}
	ops.chat = hub
	node, err := newClusterNode(context.Background(), cfg, m, keys, log)
	if err != nil {
		ops.close()
		return nil, nil, err
	}
	rl, err := newRelay(cfg, tlsConf, log)
	if err != nil {
		node.Close()
		ops.close()
		return nil, nil, err
	}
	limiter := signaling.NewConnLimiter(cfg.MaxConnsPerIP, proxies)
	params := signaling.Params{Logger: log, Limiter: limiter, Keys: keys, Recorder: ops.egress, Chat: hub,
		ICEServers: rl.iceServers}
	if node != nil {
		params.Route, params.Owner, params.AllowOrigin = node.route, node.owner, node.allowOrigin
		events.to = append(events.to, node)
	}
	ws, err := signaling.NewWebSocketHandler(conf, wcfg, params)
	if err != nil {
		rl.Close()
		node.Close()
		ops.close()
		return nil, nil, err
	}
	whip, err := signaling.NewWHIPHandler(conf, cfg.whipConfig(), params)
	if err != nil {
		ws.Close()
		rl.Close()
		node.Close()
		ops.close()
		return nil, nil, err
	}
	eps := &endpoints{ws: ws, whip: whip, relay: rl, cluster: node, limiter: limiter, log: log, ops: ops}
	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	mux.Handle("/whip/", whip)
	mux.Handle("/whep/", whip)
	if cfg.SIP.Port != 0 {
		sp := sip.Params{Conference: sip.MCUConference(m), Logger: log, Chat: hub}
		if node != nil {
			sp.Route = node.sipRoute
		}
		s, err := sip.New(cfg.sipConfig(), sp)
		if err == nil {
			err = s.Start()
		}
		if err != nil {
			eps.Close()
			ops.close()
			return nil, nil, fmt.Errorf("sip: %w", err)
		}
		eps.sip = s
		// Deprecated: the API's /api/v1/rooms/{room}/sip-calls.
		admin := deprecated("/api/v1/openapi.json", adminOnly(cfg.AdminToken, keys, s.Handler()))
		mux.Handle("/sip/calls", admin)
		mux.Handle("/sip/calls/", admin)
	}
	ops.mountAPI(m, cfg, keys, eps.sip, eps.cluster, log)
	if node != nil {
		mux.Handle("POST /cascade/{room}", adminOnly(cfg.AdminToken, keys, node.casc))
	}
	mux.Handle("/api/v1/", ops.api)
	mux.Handle("/files/", hub.Handler())
	mux.HandleFunc("GET /healthz", healthz)
	var hooks webhookSource
	if ops.hooks != nil {
		hooks = ops.hooks.Stats
	}
	eps.metrics = metricsHandler(m, metricsSources{sessions: eps.sessions, edge: eps.edge, hooks: hooks, chat: hub.Stats,
		turn: rl.stats, cluster: node.stats})
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", eps.metrics)
	}
	var wo web.Options
	if node != nil {
		wo.ConnectSources = node.connectSources
	}
	mux.Handle("/", web.HandlerWith(wo))
	return mux, eps, nil
}

// healthz answers ok: the server is up.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// adminOnly serves h to requests bearing the admin token, or a room access token signed with one of keys
// that grants roomAdmin over every room; with neither configured it refuses everyone, so that nobody can
// make the server place calls unless the operator asked for it.
func adminOnly(token string, keys auth.Keys, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" && len(keys) == 0 {
			http.Error(w, "the operators' API is off: set -admin-token or -api-keys", http.StatusForbidden)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		if ok && len(keys) > 0 {
			claims, err := keys.Verify(got, time.Now())
			if err == nil {
				err = claims.Allow("", auth.NeedAdmin)
			}
			if err == nil {
				h.ServeHTTP(w, r)
				return
			}
			if auth.HTTPStatus(err) == http.StatusForbidden {
				http.Error(w, auth.Message(err), http.StatusForbidden)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="openmcu"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
}

// pprofMux serves Go's profiler, for -debug-addr only (never on the public address).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// httpTimeouts bound what a slow or idle client may hold of the HTTP server.
type httpTimeouts struct {
	header, read, write, idle time.Duration
}

// defaultHTTPTimeouts: a request's headers within 10 s and all of it within 30 s (offers and API bodies
// are small), its answer within 60 s, an idle keep-alive connection closed after 2 min. WebSocket
// connections are hijacked, which clears these deadlines; their own pings keep them honest.
var defaultHTTPTimeouts = httpTimeouts{header: 10 * time.Second, read: 30 * time.Second, write: 60 * time.Second,
	idle: 2 * time.Minute}

// newHTTPServer returns the server for h with the timeouts t and 32 KiB of headers at most.
func newHTTPServer(h http.Handler, log *slog.Logger, t httpTimeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.header, ReadTimeout: t.read, WriteTimeout: t.write,
		IdleTimeout: t.idle, MaxHeaderBytes: 32 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}

// serve serves h on ln until ctx is cancelled, then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := newHTTPServer(h, log, defaultHTTPTimeouts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// displayAddr turns a listening address into one a person can open: an unspecified host becomes localhost.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return tcp.String()
}
