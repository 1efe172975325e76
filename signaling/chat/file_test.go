package chat_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/chat/chattest"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// begin sends m's file-begin.
func begin(t testing.TB, h *chat.Hub, room string, m chat.Member, name string, size int64, mimeType string) {
	t.Helper()
	send(t, h, room, m, map[string]any{"type": "file-begin", "name": name, "size": size, "mime": mimeType})
}

// upload sends data as a file from m, in chunks of at most chat.MaxChunk, and returns the file
// message m got for it.
func upload(t testing.TB, h *chat.Hub, room string, m *chattest.Member, name, mimeType string, data []byte) chat.Message {
	t.Helper()
	begin(t, h, room, m, name, int64(len(data)), mimeType)
	for off := 0; off < len(data); off += chat.MaxChunk {
		h.Receive(room, m, data[off:min(off+chat.MaxChunk, len(data))], true)
	}
	send(t, h, room, m, map[string]any{"type": "file-end"})
	msgs := m.Take()
	if len(msgs) == 0 {
		t.Fatalf("upload of %q: %s got nothing", name, m.ID())
	}
	for _, raw := range msgs[:len(msgs)-1] {
		if bytes.Contains(raw, []byte(chat.TypeError)) {
			t.Fatalf("upload of %q: %s", name, raw)
		}
	}
	f := decode(t, msgs[len(msgs)-1])
	if f.Type != chat.TypeFile {
		t.Fatalf("upload of %q: the last message is %+v", name, f)
	}
	return f
}

// get makes a request to srv and returns the response with its body read.
func get(t testing.TB, srv *httptest.Server, method, target string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// serve starts an HTTP server of h's files, closed at the end of the test.
func serve(t testing.TB, h *chat.Hub) *httptest.Server {
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// dirNames lists the names in dir.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// wantEmptyDir checks that the Hub has no file on disk.
func wantEmptyDir(t testing.TB, h *chat.Hub) {
	t.Helper()
	if names := dirNames(t, h.Dir()); len(names) > 0 {
		t.Errorf("files left on disk: %v", names)
	}
	if err := h.Check(); err != nil {
		t.Error(err)
	}
}

var urlPattern = regexp.MustCompile(`^/files/r/[0-9a-f]{16}/notes\.pdf\?key=[0-9a-f]{32}$`)

func TestFileEndToEnd(t *testing.T) {
	h, c := newHub(t, chat.Config{})
	srv := serve(t, h)
	ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
	h.Join("r", ann, true)
	h.Join("r", bob, true)
	data := randomBytes(3*chat.MaxChunk+1234, 1)

	begin(t, h, "r", ann, "notes.pdf", int64(len(data)), "application/pdf")
	h.Receive("r", ann, data[:chat.MaxChunk], true)
	if err := h.Post("r", bob, "chat goes on during an upload"); err != nil {
		t.Fatal(err)
	}
	for off := chat.MaxChunk; off < len(data); off += chat.MaxChunk {
		h.Receive("r", ann, data[off:min(off+chat.MaxChunk, len(data))], true)
	}
	send(t, h, "r", ann, map[string]any{"type": "file-end"})
	if msgs := ann.Take(); len(msgs) != 2 || decode(t, msgs[0]).Type != chat.TypeChat {
		t.Fatalf("ann got %q, want bob's chat and the file", msgs)
	}
	msgs := bob.Take()
	if len(msgs) != 2 {
		t.Fatalf("bob got %q, want his chat and the file", msgs)
	}
	f := decode(t, msgs[1])
	if f.Type != chat.TypeFile || f.ID != 2 || f.From != (chat.Sender{ID: "p1", Name: "Ann"}) ||
		f.Name != "notes.pdf" || f.Size != int64(len(data)) || f.Mime != "application/pdf" ||
		f.UnixMilli != c.Now().UnixMilli() || !urlPattern.MatchString(f.URL) {
		t.Fatalf("file message %s", msgs[1])
	}
	if s := h.Stats(); s.Files != 1 || s.FileBytes != int64(len(data)) {
		t.Errorf("stats %+v", s)
	}

	resp, body := get(t, srv, "GET", f.URL)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET: %s, %d bytes, want the %d uploaded", resp.Status, len(body), len(data))
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/pdf",
		"X-Content-Type-Options": "nosniff",
		"Content-Length":         fmt.Sprint(len(data)),
		"Accept-Ranges":          "bytes",
		"Cache-Control":          "private, no-store",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if d, p, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err != nil || d != "attachment" ||
		p["filename"] != "notes.pdf" {
		t.Errorf("Content-Disposition %q", resp.Header.Get("Content-Disposition"))
	}

	resp, body = get(t, srv, "GET", f.URL, "Range", "bytes=70000-70009")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[70000:70010]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 70000-70009/%d", len(data)) {
		t.Errorf("Range: %s %q %q", resp.Status, resp.Header.Get("Content-Range"), body)
	}
	resp, body = get(t, srv, "HEAD", f.URL)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(data)) {
		t.Errorf("HEAD: %s, %d bytes, length %d", resp.Status, len(body), resp.ContentLength)
	}
	if resp, _ := get(t, srv, "POST", f.URL); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}

	u, _ := url.Parse(f.URL)
	key := u.Query().Get("key")
	id := strings.Split(u.Path, "/")[3]
	_, notFound := get(t, srv, "GET", "/files/nowhere/0000000000000000/x?key=0")
	for _, target := range []string{
		strings.Replace(f.URL, key, strings.Repeat("0", 32), 1),
		strings.Replace(f.URL, key, key[:31], 1),
		strings.TrimSuffix(f.URL, "?key="+key),
		strings.Replace(f.URL, "?key=", "?other=", 1),
		strings.Replace(f.URL, id, strings.Repeat("0", 16), 1),
		strings.Replace(f.URL, "/r/", "/other/", 1),
		strings.Replace(f.URL, "notes.pdf", "notes.pdf/more", 1),
		"/files/r/" + id + "?key=" + key,
		"/other/r/" + id + "/notes.pdf?key=" + key,
	} {
		resp, body := get(t, srv, "GET", target)
		if resp.StatusCode != 404 || !bytes.Equal(body, notFound) {
			t.Errorf("GET %s: %s %q, want the one 404 of all", target, resp.Status, body)
		}
	}
	// The name in the URL is only for people: another one serves the same file.
	if resp, body := get(t, srv, "GET", strings.Replace(f.URL, "notes.pdf", "x.bin", 1)); resp.StatusCode != 200 ||
		!bytes.Equal(body, data) {
		t.Errorf("another name: %s", resp.Status)
	}

	late := chattest.NewMember("p3", "Late")
	h.Join("r", late, false)
	if hist := late.Take(); len(hist) != 2 || !bytes.Equal(hist[1], msgs[1]) {
		t.Errorf("a late joiner got %q", hist)
	}
}

// TestHostileFileNames: names are stored as data, never as paths, and served as harmless attachments.
func TestHostileFileNames(t *testing.T) {
	hexName := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for _, tc := range []struct{ name, want string }{
		{"../../etc/passwd", ".._.._etc_passwd"},
		{`..\..\windows\win.ini`, ".._.._windows_win.ini"},
		{"/etc/passwd", "_etc_passwd"},
		{"..", "_"},
		{".", "_"},
		{"...", "..."},
		{" spaced.txt ", "spaced.txt"},
		{"invoice\u202egpj.exe", "invoice_gpj.exe"},
		{"a\nb\x00c.txt", "a_b_c.txt"},
		{`"quoted"; filename=evil.html`, `"quoted"; filename=evil.html`},
		{"%2e%2e%2fx", "%2e%2e%2fx"},
		{"résumé 2024 ✓.pdf", "résumé 2024 ✓.pdf"},
		{"a?b#c&key=1", "a?b#c&key=1"},
		{"<img src=x onerror=alert(1)>.png", "<img src=x onerror=alert(1)>.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			h, _ := newHub(t, chat.Config{Dir: parent})
			srv := serve(t, h)
			ann := chattest.NewMember("p1", "Ann")
			h.Join("r", ann, true)
			data := []byte("root:x:0:0::/root:/bin/sh\n")
			f := upload(t, h, "r", ann, tc.name, "text/plain", data)
			if f.Name != tc.want {
				t.Errorf("name %q, want %q", f.Name, tc.want)
			}
			if names := dirNames(t, parent); len(names) != 1 {
				t.Errorf("%s holds %v: more than the hub's directory", parent, names)
			}
			for _, n := range dirNames(t, h.Dir()) {
				if !hexName.MatchString(n) {
					t.Errorf("a file on disk is called %q", n)
				}
			}
			u, err := url.Parse(f.URL)
			if err != nil || len(strings.Split(u.EscapedPath(), "/")) != 5 || len(u.Query()) != 1 {
				t.Fatalf("url %q (%v) is not /files/room/id/name?key=", f.URL, err)
			}
			resp, body := get(t, srv, "GET", f.URL)
			if resp.StatusCode != 200 || !bytes.Equal(body, data) {
				t.Fatalf("GET %s: %s %q", f.URL, resp.Status, body)
			}
			cd := resp.Header.Get("Content-Disposition")
			d, p, err := mime.ParseMediaType(cd)
			if err != nil || d != "attachment" || p["filename"] != tc.want {
				t.Errorf("Content-Disposition %q: %s %q (%v), want the name %q", cd, d, p["filename"], err, tc.want)
			}
			if strings.ContainsAny(cd, "/\\") || strings.ContainsFunc(cd, func(c rune) bool { return c > 0x7e || unicode.IsControl(c) }) {
				t.Errorf("Content-Disposition %q holds a separator or a byte that is not printable ASCII", cd)
			}
		})
	}
}

// TestServedTypes: the announced type is served only when it is harmless.
func TestServedTypes(t *testing.T) {
	for _, tc := range []struct{ announced, msg, served string }{
		{"image/png", "image/png", "image/png"},
		{"IMAGE/PNG; foo=bar", "image/png", "image/png"},
		{"text/plain", "text/plain", "text/plain"},
		{"text/html", "text/html", "application/octet-stream"},
		{"image/svg+xml", "image/svg+xml", "application/octet-stream"},
		{"application/javascript", "application/javascript", "application/octet-stream"},
		{"application/xhtml+xml", "application/xhtml+xml", "application/octet-stream"},
		{"", "application/octet-stream", "application/octet-stream"},
		{"nonsense", "application/octet-stream", "application/octet-stream"},
		{"text/html\r\nX-Evil: 1", "application/octet-stream", "application/octet-stream"},
	} {
		t.Run(tc.announced, func(t *testing.T) {
			h, _ := newHub(t, chat.Config{})
			srv := serve(t, h)
			ann := chattest.NewMember("p1", "Ann")
			h.Join("r", ann, true)
			data := []byte("<html><script>alert(1)</script></html>")
			f := upload(t, h, "r", ann, "page.html", tc.announced, data)
			if f.Mime != tc.msg {
				t.Errorf("message mime %q, want %q", f.Mime, tc.msg)
			}
			resp, _ := get(t, srv, "GET", f.URL)
			if got := resp.Header.Get("Content-Type"); got != tc.served {
				t.Errorf("served as %q, want %q", got, tc.served)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Evil") != "" ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("headers %v", resp.Header)
			}
		})
	}
}

// TestUploadRefused: every way an upload can be refused or fail, each leaving nothing behind.
func TestUploadRefused(t *testing.T) {
	cfg := chat.Config{MaxFile: 80, RoomQuota: 100, MaxFiles: 2}
	end := map[string]any{"type": "file-end"}
	t.Run("announced too large", func(t *testing.T) {
		h, _ := newHub(t, cfg)
		ann := chattest.NewMember("p1", "Ann")
		h.Join("r", ann, true)
		begin(t, h, "r", ann, "big", 81, "")
		wantError(t, ann, chat.CodeTooLarge)
		// The chunks and file-end the client sent before it heard are dropped quietly.
		h.Receive("r", ann, make([]byte, 40), true)
		h.Receive("r", ann, make([]byte, 41), true)
		send(t, h, "r", ann, end)
		wantNothing(t, ann)
		wantEmptyDir(t, h)
		// After that, the client is back to normal.
		h.Receive("r", ann, make([]byte, 1), true)
		wantError(t, ann, chat.CodeBadMessage)
	})
	t.Run("more than announced", func(t *testing.T) {
		h, _ := newHub(t, cfg)
		ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
		h.Join("r", ann, true)
		h.Join("r", bob, true)
		begin(t, h, "r", ann, "a", 10, "")
		h.Receive("r", ann, make([]byte, 6), true)
		h.Receive("r", ann, make([]byte, 5), true)
		wantError(t, ann, chat.CodeTooLarge)
		send(t, h, "r", ann, end)
		wantNothing(t, ann, bob)
		wantEmptyDir(t, h)
		// The quota is back: a file of the whole quota's size... is over MaxFile; two fill it.
		upload(t, h, "r", ann, "b", "", make([]byte, 80))
		upload(t, h, "r", ann, "c", "", make([]byte, 20))
	})
	t.Run("quota bytes", func(t *testing.T) {
		h, _ := newHub(t, chat.Config{MaxFile: 80, RoomQuota: 100})
		ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
		h.Join("r", ann, true)
		h.Join("r", bob, true)
		upload(t, h, "r", ann, "a", "", make([]byte, 60))
		bob.Take()
		// An upload under way counts at its announced size.
		begin(t, h, "r", ann, "b", 30, "")
		h.Receive("r", ann, make([]byte, 5), true)
		begin(t, h, "r", bob, "c", 11, "")
		wantError(t, bob, chat.CodeQuota)
		begin(t, h, "r", bob, "d", 10, "")
		wantNothing(t, bob)
		if s := h.Stats(); s.Rejected[chat.CodeQuota] != 1 {
			t.Errorf("stats %+v", s)
		}
		// Another room has its own quota.
		carl := chattest.NewMember("p3", "Carl")
		h.Join("r2", carl, true)
		upload(t, h, "r2", carl, "e", "", make([]byte, 80))
	})
	t.Run("max files", func(t *testing.T) {
		h, _ := newHub(t, cfg)
		ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
		h.Join("r", ann, true)
		h.Join("r", bob, true)
		upload(t, h, "r", ann, "a", "", make([]byte, 1))
		bob.Take()
		begin(t, h, "r", ann, "b", 1, "")
		begin(t, h, "r", bob, "c", 1, "")
		wantError(t, bob, chat.CodeQuota)
	})
	t.Run("busy", func(t *testing.T) {
		h, _ := newHub(t, cfg)
		ann := chattest.NewMember("p1", "Ann")
		h.Join("r", ann, true)
		begin(t, h, "r", ann, "a", 4, "")
		h.Receive("r", ann, []byte("ab"), true)
		begin(t, h, "r", ann, "b", 4, "")
		wantError(t, ann, chat.CodeBusy)
		h.Receive("r", ann, []byte("cd"), true)
		send(t, h, "r", ann, end)
		if f := decode(t, takeOne(t, ann)); f.Name != "a" || f.Size != 4 {
			t.Errorf("the first upload went on to %+v", f)
		}
	})
	t.Run("ended short", func(t *testing.T) {
		h, _ := newHub(t, cfg)
		ann := chattest.NewMember("p1", "Ann")
		h.Join("r", ann, true)
		begin(t, h, "r", ann, "a", 10, "")
		h.Receive("r", ann, make([]byte, 9), true)
		send(t, h, "r", ann, end)
		wantError(t, ann, chat.CodeBadMessage)
		wantEmptyDir(t, h)
		h.Receive("r", ann, make([]byte, 1), true)
		wantError(t, ann, chat.CodeBadMessage)
	})
	t.Run("chunk too big", func(t *testing.T) {
		h, _ := newHub(t, chat.Config{})
		ann := chattest.NewMember("p1", "Ann")
		h.Join("r", ann, true)
		begin(t, h, "r", ann, "a", 2*chat.MaxChunk, "")
		h.Receive("r", ann, make([]byte, chat.MaxChunk+1), true)
		wantError(t, ann, chat.CodeBadMessage)
		wantEmptyDir(t, h)
	})
	for _, bad := range []map[string]any{
		{"type": "file-begin", "name": "a", "size": 0},
		{"type": "file-begin", "name": "a", "size": -1},
		{"type": "file-begin", "name": "a", "size": 1.5},
		{"type": "file-begin", "name": "a", "size": "1"},
		{"type": "file-begin", "name": "a"},
		{"type": "file-begin", "size": 1},
		{"type": "file-begin", "name": "  ", "size": 1},
		{"type": "file-begin", "name": strings.Repeat("a", 256), "size": 1},
		{"type": "file-begin", "name": "a", "size": 1, "mime": strings.Repeat("a", 128)},
	} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			h, _ := newHub(t, cfg)
			ann := chattest.NewMember("p1", "Ann")
			h.Join("r", ann, true)
			send(t, h, "r", ann, bad)
			wantError(t, ann, chat.CodeBadMessage)
			h.Receive("r", ann, []byte("x"), true)
			wantNothing(t, ann)
			wantEmptyDir(t, h)
		})
	}
	t.Run("rate", func(t *testing.T) {
		h, _ := newHub(t, chat.Config{Burst: 1})
		ann := chattest.NewMember("p1", "Ann")
		h.Join("r", ann, true)
		upload(t, h, "r", ann, "a", "", []byte("x"))
		begin(t, h, "r", ann, "b", 1, "")
		wantError(t, ann, chat.CodeRateLimited)
	})
}

// TestAbandonedUpload: a member that leaves mid-upload leaves no file, and its quota is free again.
func TestAbandonedUpload(t *testing.T) {
	h, _ := newHub(t, chat.Config{MaxFile: 100, RoomQuota: 100})
	ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
	h.Join("r", ann, true)
	h.Join("r", bob, true)
	begin(t, h, "r", ann, "a", 100, "")
	h.Receive("r", ann, make([]byte, 50), true)
	if len(dirNames(t, h.Dir())) != 1 {
		t.Fatal("no partial file on disk")
	}
	h.Leave("r", ann)
	wantEmptyDir(t, h)
	wantNothing(t, bob)
	upload(t, h, "r", bob, "b", "", make([]byte, 60))

	// A member replaced by a second Join abandons its upload too.
	begin(t, h, "r", bob, "c", 40, "")
	h.Receive("r", bob, make([]byte, 10), true)
	h.Join("r", chattest.NewMember("p2", "Bob on another device"), true)
	carl := chattest.NewMember("p3", "Carl")
	h.Join("r", carl, true)
	carl.Take()
	upload(t, h, "r", carl, "d", "", make([]byte, 40))
	if err := h.Check(); err != nil {
		t.Error(err)
	}
	if n := len(dirNames(t, h.Dir())); n != 2 {
		t.Errorf("%d files on disk, want 2", n)
	}
}

// TestLastLeaveDeletes: the room's files live as long as it has a member.
func TestLastLeaveDeletes(t *testing.T) {
	h, _ := newHub(t, chat.Config{})
	srv := serve(t, h)
	ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
	h.Join("r", ann, true)
	h.Join("r", bob, true)
	f := upload(t, h, "r", ann, "a.txt", "text/plain", []byte("hello"))
	h.Leave("r", ann)
	if resp, _ := get(t, srv, "GET", f.URL); resp.StatusCode != 200 {
		t.Errorf("while bob is there: %s", resp.Status)
	}
	h.Leave("r", bob)
	if resp, _ := get(t, srv, "GET", f.URL); resp.StatusCode != 404 {
		t.Errorf("after the room ended: %s", resp.Status)
	}
	wantEmptyDir(t, h)
	if s := h.Stats(); s.Files != 0 || s.FileBytes != 0 {
		t.Errorf("stats %+v", s)
	}
	h.Join("r", ann, true)
	wantNothing(t, ann) // no history: a new room
	h.Leave("r", ann)
}

// TestRoomNameEscaped: a room name that is not URL-safe still gives a working URL.
func TestRoomNameEscaped(t *testing.T) {
	h, _ := newHub(t, chat.Config{})
	srv := serve(t, h)
	ann := chattest.NewMember("p1", "Ann")
	room := "a b/c?d#e%f"
	h.Join(room, ann, true)
	f := upload(t, h, room, ann, "x", "", []byte("data"))
	if resp, body := get(t, srv, "GET", f.URL); resp.StatusCode != 200 || string(body) != "data" {
		t.Errorf("GET %s: %s", f.URL, resp.Status)
	}
}

// TestConcurrentUploads: members upload and chat at once; every file arrives whole.
func TestConcurrentUploads(t *testing.T) {
	h, _ := newHub(t, chat.Config{Rate: 1000, Burst: 1000})
	srv := serve(t, h)
	var ms []*chattest.Member
	for i := range 4 {
		m := chattest.NewMember(fmt.Sprintf("p%d", i), "M")
		ms = append(ms, m)
		h.Join("r", m, true)
	}
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			for j := range 3 {
				data := randomBytes(100000+j, uint64(10*i+j))
				begin(t, h, "r", m, fmt.Sprintf("%d-%d", i, j), int64(len(data)), "")
				for off := 0; off < len(data); off += 30000 {
					h.Receive("r", m, data[off:min(off+30000, len(data))], true)
					_ = h.Post("r", m, "progress")
				}
				send(t, h, "r", m, map[string]any{"type": "file-end"})
			}
		})
	}
	wg.Wait()
	files := 0
	for _, raw := range ms[0].Messages() {
		f := decode(t, raw)
		if f.Type != chat.TypeFile {
			continue
		}
		files++
		var i, j int
		fmt.Sscanf(f.Name, "%d-%d", &i, &j)
		if _, body := get(t, srv, "GET", f.URL); !bytes.Equal(body, randomBytes(100000+j, uint64(10*i+j))) {
			t.Errorf("file %s differs", f.Name)
		}
	}
	if files != 12 {
		t.Errorf("%d files, want 12", files)
	}
	if s := h.Stats(); len(s.Rejected) != 0 {
		t.Errorf("rejected %v", s.Rejected)
	}
}

// TestDiskFailure: an upload the disk refuses is answered internal and leaves its quota free.
func TestDiskFailure(t *testing.T) {
	h, _ := newHub(t, chat.Config{MaxFile: 10, RoomQuota: 10})
	ann := chattest.NewMember("p1", "Ann")
	h.Join("r", ann, true)
	begin(t, h, "r", ann, "a", 10, "")
	if err := os.Remove(h.Dir()); err != nil {
		t.Fatal(err)
	}
	h.Receive("r", ann, []byte("01234"), true)
	wantError(t, ann, chat.CodeInternal)
	h.Receive("r", ann, []byte("56789"), true)
	send(t, h, "r", ann, map[string]any{"type": "file-end"})
	wantNothing(t, ann)
	if err := os.Mkdir(h.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	upload(t, h, "r", ann, "b", "", []byte("0123456789"))
	if s := h.Stats(); s.Rejected[chat.CodeInternal] != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestTotalQuota: the server's files together are bounded too (Config.TotalQuota), across rooms, and a
// room that ends gives its share back.
func TestTotalQuota(t *testing.T) {
	h, _ := newHub(t, chat.Config{MaxFile: 80, RoomQuota: 100, TotalQuota: 150})
	ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
	h.Join("a", ann, true)
	h.Join("b", bob, true)
	upload(t, h, "a", ann, "one", "", make([]byte, 80))
	upload(t, h, "b", bob, "two", "", make([]byte, 60))
	begin(t, h, "b", bob, "three", 20, "") // room b: 80 of 100, but 160 of 150 in all
	wantError(t, bob, chat.CodeQuota)
	send(t, h, "b", bob, map[string]any{"type": "file-end"})
	h.Leave("a", ann) // room a ends: its 80 bytes are given back
	upload(t, h, "b", bob, "three", "", make([]byte, 20))
}
