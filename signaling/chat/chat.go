package chat

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Label is the label of the data channel the page opens for chat and files.
const Label = "chat"

// MaxChunk is the largest binary message of an upload (the MCU's largest data channel message).
const MaxChunk = 64 << 10

// maxName is the longest file name, in bytes, and maxMime the longest media type.
const (
	maxName = 255
	maxMime = 127
)

// Message types on the wire.
const (
	TypeChat      = "chat"
	TypeFile      = "file"
	TypeError     = "chat-error"
	TypeFileBegin = "file-begin"
	TypeFileEnd   = "file-end"
)

// Member is one participant's connection to the chat: a browser's data channel, or a SIP phone. ID is
// unique among the members of a room (a second Join with the same ID replaces the first); Name is
// shown to the others. Deliver hands one JSON text message to the client; it must not block (a client
// that is behind gets the message dropped and an error, counted in Stats.Dropped) and must not call the
// Hub. msg is shared with other members: Deliver may keep it but must not modify it.
type Member interface {
	ID() string
	Name() string
	Deliver(msg []byte) error
}

// Sender is who sent a Message. Plain data.
type Sender struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Message is a chat or file message as members get it (Type TypeChat or TypeFile; see the package
// documentation). An adapter that relays a room to a client of another kind (a SIP phone) decodes
// Deliver's messages into it. Plain data.
type Message struct {
	Type string `json:"type"`
	// ID numbers the room's messages from 1.
	ID   uint64 `json:"id"`
	From Sender `json:"from"`
	// Text is a chat message's.
	Text string `json:"text,omitempty"`
	// Name, Size, Mime and URL describe a file.
	Name string `json:"name,omitempty"`
	Size int64  `json:"size,omitempty"`
	Mime string `json:"mime,omitempty"`
	URL  string `json:"url,omitempty"`
	// UnixMilli is when the server took the message.
	UnixMilli int64 `json:"time"`
}

// ErrorMessage is a refusal, sent to the client whose message it was (Type TypeError). Plain data.
type ErrorMessage struct {
	Type    string `json:"type"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Code says why a message was refused, as ErrorMessage.Code and Error.Code carry it.
type Code string

// Error codes (see the package documentation).
const (
	CodeBadMessage  Code = "bad-message"
	CodeTooLong     Code = "too-long"
	CodeRateLimited Code = "rate-limited"
	CodeForbidden   Code = "forbidden"
	CodeTooLarge    Code = "too-large"
	CodeQuota       Code = "quota"
	CodeBusy        Code = "busy"
	CodeInternal    Code = "internal"
)

// numCodes is how many codes codeIndex knows.
const numCodes = 8

// codeIndex numbers the codes for the Rejected counters.
func codeIndex(c Code) int {
	switch c {
	case CodeBadMessage:
		return 0
	case CodeTooLong:
		return 1
	case CodeRateLimited:
		return 2
	case CodeForbidden:
		return 3
	case CodeTooLarge:
		return 4
	case CodeQuota:
		return 5
	case CodeBusy:
		return 6
	default:
		return 7
	}
}

// codeAt is codeIndex's inverse.
func codeAt(i int) Code {
	return [numCodes]Code{CodeBadMessage, CodeTooLong, CodeRateLimited, CodeForbidden, CodeTooLarge,
		CodeQuota, CodeBusy, CodeInternal}[i]
}

// Error is a refused message: what Post returns, and what a client gets as an ErrorMessage. Compare
// with errors.Is against the sentinels, which match any Error of their Code.
type Error struct {
	Code    Code
	Message string // for people; may be empty
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return "chat: " + string(e.Code)
	}
	return "chat: " + string(e.Code) + ": " + e.Message
}

// Is matches an Error of the same Code whose Message is empty (a sentinel) or equal.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Sentinels, one per Code.
var (
	ErrBadMessage  = &Error{Code: CodeBadMessage}
	ErrTooLong     = &Error{Code: CodeTooLong}
	ErrRateLimited = &Error{Code: CodeRateLimited}
	ErrForbidden   = &Error{Code: CodeForbidden}
	ErrTooLarge    = &Error{Code: CodeTooLarge}
	ErrQuota       = &Error{Code: CodeQuota}
	ErrBusy        = &Error{Code: CodeBusy}
	ErrInternal    = &Error{Code: CodeInternal}
)

// refused returns an Error of code with a formatted message.
func refused(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Config is the serialisable configuration of a Hub. Zero fields take DefaultConfig's values.
type Config struct {
	// MaxText is the longest chat message in bytes (default 2048, at most 16384).
	MaxText int `json:"max_text"`
	// History is how many of a room's latest chat and file messages a joining member gets (default 100).
	History int `json:"history"`
	// Rate and Burst are each member's token bucket for chat messages and file-begins: per second,
	// sustained (default 5), and at once (default 10).
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// MaxFile is the largest file in bytes (default 25 MiB).
	MaxFile int64 `json:"max_file"`
	// RoomQuota bounds the bytes of a room's files, those being uploaded included, at their announced
	// size (default 200 MiB); MaxFiles their number (default 50).
	RoomQuota int64 `json:"room_quota"`
	MaxFiles  int   `json:"max_files"`
	// TotalQuota bounds the bytes of every room's files together, as RoomQuota one room's (default
	// 1 GiB): the disk a server's strangers can fill. Concurrent uploads in different rooms may pass it
	// by at most one MaxFile each.
	TotalQuota int64 `json:"total_quota"`
	// Dir is where the Hub makes its own directory for the files (os.MkdirTemp; Close removes it, and
	// nothing else); empty: the system's temporary directory.
	Dir string `json:"dir"`
}

// DefaultConfig returns the defaults: 2048-byte messages, 100 messages of history, 5 messages a second
// per member in bursts of 10, files of up to 25 MiB, 200 MiB and 50 files per room, 1 GiB in all, in the
// system's temporary directory.
func DefaultConfig() Config {
	return Config{MaxText: 2048, History: 100, Rate: 5, Burst: 10, MaxFile: 25 << 20, RoomQuota: 200 << 20,
		MaxFiles: 50, TotalQuota: 1 << 30}
}

// withDefaults fills c's zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxText == 0 {
		c.MaxText = d.MaxText
	}
	if c.History == 0 {
		c.History = d.History
	}
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.Burst == 0 {
		c.Burst = d.Burst
	}
	if c.MaxFile == 0 {
		c.MaxFile = d.MaxFile
	}
	if c.RoomQuota == 0 {
		c.RoomQuota = d.RoomQuota
	}
	if c.TotalQuota == 0 {
		c.TotalQuota = d.TotalQuota
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = d.MaxFiles
	}
	return c
}

// Validate reports every field out of range, joined, or nil. Zero fields are in range (they take the
// defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	// A message of MaxText bytes must fit one data channel message once JSON-escaped (at most 2x).
	if c.MaxText < 1 || c.MaxText > 16384 {
		errs = append(errs, fmt.Errorf("max text %d: want 1..16384 bytes", c.MaxText))
	}
	if c.History < 1 || c.History > 10000 {
		errs = append(errs, fmt.Errorf("history %d: want 1..10000 messages", c.History))
	}
	if c.Rate < 0.01 || c.Rate > 1000 {
		errs = append(errs, fmt.Errorf("rate %v: want 0.01..1000 per second", c.Rate))
	}
	if c.Burst < 1 || c.Burst > 10000 {
		errs = append(errs, fmt.Errorf("burst %d: want 1..10000", c.Burst))
	}
	if c.MaxFile < 1 || c.MaxFile > 1<<40 {
		errs = append(errs, fmt.Errorf("max file %d: want 1 byte..1 TiB", c.MaxFile))
	}
	if c.RoomQuota < 1 || c.RoomQuota > 1<<50 {
		errs = append(errs, fmt.Errorf("room quota %d: want 1 byte..1 PiB", c.RoomQuota))
	}
	if c.TotalQuota < 1 || c.TotalQuota > 1<<50 {
		errs = append(errs, fmt.Errorf("total quota %d: want 1 byte..1 PiB", c.TotalQuota))
	}
	if c.MaxFiles < 1 || c.MaxFiles > 100000 {
		errs = append(errs, fmt.Errorf("max files %d: want 1..100000", c.MaxFiles))
	}
	return errors.Join(errs...)
}

// Params are a Hub's collaborators.
type Params struct {
	// Logger receives file and room lifecycle (Debug) and disk trouble (Warn); nil discards them.
	Logger *slog.Logger
	// Now is the clock of message times and rate limits; nil: time.Now.
	Now func() time.Time
}

// Stats count a Hub's messages since New. Plain data.
type Stats struct {
	// Messages is how many chat messages were taken; Files and FileBytes are the files stored now.
	Messages  uint64
	Files     int64
	FileBytes int64
	// Rejected counts refused messages and Posts by code (codes never used are absent).
	Rejected map[Code]uint64
	// Dropped counts messages a Member's Deliver refused.
	Dropped uint64
}

// Hub is the chat of every room of a server. Create it with New, serve its files with Handler, and
// end it with Close. Safe for concurrent use; it starts no goroutines.
type Hub struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	dir string

	mu     sync.Mutex // then room.mu
	rooms  map[string]*room
	closed bool

	messages, dropped atomic.Uint64
	used              atomic.Int64 // the bytes of every room's files and uploads (room.total)
	files, fileBytes  atomic.Int64
	rejected          [numCodes]atomic.Uint64
}

// room is one room's chat.
type room struct {
	// out orders the room's deliveries: it is taken while mu is held and held, without mu, while
	// delivering, so messages go out in the order they were numbered.
	out sync.Mutex

	mu      sync.Mutex
	ended   bool // the last member left, or the Hub closed: the room is no longer in Hub.rooms
	members map[string]*member
	nextID  uint64
	history [][]byte // the latest Config.History messages, oldest first
	files   map[string]*file
	// used and count are the bytes (as announced) and number of the room's files and its uploads under
	// way (finishing ones too: those no longer any member's, between file-end and their message).
	used      int64
	count     int
	finishing int
	// total is the Hub's sum of every room's used (Config.TotalQuota), changed with used.
	total *atomic.Int64
}

// member is one Member in a room.
type member struct {
	m       Member
	canSend bool
	limit   *rate.Limiter
	up      *upload // the upload under way, or nil
	discard bool    // an upload was refused or failed: drop its remaining chunks and file-end quietly
}

// file is a stored file.
type file struct {
	id, key, name, mime, path string
	size                      int64
	at                        time.Time
}

// delivery is one message for one Member.
type delivery struct {
	to  Member
	msg []byte
}

// New checks cfg and makes the Hub's directory for files.
func New(cfg Config, p Params) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	cfg = cfg.withDefaults()
	dir, err := os.MkdirTemp(cfg.Dir, "mcu-chat-")
	if err != nil {
		return nil, fmt.Errorf("chat: file directory: %w", err)
	}
	h := &Hub{cfg: cfg, log: p.Logger, now: p.Now, dir: dir, rooms: make(map[string]*room)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// Close ends every room: uploads stop, and the Hub's directory and everything in it is removed. Later
// Joins do nothing, messages are refused and downloads are not found. Idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var ups []*upload
	for name, r := range h.rooms {
		r.mu.Lock()
		for _, mb := range r.members {
			if mb.up != nil {
				ups = append(ups, mb.up)
			}
		}
		h.endLocked(r)
		r.mu.Unlock()
		delete(h.rooms, name)
	}
	h.mu.Unlock()
	for _, u := range ups {
		u.abort()
	}
	if err := os.RemoveAll(h.dir); err != nil {
		return fmt.Errorf("chat: remove files: %w", err)
	}
	return nil
}

// Stats returns the counts now.
func (h *Hub) Stats() Stats {
	s := Stats{Messages: h.messages.Load(), Files: h.files.Load(), FileBytes: h.fileBytes.Load(),
		Dropped: h.dropped.Load(), Rejected: make(map[Code]uint64)}
	for i := range h.rejected {
		if n := h.rejected[i].Load(); n > 0 {
			s.Rejected[codeAt(i)] = n
		}
	}
	return s
}

// Join makes m a member of the room called roomName (made at its first Join): m gets the room's
// history at once, oldest first, then every new message. canSend false makes it read-only (a viewer, or a token without canPublishData). A member
// already in the room with m's ID is replaced (its upload abandoned).
func (h *Hub) Join(roomName string, m Member, canSend bool) {
	id := m.ID()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	r := h.rooms[roomName]
	if r == nil {
		r = &room{members: make(map[string]*member), files: make(map[string]*file), total: &h.used}
		h.rooms[roomName] = r
	}
	r.mu.Lock()
	h.mu.Unlock()
	var old *upload
	if prev := r.members[id]; prev != nil && prev.up != nil {
		old = r.dropUploadLocked(prev)
	}
	r.members[id] = &member{m: m, canSend: canSend,
		limit: rate.NewLimiter(rate.Limit(h.cfg.Rate), h.cfg.Burst)}
	ds := make([]delivery, len(r.history))
	for i, msg := range r.history {
		ds[i] = delivery{to: m, msg: msg}
	}
	h.unlockAndDeliver(r, ds)
	if old != nil {
		old.abort()
	}
}

// Leave ends m's membership of roomName, abandoning its upload. When the last member leaves, the room's
// history and files are deleted (before Leave returns).
func (h *Hub) Leave(roomName string, m Member) {
	id := m.ID()
	h.mu.Lock()
	r := h.rooms[roomName]
	if r == nil {
		h.mu.Unlock()
		return
	}
	r.mu.Lock()
	mb := r.members[id]
	if mb == nil {
		r.mu.Unlock()
		h.mu.Unlock()
		return
	}
	var up *upload
	if mb.up != nil {
		up = r.dropUploadLocked(mb)
	}
	delete(r.members, id)
	var gone []*file
	if len(r.members) == 0 {
		delete(h.rooms, roomName)
		gone = h.endLocked(r)
	}
	r.mu.Unlock()
	h.mu.Unlock()
	if up != nil {
		up.abort()
	}
	for _, f := range gone {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			h.log.Warn("chat: remove file", "room", roomName, "err", err)
		}
	}
	if len(gone) > 0 {
		h.log.Debug("chat: room ended", "room", roomName, "files", len(gone))
	}
}

// endLocked ends r (whose members are gone, or the Hub closing) and returns its files to delete. The
// caller holds h.mu and r.mu and has removed r from h.rooms.
func (h *Hub) endLocked(r *room) []*file {
	r.ended = true
	var gone []*file
	for _, f := range r.files {
		gone = append(gone, f)
		h.files.Add(-1)
		h.fileBytes.Add(-f.size)
	}
	r.files, r.history, r.members = nil, nil, nil
	r.total.Add(-r.used)
	r.used, r.count = 0, 0
	return gone
}

// Receive handles one data channel message from m's client: text (JSON), or binary (a chunk of an
// upload). Calls for one member must come one at a time, in the order the client sent them (as
// mcu.DataListener makes them). A refusal goes back to m as an ErrorMessage.
func (h *Hub) Receive(roomName string, m Member, data []byte, binary bool) {
	var err *Error
	if binary {
		err = h.chunk(roomName, m, data)
	} else {
		err = h.text(roomName, m, data)
	}
	if err != nil {
		h.refuse(roomName, m, err)
	}
}

// Post takes a chat message from an adapter (the body of a SIP MESSAGE), with the same checks as a
// client's "chat", and returns the refusal (*Error; compare with errors.Is) instead of sending it.
func (h *Hub) Post(roomName string, m Member, text string) error {
	if err := h.post(roomName, m, text); err != nil {
		h.rejected[codeIndex(err.Code)].Add(1)
		return err
	}
	return nil
}

// inbound is a client's text message: every type's fields.
type inbound struct {
	Type string `json:"type"`
	Text string `json:"text"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Mime string `json:"mime"`
}

// text handles a client's text message.
func (h *Hub) text(roomName string, m Member, data []byte) *Error {
	// encoding/json would quietly turn bad UTF-8 into U+FFFD.
	if !utf8.Valid(data) {
		return refused(CodeBadMessage, "not UTF-8")
	}
	var in inbound
	if err := json.Unmarshal(data, &in); err != nil {
		bad := refused(CodeBadMessage, "not a JSON message of the chat protocol")
		var typ struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &typ) == nil && typ.Type == TypeFileBegin {
			return h.begin(roomName, m, in, bad) // a refused file-begin: its chunks are dropped
		}
		return bad
	}
	switch in.Type {
	case TypeChat:
		return h.post(roomName, m, in.Text)
	case TypeFileBegin:
		return h.begin(roomName, m, in, nil)
	case TypeFileEnd:
		return h.end(roomName, m)
	}
	return refused(CodeBadMessage, "unknown type %.40q", in.Type)
}

// lockRoom returns the room called name, locked, if it has a member of m's ID that may send; otherwise
// nil and the refusal.
func (h *Hub) lockRoom(name, id string) (*room, *member, *Error) {
	h.mu.Lock()
	r := h.rooms[name]
	h.mu.Unlock()
	if r != nil {
		r.mu.Lock()
		if mb := r.members[id]; mb != nil && !r.ended {
			if !mb.canSend {
				r.mu.Unlock()
				return nil, nil, refused(CodeForbidden, "this member may only read")
			}
			return r, mb, nil
		}
		r.mu.Unlock()
	}
	return nil, nil, refused(CodeForbidden, "not a member of the room")
}

// post takes a chat message.
func (h *Hub) post(roomName string, m Member, text string) *Error {
	from := Sender{ID: m.ID(), Name: m.Name()}
	text, err := h.cleanText(text)
	if err != nil {
		return err
	}
	r, mb, err := h.lockRoom(roomName, from.ID)
	if err != nil {
		return err
	}
	now := h.now()
	if !mb.limit.AllowN(now, 1) {
		r.mu.Unlock()
		return refused(CodeRateLimited, "more than %v messages a second", h.cfg.Rate)
	}
	h.messages.Add(1)
	h.broadcastUnlock(r, Message{Type: TypeChat, From: from, Text: text, UnixMilli: now.UnixMilli()})
	return nil
}

// cleanText checks a chat message and returns it trimmed, with LF line ends.
func (h *Hub) cleanText(s string) (string, *Error) {
	if !utf8.ValidString(s) {
		return "", refused(CodeBadMessage, "text is not UTF-8")
	}
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if s == "" {
		return "", refused(CodeBadMessage, "empty message")
	}
	if len(s) > h.cfg.MaxText {
		return "", refused(CodeTooLong, "%d bytes, at most %d", len(s), h.cfg.MaxText)
	}
	for _, c := range s {
		if unicode.IsControl(c) && c != '\n' && c != '\t' {
			return "", refused(CodeBadMessage, "control character %U", c)
		}
	}
	return s, nil
}

// broadcastUnlock numbers msg, keeps it in the history and delivers it to every member. The caller
// holds r.mu, which is released.
func (h *Hub) broadcastUnlock(r *room, msg Message) {
	r.nextID++
	msg.ID = r.nextID
	b := encode(msg)
	if len(r.history) >= h.cfg.History {
		n := copy(r.history, r.history[len(r.history)-h.cfg.History+1:])
		clear(r.history[n:])
		r.history = r.history[:n]
	}
	r.history = append(r.history, b)
	ds := make([]delivery, 0, len(r.members))
	for _, mb := range r.members {
		ds = append(ds, delivery{to: mb.m, msg: b})
	}
	h.unlockAndDeliver(r, ds)
}

// unlockAndDeliver hands ds out in the room's order: it takes r.out before it releases r.mu (which the
// caller holds), then delivers without r.mu.
func (h *Hub) unlockAndDeliver(r *room, ds []delivery) {
	if len(ds) == 0 {
		r.mu.Unlock()
		return
	}
	r.out.Lock()
	r.mu.Unlock()
	defer r.out.Unlock()
	for _, d := range ds {
		if err := d.to.Deliver(d.msg); err != nil {
			h.dropped.Add(1)
		}
	}
}

// refuse counts err and tells m, in the room's order when m is a member.
func (h *Hub) refuse(roomName string, m Member, err *Error) {
	h.rejected[codeIndex(err.Code)].Add(1)
	msg := err.Message
	if msg == "" {
		msg = string(err.Code)
	}
	b := encode(ErrorMessage{Type: TypeError, Code: err.Code, Message: msg})
	id := m.ID()
	h.mu.Lock()
	r := h.rooms[roomName]
	h.mu.Unlock()
	if r != nil {
		r.mu.Lock()
		if r.members[id] != nil && !r.ended {
			h.unlockAndDeliver(r, []delivery{{to: m, msg: b}})
			return
		}
		r.mu.Unlock()
	}
	if m.Deliver(b) != nil {
		h.dropped.Add(1)
	}
}

// encode marshals a wire message without escaping HTML characters: the page shows text as text, and
// the bytes a client sent come back as they were.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // strings and numbers only: cannot happen
		return []byte(`{"type":"chat-error","code":"internal","message":"encode"}`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand.Read crashes the program instead)
	return hex.EncodeToString(b)
}

// filePath is where the file or upload id lives: never a name a client chose.
func (h *Hub) filePath(id string) string { return filepath.Join(h.dir, id) }
