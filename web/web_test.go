package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// get requests path from the handler (the raw path is sent as is, unnormalised) and returns status, headers
// and body.
func get(t *testing.T, srv *httptest.Server, method, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // keep "..", "%2e" and friends exactly as written
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestPages(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	cases := []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `id="join-room-form"`},
		{"/room/abc", "text/html; charset=utf-8", `id="composite"`},
		{"/room/some%20room", "text/html; charset=utf-8", `id="composite"`},
		{"/watch/abc", "text/html; charset=utf-8", `src="/static/watch.js"`},
		{"/watch/some%2Froom", "text/html; charset=utf-8", `id="video"`},
		{"/static/watch.js", "text/javascript; charset=utf-8", "/whep/"},
		{"/static/app.js", "text/javascript; charset=utf-8", "import "},
		{"/static/signaling.js", "text/javascript; charset=utf-8", "export "},
		{"/static/style.css", "text/css; charset=utf-8", "#composite"},
	}
	for _, c := range cases {
		code, h, body := get(t, srv, http.MethodGet, c.path)
		if code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", c.path, code)
			continue
		}
		if got := h.Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := h.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", c.path, got)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", c.path, csp, want)
			}
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers %v", c.path, h)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body does not contain %q", c.path, c.contains)
		}
	}
	// The room page is one file for every room.
	_, _, a := get(t, srv, http.MethodGet, "/room/abc")
	_, _, b := get(t, srv, http.MethodGet, "/room/other")
	if a != b {
		t.Error("/room/abc and /room/other differ")
	}
	_, _, a = get(t, srv, http.MethodGet, "/watch/abc")
	_, _, b = get(t, srv, http.MethodGet, "/watch/other")
	if a != b {
		t.Error("/watch/abc and /watch/other differ")
	}
	if code, _, body := get(t, srv, http.MethodHead, "/static/app.js"); code != http.StatusOK || body != "" {
		t.Errorf("HEAD /static/app.js: status %d, body %d bytes", code, len(body))
	}
}

func TestEveryModuleIsJavaScript(t *testing.T) {
	entries, err := static.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		n++
		code, h, _ := get(t, srv, http.MethodGet, "/static/"+e.Name())
		if code != http.StatusOK || h.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("/static/%s: status %d, Content-Type %q", e.Name(), code, h.Get("Content-Type"))
		}
	}
	if n < 2 {
		t.Errorf("found %d JS modules, want several", n)
	}
}

func TestNotFound(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, p := range []string{
		"/nope", "/index.html", "/room.html", "/room", "/room/", "/room/abc/def", "/static/",
		"/static/missing.js", "/ws", "/watch", "/watch/", "/watch/abc/def", "/watch.html", "/whip/abc", "/whep/abc",
	} {
		if code, _, _ := get(t, srv, http.MethodGet, p); code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, code)
		}
	}
	// The mux redirects /static to /static/, which is a 404 like any directory.
	if code, h, _ := get(t, srv, http.MethodGet, "/static"); code != http.StatusNotFound {
		if loc := h.Get("Location"); loc != "/static/" {
			t.Errorf("GET /static: status %d, Location %q", code, loc)
		}
	}
	if code, _, _ := get(t, srv, http.MethodPost, "/"); code == http.StatusOK {
		t.Error("POST / succeeded")
	}
}

// TestNoEscape: no spelling of a path outside the embedded folder returns the Go sources: the answer is a 404,
// a redirect to a cleaned path that is itself harmless, or (for an odd room name) the room page.
func TestNoEscape(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, p := range []string{
		"/static/../web.go", "/static/..%2fweb.go", "/static/%2e%2e/web.go", "/static/%2e%2e%2fweb.go",
		"/static/..%5cweb.go", "/static/../../go.mod", "/static//../web.go", "/room/../web.go",
		"/room/..%2f..%2fweb.go", "/static/./../doc.go", "/web.go", "/doc.go", "/static/static/app.js",
		"/watch/../web.go", "/watch/..%2f..%2fweb.go",
	} {
		code, h, body := get(t, srv, http.MethodGet, p)
		if strings.Contains(body, "package web") || strings.Contains(body, "module github.com") {
			t.Errorf("GET %s: leaked a source file (status %d)", p, code)
		}
		switch code {
		case http.StatusNotFound:
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc := h.Get("Location")
			if c, _, body := get(t, srv, http.MethodGet, loc); c == http.StatusOK && strings.Contains(body, "package") {
				t.Errorf("GET %s -> %s: leaked", p, loc)
			}
		case http.StatusOK:
			// Only a room name can look like this ("/room/..%2f.." is the room "../.."): the room or
			// watch page.
			if !strings.Contains(body, `id="composite"`) && !strings.Contains(body, `src="/static/watch.js"`) {
				t.Errorf("GET %s: status 200 with something other than the room page", p)
			}
		default:
			t.Errorf("GET %s: status %d, want 404 or a redirect", p, code)
		}
	}
}

// TestConnectSources: a cluster's other servers join connect-src (WebSocket and HTTP origins), and
// anything that is not a plain origin (a path, a quote, a semicolon that would add a directive) is left
// out.
func TestConnectSources(t *testing.T) {
	h := HandlerWith(Options{ConnectSources: func() []string {
		return []string{"ws://10.0.0.2:8080", "https://node2.example.org:8443", "wss://x.org; script-src *", "http://a.org/path", "'unsafe-inline'"}
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/room/r", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' ws://10.0.0.2:8080 https://node2.example.org:8443;") {
		t.Errorf("CSP %q: want the two origins in connect-src", csp)
	}
	for _, bad := range []string{"x.org", "a.org", "unsafe-inline", "script-src *"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q carries %q", csp, bad)
		}
	}
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := rec.Header().Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("CSP without options %q, want the constant", got)
	}
}
