package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
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
func Handler() http.Handler {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: embedded static folder missing: " + err.Error())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serveFile(w, r, root, "index.html") })
	mux.HandleFunc("GET /room/{name}", func(w http.ResponseWriter, r *http.Request) { serveFile(w, r, root, "room.html") })
	mux.HandleFunc("GET /watch/{name}", func(w http.ResponseWriter, r *http.Request) { serveFile(w, r, root, "watch.html") })
	mux.HandleFunc("GET /static/{file...}", func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, root, r.PathValue("file"))
	})
	return mux
}

// ContentSecurityPolicy is the policy every page is served with: scripts, styles and connections from
// this server only (the WebSocket and WHEP included), media from the call, no framing by other sites
// (clickjacking), no plugins, no <base> rewriting.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// setSecurityHeaders adds the headers that protect the pages: the CSP, no framing, no MIME sniffing, and
// no Referer (room links may carry an access token in their query).
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
}

// serveFile writes one regular file of root, or 404 for anything else (directories, "..", missing files).
func serveFile(w http.ResponseWriter, r *http.Request, root fs.FS, name string) {
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
	setSecurityHeaders(h)
	// Embedded files have no modification time; ServeContent still handles HEAD and Range.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}
