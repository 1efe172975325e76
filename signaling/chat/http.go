package chat

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Handler serves the shared files: GET and HEAD /files/{room}/{id}/{name}?key=KEY, with Range requests
// (see the package documentation). Mount it at /files/. Safe for concurrent use.
func (h *Hub) Handler() http.Handler { return http.HandlerFunc(h.serveFile) }

// serveFile is Handler.
func (h *Hub) serveFile(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(req.URL.EscapedPath(), "/files/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 {
		http.NotFound(w, req)
		return
	}
	roomName, err := url.PathUnescape(parts[0])
	if err != nil {
		http.NotFound(w, req)
		return
	}
	f, ok := h.lookup(roomName, parts[1], req.URL.Query().Get("key"))
	if !ok {
		http.NotFound(w, req)
		return
	}
	fh, err := os.Open(f.path)
	if err != nil { // the room ended meanwhile
		http.NotFound(w, req)
		return
	}
	defer fh.Close()
	hd := w.Header()
	hd.Set("Content-Type", servedType(f.mime))
	hd.Set("Content-Disposition", disposition(f.name))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Referrer-Policy", "no-referrer") // the key is in the URL
	hd.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, req, "", f.at.Truncate(time.Second), fh)
}

// lookup returns a copy of the file id of room if key is its key.
func (h *Hub) lookup(roomName, id, key string) (file, bool) {
	h.mu.Lock()
	r := h.rooms[roomName]
	h.mu.Unlock()
	if r == nil {
		return file{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.files[id]
	if f == nil || r.ended || subtle.ConstantTimeCompare([]byte(key), []byte(f.key)) != 1 {
		return file{}, false
	}
	return *f, true
}

// servedType is the Content-Type of a file announced as t: t when browsers only display or play such
// files, application/octet-stream for everything else (HTML, SVG, XML, script...).
func servedType(t string) string {
	switch t {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
		"audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/aac", "audio/flac", "audio/mp4",
		"video/mp4", "video/webm", "video/ogg", "video/quicktime",
		"application/pdf", "application/zip", "application/gzip", "text/plain", "text/csv":
		return t
	}
	return "application/octet-stream"
}

// disposition is an attachment header for name: an ASCII fallback in quotes, and the name itself
// percent-encoded as UTF-8 (RFC 6266, RFC 5987).
func disposition(name string) string {
	var ascii, ext strings.Builder
	for _, c := range name {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '%' {
			ascii.WriteByte('_')
		} else {
			ascii.WriteRune(c)
		}
	}
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		b := name[i]
		if isAttrChar(b) {
			ext.WriteByte(b)
		} else {
			ext.WriteByte('%')
			ext.WriteByte(hexDigits[b>>4])
			ext.WriteByte(hexDigits[b&15])
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}

// isAttrChar reports RFC 5987's attr-char: the bytes a filename* value may hold as they are.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
