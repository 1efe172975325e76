package sip

// The room's chat over SIP MESSAGE (RFC 3428): a caller in a call is a member of its room's chat
// (Params.Chat). What it sends in a MESSAGE, inside the call's dialog or outside it from the caller's
// own address and URI to the room's, goes to the room; what the others write reaches it as MESSAGE
// requests inside the dialog, one line each ("Ann: hello", or a shared file's name, size and link).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/signaling/chat"
)

// ChatHub is the rooms' chat (*chat.Hub) as the SIP server uses it.
type ChatHub interface {
	Join(room string, m chat.Member, canSend bool)
	Leave(room string, m chat.Member)
	Post(room string, m chat.Member, text string) error
}

// Chat tuning.
const (
	// chatQueue is how many lines may wait for a caller; more are dropped (Stats.ChatDropped).
	chatQueue = 16
	// chatTimeout bounds one MESSAGE to a caller.
	chatTimeout = 4 * time.Second
)

// errChatBehind is Deliver's error for a caller whose lines pile up.
var errChatBehind = errors.New("sip: the caller's chat queue is full")

// chatMember is a caller in its room's chat. Lines to it wait in a bounded queue drained by one
// goroutine, so the hub never waits on the network.
type chatMember struct {
	c      *session
	id     string
	since  int64 // Unix ms of the join: older messages (the history) are not sent to a phone
	lines  chan string
	failed bool // a MESSAGE to the caller failed; owned by the sending goroutine
}

// ID is the caller's participant ID, as in the roster.
func (m *chatMember) ID() string { return m.id }

// Name is the caller's display name.
func (m *chatMember) Name() string { return m.c.name }

// Deliver queues one of the room's messages for the caller as a line of text. The caller's own
// messages (it has them) and the history from before it joined (a phone shows messages as they come)
// are skipped.
func (m *chatMember) Deliver(b []byte) error {
	var msg chat.Message
	if err := json.Unmarshal(b, &msg); err != nil {
		return nil // an error message: the hub sends those only to the sender, and Post returns them
	}
	if msg.From.ID == m.id || msg.UnixMilli < m.since {
		return nil
	}
	line, ok := m.c.s.chatLine(msg)
	if !ok {
		return nil
	}
	select {
	case m.lines <- line:
		return nil
	default:
		m.c.s.chatDropped.Add(1)
		return errChatBehind
	}
}

// chatLine is how a phone shows a message: "Ann: hello", "Ann shared notes.pdf (12.3 KB): URL".
func (s *Server) chatLine(msg chat.Message) (string, bool) {
	name := msg.From.Name
	if name == "" {
		name = "Someone"
	}
	switch msg.Type {
	case chat.TypeChat:
		return name + ": " + msg.Text, true
	case chat.TypeFile:
		link := msg.URL
		if s.cfg.PublicURL != "" {
			link = strings.TrimSuffix(s.cfg.PublicURL, "/") + msg.URL
		}
		return fmt.Sprintf("%s shared %s (%s): %s", name, msg.Name, fileSize(msg.Size), link), true
	}
	return "", false
}

// fileSize writes a size as people read it.
func fileSize(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1024*1024:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KB"
	}
	return strconv.FormatFloat(float64(n)/1024/1024, 'f', 1, 64) + " MB"
}

// joinChat makes an answered call a member of its room's chat, once; participant is its roster ID.
func (c *session) joinChat(participant string) {
	s := c.s
	if s.chat == nil {
		return
	}
	m := &chatMember{c: c, id: participant, since: time.Now().UnixMilli(), lines: make(chan string, chatQueue)}
	c.mu.Lock()
	if c.chat != nil || c.state == stateEnding {
		c.mu.Unlock()
		return
	}
	c.chat = m
	c.mu.Unlock()
	if !s.spawn(func() { c.sendChat(m) }) {
		return
	}
	s.chat.Join(c.room, m, true)
	c.mu.Lock()
	ended := c.state == stateEnding
	c.mu.Unlock()
	if ended { // hung up during the join: leaveChat may have come first
		s.chat.Leave(c.room, m)
	}
}

// leaveChat takes an ending call out of its room's chat.
func (c *session) leaveChat() {
	c.mu.Lock()
	m := c.chat
	c.mu.Unlock()
	if m != nil {
		c.s.chat.Leave(c.room, m)
	}
}

// sendChat sends the caller its lines as MESSAGE requests in the dialog, one at a time, until the call
// ends. A caller that refuses one (a phone without MESSAGE says 405 or 501) gets no more.
func (c *session) sendChat(m *chatMember) {
	for {
		select {
		case <-c.done:
			return
		case line := <-m.lines:
			if m.failed {
				continue
			}
			req := c.request(sip.MESSAGE)
			req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
			req.SetBody([]byte(line))
			ctx, cancel := context.WithTimeout(c.s.ctx, chatTimeout)
			res, err := c.s.do(ctx, req)
			cancel()
			switch {
			case err != nil:
				c.log.Debug("sip message unanswered", "err", err)
			case res.StatusCode >= 300:
				c.log.Info("sip caller refuses chat messages", "status", res.StatusCode)
				m.failed = true
			default:
				c.s.chatSent.Add(1)
			}
		}
	}
}

// onMessage takes a chat line from a caller: a MESSAGE in its call's dialog, or outside it to the
// room's URI from the caller's address and URI.
func (s *Server) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	if s.chat == nil {
		s.reply(tx, req, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", s.allowed()))
		return
	}
	c := s.dialogOf(req)
	if c == nil {
		c = s.callerOf(req)
	}
	if c == nil {
		s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist",
			warning(399, "chat is for callers in a call"))
		return
	}
	c.mu.Lock()
	m := c.chat
	c.mu.Unlock()
	if m == nil {
		s.reply(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != "text/plain" {
		s.reply(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept", "text/plain"))
		return
	}
	err := s.chat.Post(c.room, m, string(req.Body()))
	if err == nil {
		s.chatReceived.Add(1)
		s.reply(tx, req, sip.StatusOK, "OK")
		return
	}
	s.chatRefused.Add(1)
	var ce *chat.Error
	code := chat.CodeInternal
	if errors.As(err, &ce) {
		code = ce.Code
	}
	c.log.Debug("sip message refused", "err", err)
	switch code {
	case chat.CodeTooLong:
		s.reply(tx, req, sip.StatusRequestEntityTooLarge, "Request Entity Too Large", warning(399, "chat messages are short"))
	case chat.CodeRateLimited:
		s.reply(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "1"),
			warning(399, "too many chat messages"))
	case chat.CodeForbidden:
		s.reply(tx, req, sip.StatusForbidden, "Forbidden")
	case chat.CodeBadMessage:
		s.reply(tx, req, sip.StatusBadRequest, "Bad Request", warning(399, "not a chat message (empty, bad UTF-8 or control characters)"))
	default:
		s.reply(tx, req, sip.StatusInternalServerError, "Server Internal Error")
	}
}

// callerOf finds the call a MESSAGE outside any dialog comes from: an answered call in the room its
// Request-URI names, from the same source address, whose caller has the From URI's user and host. A
// phone such as baresip sends its chat this way.
func (s *Server) callerOf(req *sip.Request) *session {
	room, ok := roomOf(req.Recipient)
	from := req.From()
	src := sourceAddr(req.Source())
	if !ok || from == nil || !src.IsValid() {
		return nil
	}
	s.mu.Lock()
	calls := make([]*session, 0, len(s.sessions))
	for _, c := range s.sessions {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for _, c := range calls {
		c.mu.Lock()
		match := c.state == stateActive && c.room == room && c.src == src.Addr() &&
			strings.EqualFold(c.remote.uri.User, from.Address.User) && strings.EqualFold(c.remote.uri.Host, from.Address.Host)
		c.mu.Unlock()
		if match {
			return c
		}
	}
	return nil
}
