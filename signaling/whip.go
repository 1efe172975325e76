package signaling

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
)

// The media types of WHIP and WHEP bodies.
const (
	sdpType     = "application/sdp"
	trickleType = "application/trickle-ice-sdpfrag"
)

// WHIPConfig is the serialisable configuration of the WHIP and WHEP endpoints. Start from
// DefaultWHIPConfig; NewWHIPHandler validates it.
type WHIPConfig struct {
	// Token, when not empty, is the bearer token that every request but a CORS preflight must carry
	// (Authorization: Bearer TOKEN), on the endpoints and on the resources alike; without it a request
	// gets 401. Empty means no authentication: anyone who can reach the server may publish and watch.
	Token string `json:"token,omitempty"`
	// OriginPatterns are the browser origins, besides the server's own, allowed to use the endpoints from
	// a web page (CORS), with the same syntax as WebSocketConfig.OriginPatterns ("*" allows every origin).
	// A request from another origin gets 403; requests without an Origin header (OBS, GStreamer, ffmpeg
	// and other tools) are always allowed.
	OriginPatterns []string `json:"origin_patterns"`
	// MaxBodyBytes bounds an offer or a trickle fragment; a larger body gets 413.
	MaxBodyBytes int64 `json:"max_body_bytes"`
}

// DefaultWHIPConfig has no token, allows the same origins as DefaultWebSocketConfig and bodies of up to
// 64 KiB.
func DefaultWHIPConfig() WHIPConfig {
	return WHIPConfig{OriginPatterns: DefaultWebSocketConfig().OriginPatterns, MaxBodyBytes: 64 << 10}
}

// Validate reports every field out of range, joined, or nil.
func (c WHIPConfig) Validate() error {
	var errs []error
	if len(c.Token) > 4096 {
		errs = append(errs, fmt.Errorf("token: %d bytes, want at most 4096", len(c.Token)))
	}
	for _, r := range c.Token {
		if r <= ' ' || r > '~' {
			errs = append(errs, errors.New("token: want printable ASCII without spaces"))
			break
		}
	}
	for _, p := range c.OriginPatterns {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("origin pattern %q: %w", p, err))
		}
	}
	if c.MaxBodyBytes < 4<<10 || c.MaxBodyBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("max body bytes %d: want 4 KiB..16 MiB", c.MaxBodyBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("whip config: %w", errors.Join(errs...))
	}
	return nil
}

// WHIPStats counts the WHIP and WHEP resources alive now.
type WHIPStats struct {
	Publishers int // WHIP sessions
	Viewers    int // WHEP sessions
}

// WHIPHandler serves WHIP (RFC 9725: publish into a room) and WHEP (watch a room) over plain HTTP;
// the server mounts it at both /whip/ and /whep/:
//
//	POST    /whip/ROOM[?name=N]   an SDP offer (application/sdp) joins ROOM as a participant named N
//	                              (default "WHIP"): sendonly publishes, sendrecv also receives the mix
//	POST    /whep/ROOM[?name=N]   an SDP offer joins as a viewer (default name "WHEP viewer"): the full
//	                              mix and a grid of everyone, no tile, not in the roster
//	PATCH   /whip/ROOM/ID         trickle ICE (application/trickle-ice-sdpfrag); likewise /whep/ROOM/ID
//	DELETE  /whip/ROOM/ID         leaves; likewise /whep/ROOM/ID
//	OPTIONS any of them           CORS preflight (no token needed); on an endpoint also Accept-Post, and
//	                              the ICE servers as Link headers when the request carries the token
//
// A successful POST answers 201 Created with the SDP answer (its candidates gathered), Location (the
// resource URL, with an unguessable ID), ETag, Accept-Patch and one Link header per STUN/TURN server
// (rel="ice-server"). Errors: 400 malformed SDP, fragment or name; 401 missing or wrong bearer token;
// 403 foreign browser origin; 404 unknown path or resource; 405 wrong method; 412 If-Match not the
// resource's ETag; 413 body too large; 415 wrong Content-Type; 422 no usable codec (Opus, H.264, VP8)
// or an ICE restart (not supported); 503 room full (with Retry-After) or shutting down. The server does
// not trickle its own candidates: the answer carries those gathered within the MCU's timeout.
//
// A resource ends with DELETE, when its participant is removed (its connection failed) and on Close.
// Create the handler with NewWHIPHandler. It starts no goroutine; its methods are safe for concurrent
// use, and the MCU's callbacks only update its resource table.
type WHIPHandler struct {
	conf        Conference
	cfg         WHIPConfig
	log         *slog.Logger
	limiter     *ConnLimiter
	keys        auth.Keys
	chat        ChatHub // Params.Chat: WHEP viewers read the room's chat
	ice         ICEServerFunc
	route       RouteFunc
	owner       RouteFunc                // Params.Owner
	allowOrigin func(origin string) bool // Params.AllowOrigin

	mu        sync.Mutex
	closed    bool
	resources map[string]*whipResource // by ID
}

// NewWHIPHandler returns a handler that joins conf's rooms on behalf of WHIP and WHEP clients. It fails
// only on a nil conf or an invalid cfg.
func NewWHIPHandler(conf Conference, cfg WHIPConfig, p Params) (*WHIPHandler, error) {
	if conf == nil {
		return nil, errors.New("whip handler: nil conference")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &WHIPHandler{conf: conf, cfg: cfg, log: log, limiter: p.Limiter, keys: p.Keys, chat: p.Chat, ice: p.ICEServers, route: p.Route, owner: p.Owner, allowOrigin: p.AllowOrigin,
		resources: make(map[string]*whipResource)}, nil
}

// Close makes every WHIP and WHEP participant leave; later POSTs get 503. It is idempotent.
func (h *WHIPHandler) Close() error {
	h.mu.Lock()
	h.closed = true
	var all []*whipResource
	for id, r := range h.resources {
		all = append(all, r)
		delete(h.resources, id)
	}
	h.mu.Unlock()
	for _, r := range all {
		r.session.Leave()
	}
	return nil
}

// Stats returns how many resources are alive.
func (h *WHIPHandler) Stats() WHIPStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s WHIPStats
	for _, r := range h.resources {
		if r.kind == kindWHEP {
			s.Viewers++
		} else {
			s.Publishers++
		}
	}
	return s
}

// whipKind tells the two protocols apart: the first path segment.
type whipKind string

const (
	kindWHIP whipKind = "whip"
	kindWHEP whipKind = "whep"
)

// whipResource is one WHIP or WHEP session and its participant's listener. Its fields are set before
// Join (session once Join returns, before the resource enters h.resources) and never change, except gone
// (guarded by h.mu). The listener methods touch only h and gone.
type whipResource struct {
	h       *WHIPHandler
	kind    whipKind
	room    string
	id      string
	etag    string // quoted
	ufrag   string // the client's ICE username fragment, from the offer
	session Session
	log     *slog.Logger
	release func()    // gives back the client IP's connection (ConnLimiter); called once, by OnClosed
	chat    *chatLink // a WHEP viewer's chat channel, read-only (the /watch page reads the chat)

	gone bool // the participant was removed; guarded by h.mu
}

// OnICECandidate drops the candidates gathered after the answer: WHIP has no way to send them.
func (r *whipResource) OnICECandidate(mcu.ICECandidate) {}

// OnRoster ignores the room's events: WHIP clients have no roster.
func (r *whipResource) OnRoster(mcu.RosterEvent) {}

// OnDataOpen joins a viewer's chat channel to the room's chat, read-only.
func (r *whipResource) OnDataOpen(label string) { r.chat.open(label) }

// OnData passes what a viewer's chat channel says to the chat (which refuses it: read-only).
func (r *whipResource) OnData(m mcu.DataMessage) { r.chat.data(m) }

// OnClosed forgets the resource once its participant is gone.
func (r *whipResource) OnClosed(err error) {
	r.chat.leave()
	h := r.h
	h.mu.Lock()
	r.gone = true
	if h.resources[r.id] == r {
		delete(h.resources, r.id)
	}
	h.mu.Unlock()
	r.release()
	if err != nil {
		r.log.Info("participant removed", "err", err)
	}
}

// ServeHTTP routes a request under /whip/ or /whep/.
func (h *WHIPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.cors(w, r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	kind, room, id, ok := parseWHIPPath(r.URL.EscapedPath())
	if !ok {
		http.NotFound(w, r)
		return
	}
	methods := []string{http.MethodOptions, http.MethodPost}
	if id != "" {
		methods = []string{http.MethodOptions, http.MethodPatch, http.MethodDelete}
	}
	allow := strings.Join(methods, ", ")
	if r.Method == http.MethodOptions {
		// A room another server serves: its STUN/TURN servers are that server's (a CORS preflight,
		// without credentials, is answered here).
		if id == "" && r.Header.Get("Access-Control-Request-Method") == "" && h.redirected(w, r, room, h.owner) {
			return
		}
		w.Header().Set("Allow", allow)
		if id == "" {
			w.Header().Set("Accept-Post", sdpType)
			if claims, err := h.authorize(r, kind, room, false); err == nil {
				h.setICEServerLinks(w.Header(), r, "whip", claims != nil)
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", allow)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	claims, err := h.authorize(r, kind, room, id != "")
	if err != nil {
		h.log.Debug("refused: token", "protocol", string(kind), "room", room, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="mcu"`)
		http.Error(w, auth.Message(err), auth.HTTPStatus(err))
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.post(w, r, kind, room, claims)
	case http.MethodPatch:
		h.patch(w, r, kind, room, id)
	case http.MethodDelete:
		h.delete(w, r, kind, room, id)
	}
}

// parseWHIPPath splits an escaped path /whip/ROOM or /whip/ROOM/ID (or /whep/...) into its parts.
// The room is unescaped (a room name may contain "/" as %2F); it must not be empty.
func parseWHIPPath(p string) (kind whipKind, room, id string, ok bool) {
	for _, k := range []whipKind{kindWHIP, kindWHEP} {
		rest, found := strings.CutPrefix(p, "/"+string(k)+"/")
		if !found {
			continue
		}
		parts := strings.Split(rest, "/")
		if len(parts) > 2 || slices.Contains(parts, "") {
			return "", "", "", false
		}
		room, err := url.PathUnescape(parts[0])
		if err != nil {
			return "", "", "", false
		}
		if len(parts) == 2 {
			id = parts[1]
		}
		return k, room, id, true
	}
	return "", "", "", false
}

// cors sets the CORS headers for an allowed browser origin and reports whether the origin (if any) is
// allowed.
func (h *WHIPHandler) cors(w http.ResponseWriter, r *http.Request) bool {
	hd := w.Header()
	hd.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !originAllowed(origin, r.Host, h.cfg.OriginPatterns) && (h.allowOrigin == nil || !h.allowOrigin(origin)) {
		return false
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch, Accept-Post")
	if r.Method == http.MethodOptions {
		hd.Set("Access-Control-Allow-Methods", "OPTIONS, POST, PATCH, DELETE")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		hd.Set("Access-Control-Max-Age", "86400")
	}
	return true
}

// originAllowed applies WebSocketConfig.OriginPatterns' rules: the request's own host, or a pattern
// matching the origin's host (or scheme://host when the pattern has "://"), case-insensitive.
func originAllowed(origin, host string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host != "" && strings.EqualFold(u.Host, host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// errBadBearer is a request without the configured static bearer token.
var errBadBearer = errors.New("a valid bearer token is required")

// authorize checks r's credentials for kind in room. With room access tokens on (Params.Keys), r needs a
// valid token for the room that grants roomJoin and canPublish (WHIP) or canSubscribe (WHEP); on a
// resource (PATCH, DELETE), roomJoin. The claims are returned. Otherwise, with WHIPConfig.Token set, r
// needs that bearer token; with neither, everyone is let in (nil claims, nil error).
func (h *WHIPHandler) authorize(r *http.Request, kind whipKind, room string, resource bool) (*auth.Claims, error) {
	if len(h.keys) > 0 {
		claims, err := h.keys.Verify(auth.TokenFromRequest(r), time.Now())
		if err != nil {
			return nil, err
		}
		need := auth.NeedJoin
		switch {
		case resource:
		case kind == kindWHEP:
			need |= auth.NeedSubscribe
		default:
			need |= auth.NeedPublish
		}
		if err := claims.Allow(room, need); err != nil {
			return nil, err
		}
		return claims, nil
	}
	if h.cfg.Token == "" {
		return nil, nil
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(h.cfg.Token)) != 1 {
		return nil, errBadBearer
	}
	return nil, nil
}

// setICEServerLinks adds a Link header per STUN/TURN URL (RFC 9725 section 4.6), for the client identity
// of request r (authenticated: it showed a valid room access token).
func (h *WHIPHandler) setICEServerLinks(hd http.Header, r *http.Request, identity string, authenticated bool) {
	for _, s := range h.ice.servers(h.conf, r, identity, authenticated) {
		for _, u := range s.URLs {
			if strings.ContainsAny(u, "<>\r\n") {
				continue
			}
			v := "<" + u + `>; rel="ice-server"`
			if s.Username != "" || s.Credential != "" {
				v += fmt.Sprintf(`; username=%s; credential=%s; credential-type="password"`,
					quoteHeader(s.Username), quoteHeader(s.Credential))
			}
			hd.Add("Link", v)
		}
	}
}

// quoteHeader makes s an HTTP quoted-string.
func quoteHeader(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < ' ' || r == 0x7f:
			// control characters cannot be carried
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hasMediaType reports whether r's Content-Type is want (parameters and case aside).
func hasMediaType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && strings.EqualFold(mt, want)
}

// readBody reads r's body up to the configured limit; on failure it has written the error response.
func (h *WHIPHandler) readBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "could not read the body", http.StatusBadRequest)
		}
		return "", false
	}
	return string(b), true
}

// errNoCodec marks an offer the MCU cannot use; it is answered 422 like mcu.ErrNoCodec.
var errNoCodec = errors.New("no usable codec")

// checkOffer parses an offer and returns its ICE username fragment. It fails on SDP that does not parse
// or has no audio or video (400), and with errNoCodec (422) when nothing in it is usable: no Opus audio
// and no H.264 or VP8 video, or video with neither H.264 nor VP8 (which the MCU refuses).
func checkOffer(offer string) (ufrag string, err error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return "", fmt.Errorf("parse offer: %w", err)
	}
	ufrag, _ = sd.Attribute("ice-ufrag")
	media := 0
	hasVideo, audioOK, videoOK := false, false, false
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		media++
		if ufrag == "" {
			ufrag, _ = md.Attribute("ice-ufrag")
		}
		if md.MediaName.Port.Value == 0 {
			continue // rejected
		}
		hasVideo = hasVideo || kind == "video"
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			v := strings.ToUpper(a.Value)
			switch kind {
			case "audio":
				audioOK = audioOK || strings.Contains(v, " OPUS/48000")
			case "video":
				videoOK = videoOK || strings.Contains(v, " H264/90000") || strings.Contains(v, " VP8/90000")
			}
		}
	}
	switch {
	case media == 0:
		return "", errors.New("parse offer: no audio or video")
	case hasVideo && !videoOK:
		return "", fmt.Errorf("video without H.264 or VP8: %w", errNoCodec)
	case !audioOK && !videoOK:
		return "", fmt.Errorf("neither Opus audio nor H.264 or VP8 video: %w", errNoCodec)
	}
	return ufrag, nil
}

// post creates a resource: joins (or watches) the room and answers the offer.
// redirected sends a request for a room another server serves there, as route says (Params.Route for a
// POST, which may place the room; Params.Owner for an OPTIONS, which may not): 307 to the same path and
// query on that server, which RFC 9725 section 4.5 has clients follow; 503 when the room cannot be
// placed now. It reports whether it answered.
func (h *WHIPHandler) redirected(w http.ResponseWriter, r *http.Request, room string, route RouteFunc) bool {
	if route == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	base, err := route(ctx, room)
	switch {
	case err != nil:
		h.log.Info("whip refused: room not placed", "room", room, "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "the room cannot be placed now; try again in a few seconds", http.StatusServiceUnavailable)
		return true
	case base == "":
		return false
	}
	u, err := url.Parse(base)
	if err != nil {
		h.log.Warn("route: bad server URL", "url", base, "err", err)
		http.Error(w, "the room's server has no usable address", http.StatusInternalServerError)
		return true
	}
	// The escaped path: a room name with "/" (%2F) must stay one segment there.
	u.Path, u.RawPath, u.RawQuery = strings.TrimSuffix(u.Path, "/")+r.URL.Path, strings.TrimSuffix(u.EscapedPath(), "/")+r.URL.EscapedPath(), r.URL.RawQuery
	http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
	return true
}

func (h *WHIPHandler) post(w http.ResponseWriter, r *http.Request, kind whipKind, room string, claims *auth.Claims) {
	if !hasMediaType(r, sdpType) {
		w.Header().Set("Accept-Post", sdpType)
		http.Error(w, "the offer must be application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	if h.redirected(w, r, room, h.route) {
		return
	}
	offer, ok := h.readBody(w, r)
	if !ok {
		return
	}
	ip := h.limiter.ClientIP(r)
	log := h.log.With("protocol", string(kind), "room", room, "remote_addr", r.RemoteAddr, "client_ip", ip)
	ufrag, err := checkOffer(offer)
	if err != nil {
		log.Debug("offer refused", "err", err)
		if errors.Is(err, errNoCodec) {
			http.Error(w, "the offer has no usable codec (want Opus, and H.264 or VP8)", http.StatusUnprocessableEntity)
		} else {
			http.Error(w, "the offer is not valid SDP with audio or video", http.StatusBadRequest)
		}
		return
	}
	name := r.URL.Query().Get("name")
	opts := mcu.JoinOptions{Viewer: kind == kindWHEP, Kind: string(kind)}
	if claims != nil {
		if claims.Name != "" {
			name = claims.Name
		}
		opts.Hidden = opts.Viewer && claims.Video.Hidden
	}
	if name == "" {
		name = "WHIP"
		if kind == kindWHEP {
			name = "WHEP viewer"
		}
	}
	if h.isClosed() {
		http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		return
	}
	release, ok := h.limiter.Acquire(ip)
	if !ok {
		log.Info("refused: too many connections from this address")
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
		return
	}
	id := rand.Text()
	res := &whipResource{h: h, kind: kind, room: room, id: id, etag: `"` + rand.Text() + `"`, ufrag: ufrag,
		log:     log.With("resource", id[:8]), // enough to follow a session, not to act on it
		release: sync.OnceFunc(release), chat: &chatLink{hub: h.chat}}
	s, err := h.conf.Join(room, name, res, opts)
	if err != nil {
		res.release()
		switch {
		case errors.Is(err, mcu.ErrRoomFull), errors.Is(err, mcu.ErrServerFull), errors.Is(err, mcu.ErrTooManyRooms):
			log.Debug("join refused", "err", err)
			w.Header().Set("Retry-After", "10")
			http.Error(w, "the room or the server is full", http.StatusServiceUnavailable)
		case errors.Is(err, mcu.ErrBadName):
			log.Debug("join refused", "err", err)
			http.Error(w, "room and name must be 1 to 128 bytes of UTF-8", http.StatusBadRequest)
		case errors.Is(err, mcu.ErrClosed):
			http.Error(w, "the server is shutting down", http.StatusServiceUnavailable)
		default:
			log.Warn("join failed", "err", err)
			http.Error(w, "could not join the room", http.StatusInternalServerError)
		}
		return
	}
	res.session = s
	if kind == kindWHEP {
		res.chat.bind(room, name, s, false)
	}
	// ?screen=1: the publisher presents (OBS sharing a screen): its video is the room's presentation.
	if kind == kindWHIP && (r.URL.Query().Get("screen") == "1" || r.URL.Query().Get("screen") == "true") {
		if err := s.ShareScreen(mcu.ScreenAny); err != nil {
			res.log.Debug("share screen", "err", err)
		}
	}
	answer, err := s.HandleOffer(offer)
	if err != nil {
		s.Leave()
		res.log.Debug("offer rejected", "err", err)
		switch {
		case errors.Is(err, mcu.ErrNoCodec):
			http.Error(w, "the offer has no usable codec (want Opus, and H.264 or VP8)", http.StatusUnprocessableEntity)
		case errors.Is(err, mcu.ErrTooManyTracks):
			http.Error(w, "the offer has too many audio and video sections", http.StatusUnprocessableEntity)
		case errors.Is(err, mcu.ErrClosed):
			http.Error(w, "the participant was removed while negotiating", http.StatusServiceUnavailable)
		default:
			http.Error(w, "the offer could not be applied", http.StatusBadRequest)
		}
		return
	}
	h.mu.Lock()
	closed, gone := h.closed, res.gone
	if !closed && !gone {
		h.resources[res.id] = res
	}
	h.mu.Unlock()
	if closed || gone {
		s.Leave()
		http.Error(w, "the participant was removed", http.StatusServiceUnavailable)
		return
	}
	res.log.Info("joined", "name", name, "participant", s.ID())
	hd := w.Header()
	hd.Set("Location", "/"+string(kind)+"/"+url.PathEscape(room)+"/"+res.id)
	hd.Set("Content-Type", sdpType)
	hd.Set("ETag", res.etag)
	hd.Set("Accept-Patch", trickleType)
	hd.Set("Cache-Control", "no-store")
	h.setICEServerLinks(hd, r, string(s.ID()), claims != nil)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (h *WHIPHandler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// lookup returns the live resource at kind/room/id, or nil.
func (h *WHIPHandler) lookup(kind whipKind, room, id string, remove bool) *whipResource {
	h.mu.Lock()
	defer h.mu.Unlock()
	res := h.resources[id]
	if res == nil || res.kind != kind || res.room != room {
		return nil
	}
	if remove {
		delete(h.resources, id)
	}
	return res
}

// patch adds trickled candidates. An ICE restart (a new ufrag) is refused with 422.
func (h *WHIPHandler) patch(w http.ResponseWriter, r *http.Request, kind whipKind, room, id string) {
	res := h.lookup(kind, room, id, false)
	if res == nil {
		http.NotFound(w, r)
		return
	}
	if !hasMediaType(r, trickleType) {
		w.Header().Set("Accept-Patch", trickleType)
		http.Error(w, "the body must be application/trickle-ice-sdpfrag", http.StatusUnsupportedMediaType)
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != res.etag {
		http.Error(w, "If-Match does not match the ICE session", http.StatusPreconditionFailed)
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	frag, err := parseTrickleFragment(body)
	if err != nil {
		res.log.Debug("trickle refused", "err", err)
		http.Error(w, "the body is not a trickle-ice-sdpfrag", http.StatusBadRequest)
		return
	}
	if frag.ufrag != "" && res.ufrag != "" && frag.ufrag != res.ufrag {
		http.Error(w, "ICE restarts are not supported; DELETE and POST again", http.StatusUnprocessableEntity)
		return
	}
	for _, c := range frag.candidates {
		if err := res.session.AddICECandidate(c); err != nil {
			res.log.Debug("candidate rejected", "err", err)
			if errors.Is(err, mcu.ErrClosed) {
				http.NotFound(w, r)
			} else {
				http.Error(w, "an ICE candidate could not be added", http.StatusBadRequest)
			}
			return
		}
	}
	res.log.Debug("trickled", "candidates", len(frag.candidates))
	w.WriteHeader(http.StatusNoContent)
}

// delete ends a resource: its participant leaves.
func (h *WHIPHandler) delete(w http.ResponseWriter, r *http.Request, kind whipKind, room, id string) {
	res := h.lookup(kind, room, id, true)
	if res == nil {
		http.NotFound(w, r)
		return
	}
	res.session.Leave()
	res.log.Info("left")
	w.WriteHeader(http.StatusOK)
}

// trickleFragment is what a PATCH body (RFC 8840) carries that the handler uses.
type trickleFragment struct {
	ufrag      string
	candidates []mcu.ICECandidate
}

// parseTrickleFragment reads an application/trickle-ice-sdpfrag body: the ICE username fragment, and the
// candidates with the mid of the media section they follow. The password, end-of-candidates and other
// attributes are ignored; anything that is not an SDP line is an error.
func parseTrickleFragment(body string) (trickleFragment, error) {
	var f trickleFragment
	var mid *string
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return f, fmt.Errorf("not an sdp line: %.40q", line)
		}
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "m="):
			mid = nil
		case strings.HasPrefix(line, "a=mid:"):
			m := strings.TrimPrefix(line, "a=mid:")
			mid = &m
		case strings.HasPrefix(line, "a=candidate:"):
			c := mcu.ICECandidate{Candidate: strings.TrimPrefix(line, "a="), SDPMid: mid}
			if f.ufrag != "" {
				u := f.ufrag
				c.UsernameFragment = &u
			}
			f.candidates = append(f.candidates, c)
		}
	}
	return f, nil
}
