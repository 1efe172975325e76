package chat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/chat/chattest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable Params.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newHub returns a Hub of cfg in a test directory, on a test clock, closed and checked at the end.
func newHub(t testing.TB, cfg chat.Config) (*chat.Hub, *clock) {
	t.Helper()
	c := newClock()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	h, err := chat.New(cfg, chat.Params{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Check(); err != nil {
			t.Errorf("at the end: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h, c
}

// send marshals v and hands it to the hub as m's text message.
func send(t testing.TB, h *chat.Hub, room string, m chat.Member, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	h.Receive(room, m, b, false)
}

// chatMsg is a client's chat message.
func chatMsg(text string) map[string]any { return map[string]any{"type": "chat", "text": text} }

// decode decodes a delivered chat or file message, failing on anything else.
func decode(t testing.TB, raw []byte) chat.Message {
	t.Helper()
	var m chat.Message
	if err := json.Unmarshal(raw, &m); err != nil || (m.Type != chat.TypeChat && m.Type != chat.TypeFile) {
		t.Fatalf("delivered %s: not a chat or file message (%v)", raw, err)
	}
	return m
}

// takeOne returns the one message m got since the last Take.
func takeOne(t testing.TB, m *chattest.Member) []byte {
	t.Helper()
	msgs := m.Take()
	if len(msgs) != 1 {
		t.Fatalf("%s got %d messages, want 1: %q", m.ID(), len(msgs), msgs)
	}
	return msgs[0]
}

// wantError checks that m got exactly one chat-error of code since the last Take.
func wantError(t testing.TB, m *chattest.Member, code chat.Code) {
	t.Helper()
	raw := takeOne(t, m)
	var e chat.ErrorMessage
	if err := json.Unmarshal(raw, &e); err != nil || e.Type != chat.TypeError || e.Code != code || e.Message == "" {
		t.Fatalf("%s got %s, want a chat-error %q with a message", m.ID(), raw, code)
	}
}

// wantNothing checks that none of ms got anything since the last Take.
func wantNothing(t testing.TB, ms ...*chattest.Member) {
	t.Helper()
	for _, m := range ms {
		if msgs := m.Take(); len(msgs) > 0 {
			t.Fatalf("%s got %q, want nothing", m.ID(), msgs)
		}
	}
}

func TestBroadcastIncludesSender(t *testing.T) {
	h, c := newHub(t, chat.Config{})
	ann, bob, eve := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob"), chattest.NewMember("p3", "Eve")
	h.Join("r", ann, true)
	h.Join("r", bob, true)
	h.Join("other", eve, true)

	send(t, h, "r", ann, chatMsg("  hello\r\nworld \n"))
	want := fmt.Sprintf(`{"type":"chat","id":1,"from":{"id":"p1","name":"Ann"},"text":"hello\nworld","time":%d}`,
		c.Now().UnixMilli())
	for _, m := range []*chattest.Member{ann, bob} {
		if got := string(takeOne(t, m)); got != want {
			t.Errorf("%s got %s\nwant %s", m.ID(), got, want)
		}
	}
	wantNothing(t, eve)

	c.Advance(time.Second)
	send(t, h, "r", bob, chatMsg("hi"))
	for _, m := range []*chattest.Member{ann, bob} {
		got := decode(t, takeOne(t, m))
		if got.ID != 2 || got.From != (chat.Sender{ID: "p2", Name: "Bob"}) || got.Text != "hi" ||
			got.UnixMilli != c.Now().UnixMilli() {
			t.Errorf("%s got %+v", m.ID(), got)
		}
	}
	send(t, h, "other", eve, chatMsg("elsewhere"))
	if got := decode(t, takeOne(t, eve)); got.ID != 1 {
		t.Errorf("the other room's first message has id %d, want 1", got.ID)
	}
	if s := h.Stats(); s.Messages != 3 || len(s.Rejected) != 0 {
		t.Errorf("stats %+v, want 3 messages and no rejections", s)
	}
}

// TestOrder: messages sent from many goroutines reach every member in one order, with increasing ids.
func TestOrder(t *testing.T) {
	const senders, each = 8, 20
	h, _ := newHub(t, chat.Config{Rate: 1000, Burst: senders * each})
	var ms []*chattest.Member
	for i := range senders {
		m := chattest.NewMember(fmt.Sprintf("p%d", i), "M")
		ms = append(ms, m)
		h.Join("r", m, true)
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			for j := range each {
				if err := h.Post("r", m, fmt.Sprintf("%s-%d", m.ID(), j)); err != nil {
					t.Errorf("post: %v", err)
				}
			}
		})
	}
	wg.Wait()
	first := ms[0].Messages()
	if len(first) != senders*each {
		t.Fatalf("got %d messages, want %d", len(first), senders*each)
	}
	for _, m := range ms {
		got := m.Messages()
		if !slicesEqual(got, first) {
			t.Fatalf("%s got another order than %s", m.ID(), ms[0].ID())
		}
		last := map[string]int{}
		for i, raw := range got {
			msg := decode(t, raw)
			if msg.ID != uint64(i+1) {
				t.Fatalf("message %d has id %d", i, msg.ID)
			}
			var n int
			if _, err := fmt.Sscanf(strings.TrimPrefix(msg.Text, msg.From.ID+"-"), "%d", &n); err != nil {
				t.Fatalf("text %q", msg.Text)
			}
			if prev, ok := last[msg.From.ID]; ok && n != prev+1 {
				t.Fatalf("%s's messages out of order: %d after %d", msg.From.ID, n, prev)
			}
			last[msg.From.ID] = n
		}
	}
}

func slicesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestHistory: a late joiner gets the last History messages, oldest first, then the new ones.
func TestHistory(t *testing.T) {
	h, _ := newHub(t, chat.Config{History: 3})
	ann := chattest.NewMember("p1", "Ann")
	h.Join("r", ann, true)
	for i := 1; i <= 5; i++ {
		if err := h.Post("r", ann, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	sent := ann.Take()
	late := chattest.NewMember("p2", "Late")
	h.Join("r", late, false)
	got := late.Take()
	if !slicesEqual(got, sent[2:]) {
		t.Fatalf("late joiner got %q\nwant %q", got, sent[2:])
	}
	if err := h.Post("r", ann, "m6"); err != nil {
		t.Fatal(err)
	}
	if m := decode(t, takeOne(t, late)); m.ID != 6 || m.Text != "m6" {
		t.Errorf("then got %+v", m)
	}
}

// TestHostileDataCarried: texts and names are data: they come back byte for byte, inside valid JSON.
func TestHostileDataCarried(t *testing.T) {
	for _, text := range []string{
		`<img src=x onerror=alert(1)>`,
		`<script>alert("x")</script>`,
		`"},{"type":"file","url":"javascript:alert(1)"}`,
		`\u0000 \" \\ '; DROP TABLE messages; --`,
		"emoji 🎉 and RTL \u202e and line\u2028separator",
		"tab\tand\nnewline",
		"{{constructor.constructor('alert(1)')()}}",
	} {
		t.Run(text, func(t *testing.T) {
			h, _ := newHub(t, chat.Config{})
			name := `<b onmouseover="alert(1)">Ann</b>`
			ann, bob := chattest.NewMember("p1", name), chattest.NewMember("p2", "Bob")
			h.Join("r", ann, true)
			h.Join("r", bob, true)
			send(t, h, "r", ann, chatMsg(text))
			raw := takeOne(t, bob)
			if !json.Valid(raw) {
				t.Fatalf("not JSON: %s", raw)
			}
			m := decode(t, raw)
			if m.Text != text || m.From.Name != name {
				t.Errorf("got text %q from %q; want %q from %q", m.Text, m.From.Name, text, name)
			}
			if !strings.ContainsAny(text, "\"\\\t\n\u2028") && !bytes.Contains(raw, []byte(text)) {
				t.Errorf("%s does not hold the text byte for byte", raw)
			}
		})
	}
}

// TestRefused: each bad message gets its code back to the sender alone, and nothing else happens.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   string
		binary bool
		viewer bool
		member bool // the sender is not a member
		code   chat.Code
	}{
		{name: "not json", data: `hello`, code: chat.CodeBadMessage},
		{name: "json array", data: `[1,2]`, code: chat.CodeBadMessage},
		{name: "json null", data: `null`, code: chat.CodeBadMessage},
		{name: "unknown type", data: `{"type":"shout","text":"x"}`, code: chat.CodeBadMessage},
		{name: "no type", data: `{"text":"x"}`, code: chat.CodeBadMessage},
		{name: "text a number", data: `{"type":"chat","text":5}`, code: chat.CodeBadMessage},
		{name: "no text", data: `{"type":"chat"}`, code: chat.CodeBadMessage},
		{name: "empty", data: `{"type":"chat","text":""}`, code: chat.CodeBadMessage},
		{name: "white space", data: `{"type":"chat","text":" \n\t\r\n "}`, code: chat.CodeBadMessage},
		{name: "bad utf-8", data: "{\"type\":\"chat\",\"text\":\"a\xff\xfeb\"}", code: chat.CodeBadMessage},
		{name: "bad utf-8 elsewhere", data: "{\"type\":\"chat\",\"text\":\"ok\",\"x\":\"\xc3\"}", code: chat.CodeBadMessage},
		{name: "NUL", data: `{"type":"chat","text":"a\u0000b"}`, code: chat.CodeBadMessage},
		{name: "bell", data: `{"type":"chat","text":"a\u0007b"}`, code: chat.CodeBadMessage},
		{name: "escape", data: `{"type":"chat","text":"\u001b[31mred"}`, code: chat.CodeBadMessage},
		{name: "lone CR", data: `{"type":"chat","text":"a\rb"}`, code: chat.CodeBadMessage},
		{name: "DEL", data: "{\"type\":\"chat\",\"text\":\"a\x7fb\"}", code: chat.CodeBadMessage},
		{name: "C1", data: `{"type":"chat","text":"a\u0085b"}`, code: chat.CodeBadMessage},
		{name: "too long", data: `{"type":"chat","text":"` + strings.Repeat("é", 1025) + `"}`, code: chat.CodeTooLong},
		{name: "binary outside an upload", data: "chunk", binary: true, code: chat.CodeBadMessage},
		{name: "file-end outside an upload", data: `{"type":"file-end"}`, code: chat.CodeBadMessage},
		{name: "viewer", data: `{"type":"chat","text":"hi"}`, viewer: true, code: chat.CodeForbidden},
		{name: "viewer uploads", data: `{"type":"file-begin","name":"a","size":1}`, viewer: true, code: chat.CodeForbidden},
		{name: "not a member", data: `{"type":"chat","text":"hi"}`, member: true, code: chat.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHub(t, chat.Config{})
			from, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
			h.Join("r", bob, true)
			if !tc.member {
				h.Join("r", from, !tc.viewer)
			}
			h.Receive("r", from, []byte(tc.data), tc.binary)
			wantError(t, from, tc.code)
			wantNothing(t, bob)
			if s := h.Stats(); s.Rejected[tc.code] != 1 || s.Messages != 0 {
				t.Errorf("stats %+v, want one %s rejection", s, tc.code)
			}
		})
	}
}

// TestTextLimits: MaxText counts bytes after trimming; a longest message passes.
func TestTextLimits(t *testing.T) {
	h, _ := newHub(t, chat.Config{MaxText: 10})
	ann := chattest.NewMember("p1", "Ann")
	h.Join("r", ann, true)
	if err := h.Post("r", ann, "   0123456789\n\n"); err != nil {
		t.Errorf("10 bytes after trimming: %v", err)
	}
	if err := h.Post("r", ann, "0123456789a"); !errors.Is(err, chat.ErrTooLong) {
		t.Errorf("11 bytes: %v, want ErrTooLong", err)
	}
	if err := h.Post("r", ann, "ééééé"); err != nil {
		t.Errorf("10 bytes of é: %v", err)
	}
	if err := h.Post("r", ann, "éééééé"); !errors.Is(err, chat.ErrTooLong) {
		t.Errorf("12 bytes of é: %v, want ErrTooLong", err)
	}
}

// TestRateLimit: a burst, then Rate per second, per member.
func TestRateLimit(t *testing.T) {
	h, c := newHub(t, chat.Config{Rate: 5, Burst: 10})
	ann, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Bob")
	h.Join("r", ann, true)
	h.Join("r", bob, true)
	for i := range 10 {
		send(t, h, "r", ann, chatMsg(fmt.Sprint(i)))
	}
	if got := len(bob.Take()); got != 10 {
		t.Fatalf("bob got %d of a burst of 10", got)
	}
	ann.Take()
	send(t, h, "r", ann, chatMsg("11th"))
	wantError(t, ann, chat.CodeRateLimited)
	wantNothing(t, bob)
	if err := h.Post("r", ann, "12th"); !errors.Is(err, chat.ErrRateLimited) {
		t.Errorf("post over the rate: %v", err)
	}
	if err := h.Post("r", bob, "bob has his own bucket"); err != nil {
		t.Errorf("bob: %v", err)
	}
	c.Advance(200 * time.Millisecond) // one token at 5/s
	if err := h.Post("r", ann, "after 200 ms"); err != nil {
		t.Errorf("after 200 ms: %v", err)
	}
	if err := h.Post("r", ann, "and again"); !errors.Is(err, chat.ErrRateLimited) {
		t.Errorf("a second message after 200 ms: %v", err)
	}
	if s := h.Stats(); s.Rejected[chat.CodeRateLimited] != 3 || s.Messages != 12 {
		t.Errorf("stats %+v", s)
	}
}

// TestPost: the adapter's path has the same checks, as typed errors.
func TestPost(t *testing.T) {
	h, _ := newHub(t, chat.Config{})
	phone, viewer, ann := chattest.NewMember("sip1", "Desk phone"), chattest.NewMember("v1", "V"),
		chattest.NewMember("p1", "Ann")
	h.Join("r", phone, true)
	h.Join("r", viewer, false)
	h.Join("r", ann, true)
	for _, tc := range []struct {
		m    chat.Member
		room string
		text string
		want error
	}{
		{phone, "r", "Hello from the phone\r\nsecond line\r\n", nil},
		{phone, "r", "", chat.ErrBadMessage},
		{phone, "r", "a\x00b", chat.ErrBadMessage},
		{phone, "r", "a\xffb", chat.ErrBadMessage},
		{phone, "r", strings.Repeat("x", 2049), chat.ErrTooLong},
		{viewer, "r", "hi", chat.ErrForbidden},
		{phone, "nowhere", "hi", chat.ErrForbidden},
	} {
		err := h.Post(tc.room, tc.m, tc.text)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Post(%q, %s, %q) = %v, want %v", tc.room, tc.m.ID(), tc.text, err, tc.want)
		}
		var ce *chat.Error
		if err != nil && (!errors.As(err, &ce) || ce.Message == "" || !strings.HasPrefix(err.Error(), "chat: "+string(ce.Code)+": ")) {
			t.Errorf("Post(%q): %v is not a *chat.Error with a message", tc.text, err)
		}
	}
	if m := decode(t, takeOne(t, ann)); m.Text != "Hello from the phone\nsecond line" || m.From.ID != "sip1" {
		t.Errorf("ann got %+v", m)
	}
	if errors.Is(chat.ErrTooLong, chat.ErrBadMessage) || !errors.Is(&chat.Error{Code: chat.CodeQuota, Message: "x"}, chat.ErrQuota) {
		t.Error("errors.Is does not match by code")
	}
}

// TestDropped: a member whose Deliver fails is counted and does not hold the room up.
func TestDropped(t *testing.T) {
	h, _ := newHub(t, chat.Config{})
	ann, slow := chattest.NewMember("p1", "Ann"), chattest.NewMember("p2", "Slow")
	h.Join("r", ann, true)
	h.Join("r", slow, true)
	slow.SetFailing(true)
	for i := range 3 {
		if err := h.Post("r", ann, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(ann.Take()); got != 3 {
		t.Errorf("ann got %d messages, want 3", got)
	}
	if s := h.Stats(); s.Dropped != 3 {
		t.Errorf("dropped %d, want 3", s.Dropped)
	}
}

// TestRejoinReplaces: a second Join with the same ID replaces the member; Leave of an unknown member
// or room does nothing.
func TestRejoinReplaces(t *testing.T) {
	h, _ := newHub(t, chat.Config{})
	a1, a2, bob := chattest.NewMember("p1", "Ann"), chattest.NewMember("p1", "Ann again"), chattest.NewMember("p2", "Bob")
	h.Join("r", a1, true)
	h.Join("r", bob, true)
	h.Join("r", a2, false)
	if err := h.Post("r", a2, "x"); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("the replacement is read-only: %v", err)
	}
	if err := h.Post("r", bob, "to everyone"); err != nil {
		t.Fatal(err)
	}
	if len(a1.Take()) != 0 || len(a2.Take()) != 1 {
		t.Error("the replaced member still gets messages, or its replacement does not")
	}
	h.Leave("r", chattest.NewMember("p9", "Nobody"))
	h.Leave("nowhere", bob)
}

func TestConfig(t *testing.T) {
	if err := chat.DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (chat.Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	for _, c := range []chat.Config{
		{MaxText: -1}, {MaxText: 20000}, {History: -1}, {Rate: -1}, {Burst: -1}, {MaxFile: -1},
		{RoomQuota: -1}, {MaxFiles: -1}, {Dir: "/nonexistent/dir"},
	} {
		if h, err := chat.New(c, chat.Params{}); err == nil {
			h.Close()
			t.Errorf("New(%+v) took it", c)
		}
	}
}

// TestClose removes the Hub's directory and nothing else, and is idempotent.
func TestClose(t *testing.T) {
	parent := t.TempDir()
	keep := filepath.Join(parent, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := chat.New(chat.Config{Dir: parent}, chat.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(h.Dir()) != parent {
		t.Errorf("the hub's directory %s is not in %s", h.Dir(), parent)
	}
	ann := chattest.NewMember("p1", "Ann")
	h.Join("r", ann, true)
	upload(t, h, "r", ann, "a.txt", "text/plain", []byte("hello"))
	send(t, h, "r", ann, map[string]any{"type": "file-begin", "name": "b", "size": 10})
	h.Receive("r", ann, []byte("12345"), true)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.Dir()); !os.IsNotExist(err) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Close removed another file: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	h.Join("r", ann, true)
	if err := h.Post("r", ann, "x"); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("post after Close: %v", err)
	}
	if err := h.Check(); err != nil {
		t.Error(err)
	}
}

// TestNoGlobalState: two hubs are independent.
func TestNoGlobalState(t *testing.T) {
	h1, _ := newHub(t, chat.Config{})
	h2, _ := newHub(t, chat.Config{})
	a, b := chattest.NewMember("p1", "A"), chattest.NewMember("p1", "B")
	h1.Join("r", a, true)
	h2.Join("r", b, true)
	if err := h1.Post("r", a, "x"); err != nil {
		t.Fatal(err)
	}
	wantNothing(t, b)
	if h2.Stats().Messages != 0 {
		t.Error("h2 counted h1's message")
	}
}
