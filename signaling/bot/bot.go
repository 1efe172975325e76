// Package bot is a synthetic participant that joins a room the way the browser page does: over the
// WebSocket JSON protocol of package signaling (join, offer/answer, trickled candidates both ways, leave),
// with a peer.Client as its media connection. What it sends comes from the sources it is given:
//   - package live: a live test pattern (its colour and name, a clock, a moving bar) and a tone, through
//     pion/mediadevices and this project's encoders;
//   - package device: a real V4L2 camera and microphone (cmd/mcubot as a headless room client);
//   - package replay: pre-encoded clips, so cheap that many bots can load a server for the capacity
//     benchmark (cmd/mcubench) and the soak (cmd/mcusoak).
//
// It is a client that carries media: unlike the rest of package signaling, its subpackages import codec
// packages (to encode what they send and decode what they receive). None of them contains cgo.
//
// Goroutines per Bot: a socket reader (server candidates, roster, errors, the end of the session) and a
// socket writer (the bot's trickled candidates), plus the peer.Client's own. Close stops and waits for
// all of them.
package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/signaling/bot/peer"
)

// Timeouts of the signalling.
const (
	// JoinTimeout bounds Join (dial, join, offer and answer) when its context has no earlier deadline.
	JoinTimeout = 15 * time.Second
	// writeTimeout bounds one message write.
	writeTimeout = 2 * time.Second
	// leaveTimeout is how long Close waits for the server to close the socket after "leave".
	leaveTimeout = 2 * time.Second
	// outQueue is the number of candidates that may wait for the writer; more are dropped.
	outQueue = 64
)

// Config describes one bot. It is plain data.
type Config struct {
	// URL is the server's address, http://host:port (https, ws and wss work too); the socket is its /ws.
	URL string
	// Room and Name to join with; Layout is "grid", "speaker" or empty for the server's default.
	Room, Name, Layout string
	// Media configures the bot's media connection. Join fills in ICEServers (from the server's
	// "joined", when empty) and IncludeLoopback (when the server's host is a loopback address).
	Media peer.Config
}

// Params holds what a bot is given rather than configured with. It is handed to Join once; the sources in
// it then belong to the bot.
type Params struct {
	// Video and Audio are what the bot sends (see peer.Params); nil makes that kind receive-only. Join
	// takes ownership of both: they are closed with the bot, or by Join when it fails.
	Video peer.VideoSource
	Audio peer.Source
	// Logger receives lifecycle messages, for the bot and its media connection; nil discards them.
	Logger *slog.Logger
}

// ServerError is an "error" message from the server, as returned by Join or sent on Err. It is plain data.
type ServerError struct {
	// Code is the protocol's error code (signaling.ErrorCode: "room-full", "bad-sdp", "internal", ...);
	// Message the server's human-readable explanation.
	Code, Message string
}

// Error returns "server error CODE: MESSAGE".
func (e *ServerError) Error() string { return "server error " + e.Code + ": " + e.Message }

// Bot is one participant in a room. Its methods are safe for concurrent use. Create it with Join, stop it
// with Close.
type Bot struct {
	cfg    Config
	params Params
	log    *slog.Logger
	ws     *websocket.Conn
	client *peer.Client
	id     string

	ctx    context.Context // cancelled by Close: stops the reader and the writer
	cancel context.CancelFunc
	wg     sync.WaitGroup
	out    chan []byte   // messages for the writer
	done   chan struct{} // closed when the reader has ended: the session is over
	errc   chan error    // the reason the session ended, unless Close ended it

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	dropped   atomic.Uint64 // candidates the writer queue had no room for

	mu        sync.Mutex
	offerSent bool                      // local candidates may go out
	pending   []webrtc.ICECandidateInit // local candidates gathered before the offer went out
	others    map[string]string         // the other participants, id to name
	lastErr   *ServerError              // the latest error message from the server
}

// inMsg is any server message, decoded loosely.
type inMsg struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	SDP          string          `json:"sdp"`
	Candidate    *wireCandidate  `json:"candidate"`
	ICEServers   []wireICEServer `json:"iceServers"`
	Participants []wireMember    `json:"participants"`
	Participant  *wireMember     `json:"participant"`
	Code         string          `json:"code"`
	Message      string          `json:"message"`
}

type wireCandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

type wireICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

type wireMember struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Join connects to the server, joins cfg.Room as cfg.Name, negotiates media and returns once the answer
// is applied (the media connection is then still being established: watch Stats). ctx bounds the join
// (at most JoinTimeout); the bot lives until Close or until the server ends the session (Err).
func Join(ctx context.Context, cfg Config, p Params) (*Bot, error) {
	b, err := join(ctx, cfg, p)
	if err != nil {
		if b != nil {
			p = b.params // what was not handed over to a peer.Client
		}
		if p.Video != nil {
			p.Video.Close()
		}
		if p.Audio != nil {
			p.Audio.Close()
		}
		return nil, err
	}
	return b, nil
}

func join(ctx context.Context, cfg Config, p Params) (*Bot, error) {
	if cfg.Room == "" || cfg.Name == "" {
		return nil, errors.New("bot: room and name are required")
	}
	wsURL, loopback, err := socketURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bot: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("room", cfg.Room, "name", cfg.Name)
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("bot %s: dial %s: %w", cfg.Name, wsURL, err)
	}
	ws.SetReadLimit(1 << 20)
	b := &Bot{cfg: cfg, params: p, log: log, ws: ws, out: make(chan []byte, outQueue), done: make(chan struct{}),
		errc: make(chan error, 1), others: make(map[string]string)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if err := b.join(ctx, loopback); err != nil {
		b.cancel()
		ws.CloseNow()
		var cerr error
		if b.client != nil {
			cerr = b.client.Close()
		}
		b.wg.Wait()
		return b, errors.Join(fmt.Errorf("bot %s: %w", cfg.Name, err), cerr)
	}
	b.wg.Add(1)
	go b.readLoop()
	log.Info("bot joined", "participant", b.id)
	return b, nil
}

// join runs the signalling up to the applied answer, on the caller's goroutine. It starts the writer.
func (b *Bot) join(ctx context.Context, loopback bool) error {
	join := map[string]string{"type": "join", "room": b.cfg.Room, "name": b.cfg.Name}
	if b.cfg.Layout != "" {
		join["layout"] = b.cfg.Layout
	}
	if err := b.write(ctx, join); err != nil {
		return err
	}
	joined, err := b.readUntil(ctx, "joined", nil)
	if err != nil {
		return err
	}
	b.id = joined.ID
	for _, p := range joined.Participants {
		b.others[p.ID] = p.Name
	}

	media := b.cfg.Media
	if len(media.ICEServers) == 0 {
		for _, s := range joined.ICEServers {
			media.ICEServers = append(media.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username,
				Credential: s.Credential})
		}
	}
	if loopback {
		media.IncludeLoopback = true
	}
	client, err := peer.New(media, peer.Params{Video: b.params.Video, Audio: b.params.Audio,
		OnICECandidate: b.onLocalCandidate, Logger: b.log})
	b.params.Video, b.params.Audio = nil, nil // the client owns them now, even when New failed
	if err != nil {
		return err
	}
	b.client = client
	offer, err := b.client.Offer()
	if err != nil {
		return err
	}
	if err := b.write(ctx, map[string]string{"type": "offer", "sdp": offer}); err != nil {
		return err
	}
	b.wg.Add(1)
	go b.writeLoop()
	b.mu.Lock()
	b.offerSent = true
	for _, c := range b.pending {
		b.queueCandidateLocked(c)
	}
	b.pending = nil
	b.mu.Unlock()

	var early []webrtc.ICECandidateInit // server candidates that came before the answer
	answer, err := b.readUntil(ctx, "answer", func(m *inMsg) {
		if m.Type == "candidate" && m.Candidate != nil && m.Candidate.Candidate != "" {
			early = append(early, m.Candidate.init())
		}
	})
	if err != nil {
		return err
	}
	if err := b.client.SetAnswer(answer.SDP); err != nil {
		return err
	}
	for _, c := range early {
		if err := b.client.AddICECandidate(c); err != nil {
			b.log.Debug("server candidate", "err", err)
		}
	}
	return nil
}

// ID returns the participant ID the server gave the bot.
func (b *Bot) ID() string { return b.id }

// Client returns the bot's media connection (pictures and audio when it decodes, statistics).
func (b *Bot) Client() *peer.Client { return b.client }

// Stats returns what the bot has received so far (see peer.ReceiveStats).
func (b *Bot) Stats() peer.ReceiveStats { return b.client.ReceiveStats() }

// Participants returns how many other participants the bot knows to be in the room, from "joined" and
// the roster events since.
func (b *Bot) Participants() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.others)
}

// CandidatesDropped returns how many local candidates found the send queue full (never, in practice).
func (b *Bot) CandidatesDropped() uint64 { return b.dropped.Load() }

// Err returns a channel that receives, once, why the session ended when the server ended it (it closed
// the socket, usually after an "internal" error: the media connection failed or the server shut down) or
// the socket failed. Nothing is sent when Close ends the session. Close must still be called.
func (b *Bot) Err() <-chan error { return b.errc }

// Done returns a channel that is closed when the session has ended, for whatever reason.
func (b *Bot) Done() <-chan struct{} { return b.done }

// Close sends "leave", waits briefly for the server to close the socket, then closes the socket and the
// media client and waits for every goroutine. It is idempotent and returns the first call's result.
func (b *Bot) Close() error {
	b.closeOnce.Do(func() {
		b.closing.Store(true)
		var errs []error
		select {
		case <-b.done: // the server has already ended the session
		default:
			ctx, cancel := context.WithTimeout(b.ctx, writeTimeout)
			err := b.write(ctx, map[string]string{"type": "leave"})
			cancel()
			if err == nil {
				t := time.NewTimer(leaveTimeout)
				select {
				case <-b.done:
				case <-t.C:
					errs = append(errs, errors.New("bot: the server did not close the socket after leave"))
				}
				t.Stop()
			}
		}
		b.cancel()
		b.ws.CloseNow()
		if err := b.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bot: close client: %w", err))
		}
		b.wg.Wait()
		b.closeErr = errors.Join(errs...)
		b.log.Info("bot left", "participant", b.id)
	})
	return b.closeErr
}

// readLoop handles server messages until the socket closes.
func (b *Bot) readLoop() {
	defer b.wg.Done()
	defer close(b.done)
	for {
		var m inMsg
		if err := b.read(b.ctx, &m); err != nil {
			if b.closing.Load() {
				return
			}
			b.mu.Lock()
			last := b.lastErr
			b.mu.Unlock()
			if last != nil {
				err = fmt.Errorf("session ended after %w (%w)", last, err)
			} else {
				err = fmt.Errorf("session ended: %w", err)
			}
			b.log.Warn("bot dropped by the server", "err", err)
			b.errc <- err
			return
		}
		switch m.Type {
		case "candidate":
			if m.Candidate != nil && m.Candidate.Candidate != "" {
				if err := b.client.AddICECandidate(m.Candidate.init()); err != nil {
					b.log.Debug("server candidate", "err", err)
				}
			}
		case "participant-joined":
			if m.Participant != nil {
				b.mu.Lock()
				b.others[m.Participant.ID] = m.Participant.Name
				b.mu.Unlock()
			}
		case "participant-left":
			b.mu.Lock()
			delete(b.others, m.ID)
			b.mu.Unlock()
		case "error":
			e := &ServerError{Code: m.Code, Message: m.Message}
			b.mu.Lock()
			b.lastErr = e
			b.mu.Unlock()
			b.log.Warn("server error", "err", e)
		case "offer":
			b.log.Warn("the server sent an offer; bots do not renegotiate")
		}
	}
}

// writeLoop sends queued messages (the bot's candidates) until Close.
func (b *Bot) writeLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case msg := <-b.out:
			ctx, cancel := context.WithTimeout(b.ctx, writeTimeout)
			err := b.ws.Write(ctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				b.log.Debug("write candidate", "err", err)
			}
		}
	}
}

// onLocalCandidate is the client's OnICECandidate: it queues the candidate, or keeps it until the offer
// has gone out. It never blocks.
func (b *Bot) onLocalCandidate(c webrtc.ICECandidateInit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.offerSent {
		b.pending = append(b.pending, c)
		return
	}
	b.queueCandidateLocked(c)
}

// queueCandidateLocked queues a candidate message without blocking; an empty candidate is the end of
// candidates (null). b.mu is held so that the end stays last.
func (b *Bot) queueCandidateLocked(c webrtc.ICECandidateInit) {
	var msg []byte
	if c.Candidate == "" {
		msg = []byte(`{"type":"candidate","candidate":null}`)
	} else {
		var err error
		msg, err = json.Marshal(struct {
			Type      string        `json:"type"`
			Candidate wireCandidate `json:"candidate"`
		}{"candidate", wireCandidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex,
			UsernameFragment: c.UsernameFragment}})
		if err != nil {
			b.log.Debug("encode candidate", "err", err)
			return
		}
	}
	select {
	case b.out <- msg:
	default:
		b.dropped.Add(1)
	}
}

func (b *Bot) write(ctx context.Context, msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if err := b.ws.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

func (b *Bot) read(ctx context.Context, m *inMsg) error {
	typ, data, err := b.ws.Read(ctx)
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	if typ != websocket.MessageText {
		return errors.New("read message: binary frame")
	}
	if err := json.Unmarshal(data, m); err != nil {
		return fmt.Errorf("decode message: %w", err)
	}
	return nil
}

// readUntil reads messages until one of type want, which it returns. An "error" message fails it; others
// go to other (when not nil).
func (b *Bot) readUntil(ctx context.Context, want string, other func(*inMsg)) (*inMsg, error) {
	for {
		var m inMsg
		if err := b.read(ctx, &m); err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", want, err)
		}
		switch m.Type {
		case want:
			return &m, nil
		case "error":
			return nil, fmt.Errorf("waiting for %s: %w", want, &ServerError{Code: m.Code, Message: m.Message})
		}
		if other != nil {
			other(&m)
		}
	}
}

func (c *wireCandidate) init() webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment}
}

// socketURL turns the server's address into its WebSocket URL (path /ws) and tells whether its host is
// a loopback address.
func socketURL(raw string) (string, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("server url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", false, fmt.Errorf("server url %q: want http://host:port", raw)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("server url %q: no host", raw)
	}
	if !strings.HasSuffix(u.Path, "/ws") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	return u.String(), loopback, nil
}
