package chat_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/chat/chattest"
)

// fuzzSep separates the steps of a FuzzReceive script (JSON text holds no NUL).
const fuzzSep = "\x00"

// FuzzReceive runs a script of steps against a room of three members (the third read-only), with
// tight limits so that uploads hit them. A step is a control byte and a payload: the low two bits pick
// the member (3: the first), bit 2 makes the payload a binary message instead of a text one, bits 3-4 =
// 3 make the member leave (or join again, if it left) instead, and bits 5-7 move the clock on by that
// many 100 ms first. Nothing may panic; every message a member gets is a chat, file or chat-error
// message of a known code; after every step the hub's accounting matches its rooms and its directory
// (Hub.Check); once everyone has left, nothing is on disk and the stats count no file.
//
// Run it with
//
//	go test -run '^$' -fuzz FuzzReceive -fuzztime 1m ./signaling/chat/
//
// fuzz budget: 2x
func FuzzReceive(f *testing.F) {
	step := func(ctl byte, payload string) string { return string([]byte{ctl}) + payload + fuzzSep }
	bin := func(m byte) byte { return m | 4 }
	const leave = 3 << 3
	for _, s := range []string{
		step(0, `{"type":"chat","text":"hello"}`) + step(1, `{"type":"chat","text":"<img src=x onerror=alert(1)>"}`),
		step(0, `{"type":"file-begin","name":"../../etc/passwd","size":10,"mime":"text/html"}`) +
			step(bin(0), "01234") + step(bin(0), "56789") + step(0, `{"type":"file-end"}`),
		step(0, `{"type":"file-begin","name":"a","size":100}`) + step(bin(0), "0123456789") +
			step(0|leave, "") + step(0|leave, "") + step(bin(0), "x"),
		step(1, `{"type":"file-begin","name":"a","size":5}`) + step(bin(1), "0123456789") + step(1, `{"type":"file-end"}`),
		step(1, `{"type":"file-begin","name":"a","size":101}`) + step(bin(1), "0123") + step(1, `{"type":"file-end"}`),
		step(0, `{"type":"file-begin","name":"a","size":90}`) + step(1, `{"type":"file-begin","name":"b","size":90}`) +
			step(2, `{"type":"file-begin","name":"c","size":90}`) + step(3, `{"type":"file-begin","name":"d","size":90}`),
		step(0, `{"type":"file-begin","name":"a","size":3}`) + step(0, `{"type":"file-begin","name":"b","size":3}`) +
			step(bin(0), "abc") + step(0, `{"type":"file-end"}`) + step(0, `{"type":"file-end"}`),
		step(2, `{"type":"chat","text":"viewer"}`) + step(bin(2), "x") + step(1, "{\"type\":\"chat\",\"text\":\"\xff\"}"),
		step(1|leave, "") + step(0|leave, "") + step(2|leave, "") + step(0, `{"type":"chat","text":"alone"}`),
		step(0|7<<5, `{"type":"chat","text":"later"}`) + step(0, `{"type":"file-begin","name":"a","size":1.5}`) + step(bin(0), "x"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		h, c := newHub(t, chat.Config{MaxText: 64, History: 4, Rate: 5, Burst: 4, MaxFile: 100, RoomQuota: 250,
			MaxFiles: 3})
		ms := []*chattest.Member{chattest.NewMember("p0", "Ann"), chattest.NewMember("p1", "<b>Bob</b>"),
			chattest.NewMember("p2", "Viewer")}
		joined := []bool{true, true, true}
		for i, m := range ms {
			h.Join("r", m, i != 2)
		}
		for n, s := range bytes.Split(script, []byte(fuzzSep)) {
			if n >= 200 {
				break
			}
			if len(s) == 0 {
				continue
			}
			ctl, payload := s[0], s[1:]
			i := int(ctl&3) % 3
			c.Advance(time.Duration(ctl>>5) * 100 * time.Millisecond)
			switch {
			case ctl>>3&3 == 3 && joined[i]:
				h.Leave("r", ms[i])
				joined[i] = false
			case ctl>>3&3 == 3:
				h.Join("r", ms[i], i != 2)
				joined[i] = true
			default:
				h.Receive("r", ms[i], payload, ctl&4 != 0)
			}
			if err := h.Check(); err != nil {
				t.Fatalf("after step %d (%q): %v", n, s, err)
			}
			for _, m := range ms {
				for _, raw := range m.Take() {
					checkDelivered(t, raw)
				}
			}
		}
		for i, m := range ms {
			if joined[i] {
				h.Leave("r", m)
			}
		}
		wantEmptyDir(t, h)
		if s := h.Stats(); s.Files != 0 || s.FileBytes != 0 {
			t.Errorf("after everyone left: %+v", s)
		}
	})
}

// checkDelivered fails unless raw is a message of the protocol.
func checkDelivered(t *testing.T, raw []byte) {
	t.Helper()
	var m struct {
		chat.Message
		Code chat.Code `json:"code"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("delivered %q: %v", raw, err)
	}
	switch m.Type {
	case chat.TypeChat:
		if m.ID == 0 || m.Text == "" || len(m.Text) > 64 {
			t.Fatalf("delivered %s", raw)
		}
	case chat.TypeFile:
		if m.ID == 0 || m.Name == "" || m.Size < 1 || m.Size > 100 || m.URL == "" {
			t.Fatalf("delivered %s", raw)
		}
	case chat.TypeError:
		switch m.Code {
		case chat.CodeBadMessage, chat.CodeTooLong, chat.CodeRateLimited, chat.CodeForbidden, chat.CodeTooLarge,
			chat.CodeQuota, chat.CodeBusy:
		default:
			t.Fatalf("delivered %s", raw)
		}
	default:
		t.Fatalf("delivered %s", raw)
	}
}

// FuzzServeFile sends fuzzed paths, queries and Range headers to the real file handler (Hub.Handler) of
// a hub holding one shared file: nothing panics, nothing answers 5xx, and the file's bytes come back only
// with its key.
//
// fuzz budget: 3000x
func FuzzServeFile(f *testing.F) {
	h, _ := newHub(f, chat.Config{})
	ann := chattest.NewMember("p1", "Ann")
	h.Join("r", ann, true)
	defer h.Leave("r", ann)
	msg := upload(f, h, "r", ann, "notes.txt", "text/plain", []byte("secret notes"))
	srv := serve(f, h)
	link, err := url.Parse(msg.URL)
	if err != nil {
		f.Fatal(err)
	}
	key := link.Query().Get("key")
	for _, seed := range []struct{ target, rng string }{
		{msg.URL, ""},
		{msg.URL, "bytes=2-5"},
		{msg.URL, "bytes=99-,0-1"},
		{"/files/r/" + "x/notes.txt?key=00", ""},
		{"/files/%2e%2e/%2e%2e/etc/passwd?key=1", ""},
		{"/files/r/../../x", "bytes=-1"},
		{"/files/", ""},
	} {
		f.Add(seed.target, seed.rng)
	}
	f.Fuzz(func(t *testing.T, target, rng string) {
		if !strings.HasPrefix(target, "/") || !printable(target) || strings.ContainsAny(target, " #") || !printable(rng) {
			return // not a request net/http would send
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		header := []string{}
		if rng != "" {
			header = append(header, "Range", rng)
		}
		res, body := get(t, srv, http.MethodGet, target, header...)
		if res.StatusCode >= 500 {
			t.Fatalf("GET %q (Range %q): %d", target, rng, res.StatusCode)
		}
		if bytes.Contains(body, []byte("secret")) {
			u, err := url.Parse(target)
			if err != nil || u.Query().Get("key") != key {
				t.Fatalf("GET %q served the file's bytes without its key", target)
			}
		}
	})
}

// printable reports whether s is visible ASCII and spaces only (what a request line or header may hold).
func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
