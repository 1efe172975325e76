package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// static holds the pages: index.html, room.html, watch.html, the ES modules and the stylesheet.
//
//go:embed static
var static embed.FS

// contentTypes maps the extensions the page uses to their media types. Anything else is served as
// application/octet-stream, never sniffed.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// Handler returns the HTTP handler of the browser page:
//
//	GET /              the landing form (index.html): pick a room and a name
//	GET /room/{name}   the call page (room.html, the same file for every room)
//	GET /watch/{name}  the viewer page (watch.html): the whole room, full window, over WHEP (/whep/{name})
//	GET /static/...    the page's assets (ES modules, CSS)
//
// Every response carries Cache-Control: no-cache, so a new server build is picked up on reload. Other paths
// get 404; nothing outside the embedded static folder can be reached. The signalling endpoints (/ws, /whip/,
// /whep/) are not part of this handler: mount them on one mux, e.g. mux.Handle("/", web.Handler()).
func Handler() http.Handler { return HandlerWith(Options{}) }

// Options adjust the pages' handler.
type Options struct {
	// ConnectSources, when set, returns origins ("https://node2.example.org:8443", "wss://...") the pages
	// may connect to besides their own server: the other servers of a cluster, where a page's WebSocket
	// and WHEP requests are sent on. Anything but scheme://host[:port] is left out of the policy.
	ConnectSources func() []string
}

// HandlerWith is Handler with options.
func HandlerWith(o Options) http.Handler {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: embedded static folder missing: " + err.Error())
	}
	mux := http.NewServeMux()
	file := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { serveFile(w, r, root, name, o.policy()) }
	}
	mux.HandleFunc("GET /{$}", file("index.html"))
	mux.HandleFunc("GET /room/{name}", file("room.html"))
	mux.HandleFunc("GET /watch/{name}", file("watch.html"))
	mux.HandleFunc("GET /static/{file...}", func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, root, r.PathValue("file"), o.policy())
	})
	return mux
}

// policy is ContentSecurityPolicy with the ConnectSources added to connect-src.
func (o Options) policy() string {
	if o.ConnectSources == nil {
		return ContentSecurityPolicy
	}
	var extra strings.Builder
	for _, s := range o.ConnectSources() {
		if safeSource(s) {
			extra.WriteString(" " + s)
		}
	}
	if extra.Len() == 0 {
		return ContentSecurityPolicy
	}
	return strings.Replace(ContentSecurityPolicy, "connect-src 'self'", "connect-src 'self'"+extra.String(), 1)
}

// safeSource reports whether s is a plain scheme://host[:port] origin (no path, quotes, spaces or
// semicolons that would change the policy).
func safeSource(s string) bool {
	scheme, host, ok := strings.Cut(s, "://")
	if !ok || host == "" || !slices.Contains([]string{"http", "https", "ws", "wss"}, scheme) {
		return false
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return true
}

// ContentSecurityPolicy is the policy every page is served with: scripts, styles and connections from
// this server only (the WebSocket and WHEP included), media from the call, no framing by other sites
// (clickjacking), no plugins, no <base> rewriting.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// setSecurityHeaders adds the headers that protect the pages: the CSP, no framing, no MIME sniffing, and
// no Referer (room links may carry an access token in their query).
func setSecurityHeaders(h http.Header, policy string) {
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
}

// serveFile writes one regular file of root, or 404 for anything else (directories, "..", missing files).
func serveFile(w http.ResponseWriter, r *http.Request, root fs.FS, name, policy string) {
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, "\\") {
		http.NotFound(w, r)
		return
	}
	st, err := fs.Stat(root, name)
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(root, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct, ok := contentTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache")
	setSecurityHeaders(h, policy)
	// Embedded files have no modification time; ServeContent still handles HEAD and Range.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}
