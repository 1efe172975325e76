// Package webhook tells other services what happens on the server: rooms starting and finishing,
// participants joining and leaving, recordings and live streams starting and ending. Each event is a JSON
// body POSTed to every configured URL and signed the way LiveKit signs its webhooks: the Authorization
// header holds a JWT (HS256, issued by one of the server's API keys) whose sha256 claim is the base64
// SHA-256 of the body, so a receiver holding the secret can check both sender and content.
//
// Sending never blocks the caller: each URL has a bounded queue and one sender goroutine, which retries
// a failed delivery with growing pauses; an event that finds the queue full is dropped and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/egress"
)

// Event names, as the body's "event" carries them.
const (
	RoomStarted       = "room_started"
	RoomFinished      = "room_finished"
	ParticipantJoined = "participant_joined"
	ParticipantLeft   = "participant_left"
)

// ContentType is the Content-Type of every body (LiveKit's).
const ContentType = "application/webhook+json"

// Event is the JSON body of one webhook. Plain data.
type Event struct {
	// ID is unique per event (a receiver can drop a retried duplicate); Event names what happened.
	ID    string `json:"id"`
	Event string `json:"event"`
	// CreatedAt is when it happened, in Unix seconds.
	CreatedAt int64  `json:"created_at"`
	Room      string `json:"room"`
	// Participant is set for participant_joined and participant_left; Reason, for participant_left, says
	// why it was removed (empty when it left by itself).
	Participant *mcu.ParticipantDetail `json:"participant,omitempty"`
	Reason      string                 `json:"reason,omitempty"`
	// Recording is set for recording_started and recording_finished (file, duration, size, error).
	Recording *api.Recording `json:"recording,omitempty"`
	// Stream is set for stream_started, stream_failed and stream_finished.
	Stream *api.Stream `json:"stream,omitempty"`
}

// Config says where webhooks go and how hard to try. Zero fields take the defaults noted.
type Config struct {
	// URLs receive every event (http or https).
	URLs []string
	// Keys and Key sign the bodies: the secret of Key in Keys.
	Keys auth.Keys
	Key  string
	// QueueSize is how many events wait per URL before new ones are dropped (default 1000).
	QueueSize int
	// Attempts is how many times a delivery is tried (default 5); Backoff the pause after the first
	// failure (default 1 s), doubled after each, at most MaxBackoff (default 30 s).
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout bounds one delivery (default 5 s).
	Timeout time.Duration
}

// Stats count deliveries since the Sender started. Plain data.
type Stats struct {
	Sent    uint64 // delivered (a 2xx answer)
	Retried uint64 // failed attempts that were tried again
	Failed  uint64 // given up after Attempts
	Dropped uint64 // not queued: the queue was full, or the Sender closed
}

// Sender delivers events to the configured URLs. It implements mcu.EventListener and egress.Listener.
// Create it with New and stop it with Close. Safe for concurrent use.
type Sender struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	targets []*target

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.RWMutex // Send holds it to queue; Close to close the queues
	closed bool

	sent, retried, failed, dropped atomic.Uint64
}

var (
	_ mcu.EventListener = (*Sender)(nil)
	_ egress.Listener   = (*Sender)(nil)
)

// target is one URL's queue.
type target struct {
	url   string
	queue chan queued
}

// queued is one event waiting to go out: its body, marshalled once.
type queued struct {
	name string
	body []byte
}

// New checks cfg and starts a sender goroutine per URL. client may be nil (a client with cfg.Timeout).
func New(cfg Config, log *slog.Logger, client *http.Client) (*Sender, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("webhook: no urls")
	}
	if _, ok := cfg.Keys[cfg.Key]; !ok || cfg.Key == "" {
		return nil, errors.New("webhook: no key to sign with: configure -keys")
	}
	for _, u := range cfg.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("webhook: url %q: want http(s)://host/path", u)
		}
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	s := &Sender{cfg: cfg, log: log, client: client}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, u := range cfg.URLs {
		t := &target{url: u, queue: make(chan queued, cfg.QueueSize)}
		s.targets = append(s.targets, t)
		s.wg.Add(1)
		go s.run(t)
	}
	return s, nil
}

// Close stops sending: what is queued and not yet out within grace is dropped (counted). It waits
// for the sender goroutines. Idempotent.
func (s *Sender) Close(grace time.Duration) {
	timer := time.AfterFunc(grace, s.cancel)
	defer timer.Stop()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, t := range s.targets {
			close(t.queue)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.cancel()
}

// Stats returns the counts now.
func (s *Sender) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Retried: s.retried.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load()}
}

// Send queues e for every URL, filling its ID and CreatedAt if empty. It never blocks: an event that
// finds a queue full is dropped and counted.
func (s *Sender) Send(e Event) {
	if e.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		e.ID = "EV_" + hex.EncodeToString(b[:])
	}
	if e.CreatedAt == 0 {
		e.CreatedAt = time.Now().Unix()
	}
	body, err := json.Marshal(e)
	if err != nil {
		s.log.Error("webhook: marshal", "event", e.Event, "err", err)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.targets {
		if s.closed {
			s.dropped.Add(1)
			continue
		}
		select {
		case t.queue <- queued{name: e.Event, body: body}:
		default:
			s.dropped.Add(1)
			s.log.Warn("webhook dropped: queue full", "event", e.Event, "url", t.url)
		}
	}
}

// run delivers one URL's events in order, each until it succeeds or runs out of attempts.
func (s *Sender) run(t *target) {
	defer s.wg.Done()
	for q := range t.queue {
		if s.ctx.Err() != nil {
			s.dropped.Add(1)
			continue
		}
		s.deliver(t, q)
	}
}

// deliver tries one event at one URL up to Config.Attempts times.
func (s *Sender) deliver(t *target, q queued) {
	pause := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := s.post(t.url, q.body)
		if err == nil {
			s.sent.Add(1)
			return
		}
		if attempt >= s.cfg.Attempts || s.ctx.Err() != nil {
			s.failed.Add(1)
			s.log.Error("webhook failed", "event", q.name, "url", t.url, "attempts", attempt, "err", err)
			return
		}
		s.retried.Add(1)
		s.log.Warn("webhook: retrying", "event", q.name, "url", t.url, "attempt", attempt, "in", pause, "err", err)
		select {
		case <-s.ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, s.cfg.MaxBackoff)
	}
}

// post sends one signed body; any answer but 2xx is an error.
func (s *Sender) post(u string, body []byte) error {
	sum := sha256.Sum256(body)
	token, err := s.cfg.Keys.Sign(s.cfg.Key, auth.Claims{SHA256: base64.StdEncoding.EncodeToString(sum[:])},
		time.Now(), 5*time.Minute)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("Authorization", token)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// Verify checks a webhook request as a receiver would: the Authorization token against keys, and the
// body against the token's sha256 claim. It returns the event.
func Verify(keys auth.Keys, authorization string, body []byte, now time.Time) (Event, error) {
	c, err := keys.Verify(authorization, now)
	if err != nil {
		return Event{}, fmt.Errorf("webhook: %w", err)
	}
	sum := sha256.Sum256(body)
	if c.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
		return Event{}, errors.New("webhook: body does not match its signature")
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("webhook: body: %w", err)
	}
	return e, nil
}

// OnRoomStarted sends room_started (mcu.EventListener).
func (s *Sender) OnRoomStarted(room string) { s.Send(Event{Event: RoomStarted, Room: room}) }

// OnRoomFinished sends room_finished (mcu.EventListener).
func (s *Sender) OnRoomFinished(room string) { s.Send(Event{Event: RoomFinished, Room: room}) }

// OnParticipantJoined sends participant_joined (mcu.EventListener).
func (s *Sender) OnParticipantJoined(room string, p mcu.ParticipantDetail) {
	s.Send(Event{Event: ParticipantJoined, Room: room, Participant: &p})
}

// OnParticipantLeft sends participant_left, with the reason it was removed (mcu.EventListener).
func (s *Sender) OnParticipantLeft(room string, p mcu.ParticipantDetail, reason error) {
	e := Event{Event: ParticipantLeft, Room: room, Participant: &p}
	if reason != nil && !errors.Is(reason, mcu.ErrClosed) {
		e.Reason = reason.Error()
	}
	s.Send(e)
}

// OnRecording sends recording_started or recording_finished (egress.Listener).
func (s *Sender) OnRecording(event string, r api.Recording) {
	s.Send(Event{Event: event, Room: r.Room, Recording: &r})
}

// OnStream sends stream_started, stream_failed or stream_finished (egress.Listener).
func (s *Sender) OnStream(event string, st api.Stream) {
	s.Send(Event{Event: event, Room: st.Room, Stream: &st})
}
