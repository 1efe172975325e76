package signaling_test

import (
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/signaling"
	"github.com/openmcu/mcu/signaling/signalingtest"
)

// whipServer is a WHIPHandler behind an httptest server.
type whipServer struct {
	h   *signaling.WHIPHandler
	srv *httptest.Server
}

func newWHIPServer(t *testing.T, conf signaling.Conference, change func(*signaling.WHIPConfig)) *whipServer {
	t.Helper()
	cfg := signaling.DefaultWHIPConfig()
	if change != nil {
		change(&cfg)
	}
	h, err := signaling.NewWHIPHandler(conf, cfg, signaling.Params{})
	if err != nil {
		t.Fatalf("NewWHIPHandler: %v", err)
	}
	s := &whipServer{h: h, srv: httptest.NewServer(h)}
	t.Cleanup(func() {
		h.Close()
		s.srv.Close()
	})
	return s
}

// reply is a response, read.
type reply struct {
	code int
	h    http.Header
	body string
}

func (r reply) String() string { return fmt.Sprintf("%d %q", r.code, strings.TrimSpace(r.body)) }

// do sends one request; headers alternate names and values.
func (s *whipServer) do(t *testing.T, method, path, body string, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// post sends an offer and, when want is 201, checks the resource headers and returns the Location.
func (s *whipServer) post(t *testing.T, path, offer string, want int, headers ...string) (string, reply) {
	t.Helper()
	r := s.do(t, http.MethodPost, path, offer, append([]string{"Content-Type", "application/sdp"}, headers...)...)
	if r.code != want {
		t.Fatalf("POST %s: got %v, want %d", path, r, want)
	}
	if want != http.StatusCreated {
		return "", r
	}
	loc := r.h.Get("Location")
	base, _, _ := strings.Cut(path, "?")
	if !strings.HasPrefix(loc, base+"/") || len(loc) < len(base)+20 {
		t.Errorf("POST %s: Location %q, want %s/ and a long ID", path, loc, base)
	}
	if ct := r.h.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("POST %s: Content-Type %q, want application/sdp", path, ct)
	}
	if r.h.Get("ETag") == "" || r.h.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
		t.Errorf("POST %s: ETag %q, Accept-Patch %q", path, r.h.Get("ETag"), r.h.Get("Accept-Patch"))
	}
	return loc, r
}

// trickleFrag is a PATCH body with the given credentials and candidate lines (without "a=").
func trickleFrag(ufrag, pwd string, candidates ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n", ufrag, pwd)
	for _, c := range candidates {
		b.WriteString("a=" + c + "\r\n")
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}

const hostCandidate = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"

func TestWHIPPublishPatchDelete(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newWHIPServer(t, conf, nil)
	annL := &recorder{}
	if _, err := conf.Join("r1", "Ann", annL, mcu.JoinOptions{}); err != nil {
		t.Fatal(err)
	}

	loc, r := s.post(t, "/whip/r1?name=Cam", recvOnlyOffer, http.StatusCreated)
	if r.body != "answer to "+recvOnlyOffer {
		t.Errorf("POST: body %q, want the fake's answer", r.body)
	}
	cam := session(t, conf, 1)
	if cam.Name != "Cam" || cam.Room != "r1" || cam.Viewer {
		t.Errorf("session %+v: want Cam in r1, not a viewer", cam)
	}
	if !annL.has(mcu.RosterJoined, "Cam") {
		t.Error("Ann was not told that Cam joined")
	}
	if got := s.h.Stats(); got != (signaling.WHIPStats{Publishers: 1}) {
		t.Errorf("Stats = %+v, want one publisher", got)
	}

	frag := trickleFrag("Ab3d", "abcdefghijklmnopqrstuvwx", hostCandidate)
	if r := s.do(t, http.MethodPatch, loc, frag, "Content-Type", "application/trickle-ice-sdpfrag",
		"If-Match", "*"); r.code != http.StatusNoContent {
		t.Fatalf("PATCH: got %v, want 204", r)
	}
	cs := cam.Candidates()
	if len(cs) != 1 || cs[0].Candidate != hostCandidate || cs[0].SDPMid == nil || *cs[0].SDPMid != "0" ||
		cs[0].UsernameFragment == nil || *cs[0].UsernameFragment != "Ab3d" {
		t.Errorf("candidates = %+v, want the host candidate of mid 0, ufrag Ab3d", cs)
	}

	if r := s.do(t, http.MethodDelete, loc, ""); r.code != http.StatusOK {
		t.Fatalf("DELETE: got %v, want 200", r)
	}
	if cam.Leaves() != 1 || !annL.has(mcu.RosterLeft, "Cam") {
		t.Errorf("after DELETE: %d leaves, Ann told: %v; want 1 and true", cam.Leaves(), annL.has(mcu.RosterLeft, "Cam"))
	}
	if got := s.h.Stats(); got != (signaling.WHIPStats{}) {
		t.Errorf("Stats = %+v after DELETE, want none", got)
	}
	for _, m := range []string{http.MethodDelete, http.MethodPatch} {
		if r := s.do(t, m, loc, frag, "Content-Type", "application/trickle-ice-sdpfrag"); r.code != http.StatusNotFound {
			t.Errorf("%s after DELETE: got %v, want 404", m, r)
		}
	}
}

func TestWHEPViewer(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newWHIPServer(t, conf, nil)
	annL := &recorder{}
	if _, err := conf.Join("r1", "Ann", annL, mcu.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	loc, _ := s.post(t, "/whep/r1", recvOnlyOffer, http.StatusCreated)
	v := session(t, conf, 1)
	if !v.Viewer || v.Name != "WHEP viewer" || v.Room != "r1" {
		t.Errorf("session %+v: want a viewer called WHEP viewer in r1", v)
	}
	if !annL.hasViewer("WHEP viewer") {
		t.Error("Ann was not told about the viewer, as a viewer")
	}
	if got := s.h.Stats(); got != (signaling.WHIPStats{Viewers: 1}) {
		t.Errorf("Stats = %+v, want one viewer", got)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]
	// The resource is only reachable under its own protocol and room.
	for _, p := range []string{"/whip/r1/" + id, "/whep/r2/" + id, "/whep/r1/x" + id} {
		if r := s.do(t, http.MethodDelete, p, ""); r.code != http.StatusNotFound {
			t.Errorf("DELETE %s: got %v, want 404", p, r)
		}
	}
	if r := s.do(t, http.MethodDelete, loc, ""); r.code != http.StatusOK || v.Leaves() != 1 {
		t.Errorf("DELETE %s: got %v and %d leaves, want 200 and 1", loc, r, v.Leaves())
	}
}

// TestWHIPRoomNames: a room name with a slash or spaces travels escaped, and the Location escapes it too.
func TestWHIPRoomNames(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newWHIPServer(t, conf, nil)
	loc, _ := s.post(t, "/whip/a%2Fb%20c", recvOnlyOffer, http.StatusCreated)
	if got := session(t, conf, 0).Room; got != "a/b c" {
		t.Errorf("room %q, want %q", got, "a/b c")
	}
	if r := s.do(t, http.MethodDelete, loc, ""); r.code != http.StatusOK {
		t.Errorf("DELETE %s: got %v, want 200", loc, r)
	}
}

func TestWHIPErrors(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newWHIPServer(t, conf, func(c *signaling.WHIPConfig) { c.Token = "s3cret" })
	auth := "Bearer s3cret"
	loc, _ := s.post(t, "/whip/r", recvOnlyOffer, http.StatusCreated, "Authorization", auth)
	sessions := len(conf.Sessions())

	noCodec := strings.NewReplacer("opus/48000/2", "PCMU/8000", "VP8/90000", "AV1/90000").Replace(recvOnlyOffer)
	noVideoCodec := strings.ReplaceAll(recvOnlyOffer, "VP8/90000", "VP9/90000")
	audioOnly := recvOnlyOffer[:strings.Index(recvOnlyOffer, "m=video")]
	frag := trickleFrag("Ab3d", "abcdefghijklmnopqrstuvwx", hostCandidate)
	const sdpCT, fragCT = "application/sdp", "application/trickle-ice-sdpfrag"
	tests := []struct {
		name, method, path, body string
		headers                  []string
		want                     int
		wantHeader               string // a header the reply must have
	}{
		{"no token", "POST", "/whip/r", recvOnlyOffer, []string{"Content-Type", sdpCT}, 401, "WWW-Authenticate"},
		{"wrong token", "POST", "/whip/r", recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", "Bearer nope"}, 401, ""},
		{"basic auth", "POST", "/whip/r", recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", "Basic czNjcmV0"}, 401, ""},
		{"delete without token", "DELETE", loc, "", nil, 401, ""},
		{"wrong content type", "POST", "/whip/r", recvOnlyOffer, []string{"Content-Type", "text/plain", "Authorization", auth}, 415, "Accept-Post"},
		{"no content type", "POST", "/whep/r", recvOnlyOffer, []string{"Authorization", auth}, 415, ""},
		{"not sdp", "POST", "/whip/r", "this is not SDP", []string{"Content-Type", sdpCT, "Authorization", auth}, 400, ""},
		{"empty offer", "POST", "/whip/r", "", []string{"Content-Type", sdpCT, "Authorization", auth}, 400, ""},
		{"no usable codec", "POST", "/whip/r", noCodec, []string{"Content-Type", sdpCT, "Authorization", auth}, 422, ""},
		{"video without h264 or vp8", "POST", "/whep/r", noVideoCodec, []string{"Content-Type", sdpCT, "Authorization", auth}, 422, ""},
		{"too large", "POST", "/whip/r", recvOnlyOffer + strings.Repeat("a=x\r\n", 20000), []string{"Content-Type", sdpCT, "Authorization", auth}, 413, ""},
		{"name too long", "POST", "/whip/r?name=" + strings.Repeat("n", 129), recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", auth}, 400, ""},
		{"no room", "POST", "/whip/", recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", auth}, 404, ""},
		{"too deep", "DELETE", loc + "/x", "", []string{"Authorization", auth}, 404, ""},
		{"trailing slash", "POST", "/whip/r/", recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", auth}, 404, ""},
		{"other protocol", "POST", "/whap/r", recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", auth}, 404, ""},
		{"get endpoint", "GET", "/whip/r", "", []string{"Authorization", auth}, 405, "Allow"},
		{"put resource", "PUT", loc, "", []string{"Authorization", auth}, 405, "Allow"},
		{"post resource", "POST", loc, recvOnlyOffer, []string{"Content-Type", sdpCT, "Authorization", auth}, 405, ""},
		{"patch unknown", "PATCH", "/whip/r/NOSUCHRESOURCE", frag, []string{"Content-Type", fragCT, "Authorization", auth}, 404, ""},
		{"delete unknown", "DELETE", "/whep/r/NOSUCHRESOURCE", "", []string{"Authorization", auth}, 404, ""},
		{"patch wrong type", "PATCH", loc, frag, []string{"Content-Type", sdpCT, "Authorization", auth}, 415, "Accept-Patch"},
		{"patch stale etag", "PATCH", loc, frag, []string{"Content-Type", fragCT, "Authorization", auth, "If-Match", `"old"`}, 412, ""},
		{"patch ice restart", "PATCH", loc, trickleFrag("New1", "newpasswordnewpassword", hostCandidate), []string{"Content-Type", fragCT, "Authorization", auth}, 422, ""},
		{"patch garbage", "PATCH", loc, "candidate: oops", []string{"Content-Type", fragCT, "Authorization", auth}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.body, tt.headers...)
			if r.code != tt.want {
				t.Errorf("%s %s: got %v, want %d", tt.method, tt.path, r, tt.want)
			}
			if tt.wantHeader != "" && r.h.Get(tt.wantHeader) == "" {
				t.Errorf("%s %s: no %s header", tt.method, tt.path, tt.wantHeader)
			}
		})
	}
	if got := len(conf.Sessions()); got != sessions {
		t.Errorf("%d sessions after the refused requests, want %d (nothing joined)", got, sessions)
	}
	if got := session(t, conf, 0); got.Leaves() != 0 || len(got.Candidates()) != 0 {
		t.Errorf("the resource got %d leaves and %v: the refused requests touched it", got.Leaves(), got.Candidates())
	}
	s.post(t, "/whip/r", audioOnly, http.StatusCreated, "Authorization", auth) // an audio-only offer is fine
}

func TestWHIPJoinRefusals(t *testing.T) {
	conf := &signalingtest.Conference{MaxPerRoom: 1}
	s := newWHIPServer(t, conf, nil)
	s.post(t, "/whip/full", recvOnlyOffer, http.StatusCreated)
	if _, r := s.post(t, "/whep/full", recvOnlyOffer, http.StatusServiceUnavailable); r.h.Get("Retry-After") == "" {
		t.Error("room full: no Retry-After")
	}
	for _, tt := range []struct {
		err  error
		want int
	}{
		{mcu.ErrClosed, http.StatusServiceUnavailable},
		{mcu.ErrBadName, http.StatusBadRequest},
		{errors.New("boom"), http.StatusInternalServerError},
	} {
		conf.JoinErr = func(string, string) error { return fmt.Errorf("join: %w", tt.err) }
		s.post(t, "/whip/other", recvOnlyOffer, tt.want)
	}
}

// TestWHIPRemovedParticipant: when the MCU removes the participant (its connection failed), the
// resource is gone.
func TestWHIPRemovedParticipant(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newWHIPServer(t, conf, nil)
	loc, _ := s.post(t, "/whip/r", recvOnlyOffer, http.StatusCreated)
	conf.Remove(session(t, conf, 0), errors.New("ice failed"))
	if r := s.do(t, http.MethodDelete, loc, ""); r.code != http.StatusNotFound {
		t.Errorf("DELETE after removal: got %v, want 404", r)
	}
	if got := s.h.Stats(); got != (signaling.WHIPStats{}) {
		t.Errorf("Stats = %+v, want none", got)
	}
}

func TestWHIPHandlerClose(t *testing.T) {
	conf := &signalingtest.Conference{}
	s := newWHIPServer(t, conf, nil)
	s.post(t, "/whip/r", recvOnlyOffer, http.StatusCreated)
	s.post(t, "/whep/r", recvOnlyOffer, http.StatusCreated)
	if err := s.h.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(conf.Sessions()); n != 2 {
		t.Fatalf("%d sessions, want the publisher and the viewer", n)
	}
	for i, ss := range conf.Sessions() {
		if ss.Leaves() != 1 {
			t.Errorf("session %d: %d leaves after Close, want 1", i, ss.Leaves())
		}
	}
	s.post(t, "/whip/r", recvOnlyOffer, http.StatusServiceUnavailable)
	if err := s.h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWHIPCORSAndICEServers(t *testing.T) {
	conf := &signalingtest.Conference{Servers: []mcu.ICEServer{
		{URLs: []string{"stun:stun.example.org:3478"}},
		{URLs: []string{"turn:turn.example.org:3478?transport=udp"}, Username: "al\"ice", Credential: "pw"},
	}}
	s := newWHIPServer(t, conf, func(c *signaling.WHIPConfig) {
		c.Token = "s3cret"
		c.OriginPatterns = []string{"player.example.com"}
	})
	wantLinks := []string{
		`<stun:stun.example.org:3478>; rel="ice-server"`,
		`<turn:turn.example.org:3478?transport=udp>; rel="ice-server"; username="al\"ice"; credential="pw"; credential-type="password"`,
	}

	// A browser's preflight carries no token and must succeed; it gets no TURN credentials.
	r := s.do(t, http.MethodOptions, "/whip/r", "", "Origin", "https://player.example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	if r.code != http.StatusNoContent {
		t.Fatalf("preflight: got %v, want 204", r)
	}
	for k, want := range map[string][]string{
		"Access-Control-Allow-Origin":   {"https://player.example.com"},
		"Access-Control-Allow-Methods":  {"POST", "PATCH", "DELETE", "OPTIONS"},
		"Access-Control-Allow-Headers":  {"Authorization", "Content-Type", "If-Match"},
		"Access-Control-Expose-Headers": {"Location", "Link", "ETag"},
		"Accept-Post":                   {"application/sdp"},
	} {
		for _, w := range want {
			if !strings.Contains(r.h.Get(k), w) {
				t.Errorf("preflight: %s = %q, want %s in it", k, r.h.Get(k), w)
			}
		}
	}
	if len(r.h.Values("Link")) != 0 {
		t.Errorf("preflight without a token gave Link %q", r.h.Values("Link"))
	}
	if r := s.do(t, http.MethodOptions, "/whip/r/SOMEID", "", "Origin", "https://player.example.com",
		"Access-Control-Request-Method", "DELETE"); r.code != http.StatusNoContent ||
		r.h.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("resource preflight: got %v, Allow-Origin %q", r, r.h.Get("Access-Control-Allow-Origin"))
	}
	// With the token, OPTIONS tells the ICE servers (a client can configure them before its offer).
	r = s.do(t, http.MethodOptions, "/whep/r", "", "Authorization", "Bearer s3cret")
	if got := r.h.Values("Link"); !slices.Equal(got, wantLinks) {
		t.Errorf("OPTIONS with the token: Link %q, want %q", got, wantLinks)
	}

	// The POST's answer carries the CORS headers and the ICE servers.
	_, r = s.post(t, "/whep/r", recvOnlyOffer, http.StatusCreated, "Origin", "https://player.example.com",
		"Authorization", "Bearer s3cret")
	if r.h.Get("Access-Control-Allow-Origin") != "https://player.example.com" ||
		!strings.Contains(r.h.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("POST from an allowed origin: Allow-Origin %q, Expose-Headers %q",
			r.h.Get("Access-Control-Allow-Origin"), r.h.Get("Access-Control-Expose-Headers"))
	}
	if got := r.h.Values("Link"); !slices.Equal(got, wantLinks) {
		t.Errorf("POST: Link %q, want %q", got, wantLinks)
	}

	// Foreign origins are refused; the server's own origin and tools without Origin are not.
	for origin, want := range map[string]int{
		"https://evil.example": http.StatusForbidden,
		"null":                 http.StatusForbidden,
		s.srv.URL:              http.StatusUnauthorized, // allowed, but no token
		"":                     http.StatusUnauthorized,
	} {
		h := []string{"Content-Type", "application/sdp"}
		if origin != "" {
			h = append(h, "Origin", origin)
		}
		if r := s.do(t, http.MethodPost, "/whip/r", recvOnlyOffer, h...); r.code != want {
			t.Errorf("POST from origin %q: got %v, want %d", origin, r, want)
		}
	}
}

func TestWHIPConfigValidate(t *testing.T) {
	if err := signaling.DefaultWHIPConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	for _, change := range []func(*signaling.WHIPConfig){
		func(c *signaling.WHIPConfig) { c.Token = "has space" },
		func(c *signaling.WHIPConfig) { c.Token = strings.Repeat("x", 5000) },
		func(c *signaling.WHIPConfig) { c.OriginPatterns = []string{"["} },
		func(c *signaling.WHIPConfig) { c.MaxBodyBytes = 10 },
	} {
		c := signaling.DefaultWHIPConfig()
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
		if _, err := signaling.NewWHIPHandler(&signalingtest.Conference{}, c, signaling.Params{}); err == nil {
			t.Errorf("NewWHIPHandler(%+v): accepted", c)
		}
	}
}

// FuzzWHIP throws arbitrary offers and trickle fragments at the handler: it must answer with a status
// from the documented set and never panic.
func FuzzWHIP(f *testing.F) {
	f.Add(recvOnlyOffer, trickleFrag("Ab3d", "abcdefghijklmnopqrstuvwx", hostCandidate))
	f.Add("v=0\r\nm=video 0 RTP/AVP 96\r\n", "a=candidate:\r\nm=\r\n")
	f.Add("", "x")
	conf := &signalingtest.Conference{}
	h, err := signaling.NewWHIPHandler(conf, signaling.DefaultWHIPConfig(), signaling.Params{})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, offer, frag string) {
		req := httptest.NewRequest(http.MethodPost, "/whip/fuzz", strings.NewReader(offer))
		req.Header.Set("Content-Type", "application/sdp")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("POST: status %d for offer %q", w.Code, offer)
		}
		if w.Code != http.StatusCreated {
			return
		}
		loc := w.Header().Get("Location")
		req = httptest.NewRequest(http.MethodPatch, loc, strings.NewReader(frag))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusNoContent, http.StatusBadRequest, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("PATCH: status %d for %q", w.Code, frag)
		}
		req = httptest.NewRequest(http.MethodDelete, loc, nil)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("DELETE: status %d", w.Code)
		}
	})
}

// recorder is a ParticipantListener that keeps the roster events.
type recorder struct {
	mu     sync.Mutex
	events []mcu.RosterEvent
}

func (r *recorder) OnICECandidate(mcu.ICECandidate) {}
func (r *recorder) OnClosed(error)                  {}
func (r *recorder) OnRoster(e mcu.RosterEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// has reports whether an event of type typ about a participant called name arrived.
func (r *recorder) has(typ mcu.RosterEventType, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e mcu.RosterEvent) bool {
		return e.Type == typ && e.Participant.Name == name
	})
}

// hasViewer reports whether a RosterJoined about a viewer called name arrived.
func (r *recorder) hasViewer(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e mcu.RosterEvent) bool {
		return e.Type == mcu.RosterJoined && e.Participant.Name == name && e.Participant.Viewer
	})
}

var whipPalette = []codectest.NamedColor{
	{Name: "red", R: 220, G: 30, B: 30},
	{Name: "green", R: 30, G: 200, B: 30},
	{Name: "placeholder", R: 44, G: 48, B: 58},
	{Name: "black", R: 0, G: 0, B: 0},
}

// tileColours names the nearest palette colour at the centre of each of n grid tiles of c's picture.
func tileColours(c *mcutest.Client, n int) ([]string, error) {
	pic := c.Picture()
	if pic == nil {
		return nil, errors.New("no picture yet")
	}
	var out []string
	for _, r := range mixer.Grid.Rects(n, pic.Width, pic.Height) {
		m := r.Min.Add(r.Max).Div(2)
		red, g, b := pic.Mean(image.Rect(m.X-8, m.Y-8, m.X+8, m.Y+8)).RGB()
		best, bestD := "", math.MaxInt
		for _, p := range whipPalette {
			dr, dg, db := int(red)-int(p.R), int(g)-int(p.G), int(b)-int(p.B)
			if d := dr*dr + dg*dg + db*db; d < bestD {
				best, bestD = p.Name, d
			}
		}
		out = append(out, best)
	}
	return out, nil
}

// levels returns the level in dB of each tone in the last half second c received.
func levels(c *mcutest.Client, tones ...float64) ([]float64, error) {
	pcm := c.Audio(500 * time.Millisecond)
	if len(pcm) < codec.SampleRate/2 {
		return nil, fmt.Errorf("%d samples of audio", len(pcm))
	}
	var out []float64
	for _, f := range tones {
		out = append(out, codectest.LevelDB(pcm, codec.SampleRate, f))
	}
	return out, nil
}

// sdpAttr returns the value of the first a=key: line of an SDP.
func sdpAttr(s, key string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a="+key+":"); ok {
			return v
		}
	}
	return ""
}

// TestWHIPRealMCU drives the real MCU over loopback through WHIP and WHEP. Ann joins directly (red,
// 430 Hz); a WHIP publisher (green, 650 Hz, sendrecv, trickling its candidates with PATCH) appears in
// her roster and her picture and hears her; a WHEP viewer sees and hears both and is invisible to them;
// DELETE makes the publisher leave. The error statuses come from the same handler.
func TestWHIPRealMCU(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height = 640, 360
	cfg.IncludeLoopback = true
	cfg.Interfaces = []string{"lo"}
	cfg.ICEServers = []mcu.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := mcu.New(cfg, mcu.Params{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := newWHIPServer(t, signaling.MCUConference(m), func(c *signaling.WHIPConfig) { c.Token = "s3cret" })
	auth := []string{"Authorization", "Bearer s3cret"}
	const room = "whip-room"

	newClient := func(colour int, tone float64, mod func(*mcutest.Config)) *mcutest.Client {
		c := mcutest.Config{Colour: whipPalette[colour].YUV(), ToneHz: tone, IncludeLoopback: true,
			Interfaces: []string{"lo"}}
		if mod != nil {
			mod(&c)
		}
		cl, err := mcutest.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}

	// Ann joins directly.
	ann := newClient(0, 430, nil)
	annL := &recorder{}
	annP, err := m.Join(room, "Ann", annL)
	if err != nil {
		t.Fatal(err)
	}
	defer annP.Leave()
	if err := mcutest.Negotiate(ann, annP); err != nil {
		t.Fatal(err)
	}

	// The publisher trickles: its offer has no candidates, they go in one PATCH once gathered.
	cands := make(chan webrtc.ICECandidateInit, 64)
	pub := newClient(1, 650, func(c *mcutest.Config) {
		c.OnICECandidate = func(ci webrtc.ICECandidateInit) { cands <- ci }
	})
	offer, err := pub.Offer()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(offer, "a=candidate:") {
		t.Fatal("the trickling publisher's offer has candidates")
	}
	// Refusals first: no token, wrong type, bad SDP, and nothing joins.
	s.post(t, "/whip/"+room, offer, http.StatusUnauthorized)
	if r := s.do(t, http.MethodPost, "/whip/"+room, offer, append(auth, "Content-Type", "text/plain")...); r.code != http.StatusUnsupportedMediaType {
		t.Errorf("POST text/plain: got %v, want 415", r)
	}
	s.post(t, "/whip/"+room, "v=0\r\nnot sdp", http.StatusBadRequest, auth...)
	if annL.has(mcu.RosterJoined, "Pub") {
		t.Fatal("a refused POST joined the room")
	}

	loc, r := s.post(t, "/whip/"+room+"?name=Pub", offer, http.StatusCreated, auth...)
	if !strings.Contains(r.body, "a=candidate:") {
		t.Error("the answer has no candidates")
	}
	if got := r.h.Values("Link"); len(got) != 1 || got[0] != `<stun:stun.example.org:3478>; rel="ice-server"` {
		t.Errorf("Link = %q, want the STUN server", got)
	}
	if err := pub.SetAnswer(r.body); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for done := false; !done; {
		select {
		case c := <-cands:
			if c.Candidate == "" {
				done = true
			} else {
				lines = append(lines, c.Candidate)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the publisher did not finish gathering")
		}
	}
	frag := trickleFrag(sdpAttr(offer, "ice-ufrag"), sdpAttr(offer, "ice-pwd"), lines...)
	if r := s.do(t, http.MethodPatch, loc, frag, append(auth, "Content-Type", "application/trickle-ice-sdpfrag",
		"If-Match", r.h.Get("ETag"))...); r.code != http.StatusNoContent {
		t.Fatalf("PATCH %d candidates: got %v, want 204", len(lines), r)
	}
	restart := trickleFrag("zzzz", "newpasswordnewpasswordxx", lines...)
	if r := s.do(t, http.MethodPatch, loc, restart, append(auth, "Content-Type", "application/trickle-ice-sdpfrag")...); r.code != http.StatusUnprocessableEntity {
		t.Errorf("PATCH an ICE restart: got %v, want 422", r)
	}

	// The viewer: receive-only, through WHEP.
	viewer := newClient(0, 0, func(c *mcutest.Config) { c.NoAudio, c.NoVideo = true, true })
	offer, err = viewer.Offer()
	if err != nil {
		t.Fatal(err)
	}
	vloc, r := s.post(t, "/whep/"+room, offer, http.StatusCreated, auth...)
	if err := viewer.SetAnswer(r.body); err != nil {
		t.Fatal(err)
	}

	var last string
	if err := codectest.Poll(25*time.Second, func() error {
		var errs []error
		if !annL.has(mcu.RosterJoined, "Pub") {
			errs = append(errs, errors.New("Ann was not told that Pub joined"))
		}
		for _, c := range []struct {
			name   string
			cl     *mcutest.Client
			tiles  []string
			hear   []float64
			silent []float64
		}{
			{"Ann", ann, []string{"green"}, []float64{650}, []float64{430}},
			{"Pub", pub, []string{"red"}, []float64{430}, []float64{650}},
			{"the viewer", viewer, []string{"red", "green"}, []float64{430, 650}, nil},
		} {
			got, err := tileColours(c.cl, len(c.tiles))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
				continue
			}
			lv, err := levels(c.cl, append(c.hear, c.silent...)...)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
				continue
			}
			desc := fmt.Sprintf("%s sees %v and hears %v at %.1f dB", c.name, got, append(c.hear, c.silent...), lv)
			last += desc + "; "
			quietest := slices.Min(lv[:len(c.hear)])
			if !slices.Equal(got, c.tiles) || quietest < -40 || (len(c.silent) > 0 && slices.Max(lv[len(c.hear):]) > quietest-20) {
				errs = append(errs, fmt.Errorf("%s; want tiles %v, tones %v audible and %v not", desc, c.tiles, c.hear, c.silent))
			}
		}
		if err := errors.Join(errs...); err != nil {
			last = ""
			return err
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Log(last)
	if !annL.hasViewer("WHEP viewer") {
		t.Error("Ann was not told about the viewer, as a viewer")
	}

	// Unknown resources, and DELETE.
	if r := s.do(t, http.MethodDelete, "/whip/"+room+"/NOSUCHRESOURCE", "", auth...); r.code != http.StatusNotFound {
		t.Errorf("DELETE an unknown resource: got %v, want 404", r)
	}
	if r := s.do(t, http.MethodDelete, loc, ""); r.code != http.StatusUnauthorized {
		t.Errorf("DELETE without the token: got %v, want 401", r)
	}
	if r := s.do(t, http.MethodDelete, loc, "", auth...); r.code != http.StatusOK {
		t.Fatalf("DELETE %s: got %v, want 200", loc, r)
	}
	codectest.Eventually(t, 10*time.Second, "Ann to be told that Pub left", func() bool { return annL.has(mcu.RosterLeft, "Pub") })
	if r := s.do(t, http.MethodDelete, loc, "", auth...); r.code != http.StatusNotFound {
		t.Errorf("DELETE %s twice: got %v, want 404", loc, r)
	}
	if r := s.do(t, http.MethodDelete, vloc, "", auth...); r.code != http.StatusOK {
		t.Errorf("DELETE the viewer: got %v, want 200", r)
	}
	if got := s.h.Stats(); got != (signaling.WHIPStats{}) {
		t.Errorf("Stats = %+v at the end, want none", got)
	}
}

// FuzzWHIPRealMCU is FuzzWHIP against the real MCU: arbitrary offers go through pion's SDP parsing and
// the MCU's negotiation (sections, codecs, transceivers), arbitrary trickle fragments through pion's
// candidate parsing, then DELETE; nothing may panic, statuses stay in the documented set, and every
// participant is gone at the end of each input.
//
// fuzz budget: 3000x (each valid offer builds a PeerConnection and gathers candidates)
func FuzzWHIPRealMCU(f *testing.F) {
	f.Add(recvOnlyOffer, trickleFrag("Ab3d", "abcdefghijklmnopqrstuvwx", hostCandidate), false)
	f.Add(strings.Replace(recvOnlyOffer, "a=recvonly", "a=sendrecv", 2), "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", true)
	f.Add("v=0\r\nm=video 0 RTP/AVP 96\r\n", "a=candidate:\r\nm=\r\n", false)
	// mDNS host candidates, as browsers give them, in the offer and trickled (dropped by the MCU).
	const mdnsCandidate = "candidate:1 1 udp 2122260223 1f2e3d4c-0000-4000-8000-000000000001.local 54321 typ host"
	f.Add(strings.Replace(recvOnlyOffer, "a=mid:0\r\n", "a=mid:0\r\na="+mdnsCandidate+"\r\n", 1),
		trickleFrag("Ab3d", "abcdefghijklmnopqrstuvwx", mdnsCandidate), false)
	cfg := mcu.DefaultConfig()
	cfg.IncludeLoopback, cfg.Interfaces = true, []string{"lo"}
	cfg.Width, cfg.Height, cfg.LowerTiers = 320, 180, nil
	m, err := mcu.New(cfg, mcu.Params{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	h, err := signaling.NewWHIPHandler(signaling.MCUConference(m), signaling.DefaultWHIPConfig(), signaling.Params{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	f.Fuzz(func(t *testing.T, offer, frag string, whep bool) {
		path := "/whip/fuzz"
		if whep {
			path = "/whep/fuzz"
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(offer))
		req.Header.Set("Content-Type", "application/sdp")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("POST: status %d (%q) for offer %q", w.Code, w.Body.String(), offer)
		}
		if w.Code == http.StatusCreated {
			loc := w.Header().Get("Location")
			req = httptest.NewRequest(http.MethodPatch, loc, strings.NewReader(frag))
			req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
			w = httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch w.Code {
			case http.StatusNoContent, http.StatusBadRequest, http.StatusUnprocessableEntity:
			default:
				t.Fatalf("PATCH: status %d for %q", w.Code, frag)
			}
			req = httptest.NewRequest(http.MethodDelete, loc, nil)
			w = httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("DELETE: status %d", w.Code)
			}
		}
		if st := m.Stats(); st.Participants != 0 {
			t.Fatalf("%d participants left after the input", st.Participants)
		}
	})
}
