package webhook_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var keys = auth.Keys{"APIkey": "a-secret-of-at-least-32-characters-long"}

// receiver is a webhook endpoint on loopback that verifies every request as a LiveKit receiver would,
// and answers with the status fail gives (200 when nil).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []webhook.Event
	bad    []string // why requests were refused
	hits   atomic.Int32
	fail   func(n int32) int
	block  chan struct{} // when not nil, each request waits for it
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.hits.Add(1)
		if r.block != nil {
			<-r.block
		}
		body, _ := io.ReadAll(req.Body)
		e, err := webhook.Verify(keys, req.Header.Get("Authorization"), body, time.Now())
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case err != nil:
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		case req.Header.Get("Content-Type") != webhook.ContentType:
			r.bad = append(r.bad, "content type "+req.Header.Get("Content-Type"))
		}
		if r.fail != nil {
			if code := r.fail(n); code != 0 {
				w.WriteHeader(code)
				return
			}
		}
		r.events = append(r.events, e)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Event)
	}
	return out
}

func newSender(t *testing.T, cfg webhook.Config) *webhook.Sender {
	t.Helper()
	cfg.Keys, cfg.Key = keys, "APIkey"
	s, err := webhook.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeliver sends every kind of event through a real MCU's lifecycle and the recording callbacks, and
// the receiver verifies each signature and gets them in order with their content.
func TestDeliver(t *testing.T) {
	r := newReceiver(t)
	s := newSender(t, webhook.Config{URLs: []string{r.srv.URL + "/hook"}})
	m, err := mcu.New(mcu.DefaultConfig(), mcu.Params{Events: s})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Join("standup", "Ada", nopListener{})
	if err != nil {
		t.Fatal(err)
	}
	s.OnRecording("recording_finished", api.Recording{ID: "rec_1", Room: "standup", File: "standup.mp4", Size: 1234,
		Duration: 5 * time.Second, State: "finished"})
	p.Remove(nil)
	m.Close()
	codectest.Eventually(t, 5*time.Second, "5 events delivered", func() bool { return len(r.names()) == 5 })
	s.Close(time.Second)
	want := []string{"room_started", "participant_joined", "recording_finished", "participant_left", "room_finished"}
	if got := r.names(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) != 0 {
		t.Errorf("refused: %v", r.bad)
	}
	ids := map[string]bool{}
	for _, e := range r.events {
		if e.Room != "standup" || e.ID == "" || ids[e.ID] || time.Since(time.Unix(e.CreatedAt, 0)) > time.Minute {
			t.Errorf("event %+v: want room standup, a fresh unique id and time", e)
		}
		ids[e.ID] = true
	}
	if p := r.events[1].Participant; p == nil || p.Name != "Ada" || p.Kind != "webrtc" {
		t.Errorf("participant_joined carries %+v, want Ada (webrtc)", p)
	}
	if e := r.events[3]; e.Reason != mcu.ErrRemoved.Error() {
		t.Errorf("participant_left reason %q, want %q", e.Reason, mcu.ErrRemoved)
	}
	if rec := r.events[2].Recording; rec == nil || rec.File != "standup.mp4" || rec.Size != 1234 || rec.Duration != 5*time.Second {
		t.Errorf("recording_finished carries %+v", rec)
	}
	if st := s.Stats(); st.Sent != 5 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 5 sent", st)
	}
}

// TestRetry: a receiver that fails twice gets the event on the third attempt, once.
func TestRetry(t *testing.T) {
	r := newReceiver(t)
	r.fail = func(n int32) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	s := newSender(t, webhook.Config{URLs: []string{r.srv.URL}, Backoff: 10 * time.Millisecond})
	s.OnRoomStarted("r")
	codectest.Eventually(t, 5*time.Second, "the event delivered", func() bool { return len(r.names()) == 1 })
	s.Close(time.Second)
	if st := s.Stats(); st.Sent != 1 || st.Retried != 2 || st.Failed != 0 {
		t.Errorf("stats %+v, want 1 sent after 2 retries", st)
	}
}

// TestGiveUp: a receiver that always fails gets Attempts tries, then the event is counted as failed and
// the next one goes out.
func TestGiveUp(t *testing.T) {
	r := newReceiver(t)
	r.fail = func(n int32) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return 0
	}
	s := newSender(t, webhook.Config{URLs: []string{r.srv.URL}, Attempts: 3, Backoff: time.Millisecond})
	s.OnRoomStarted("lost")
	s.OnRoomFinished("lost")
	codectest.Eventually(t, 5*time.Second, "the second event delivered", func() bool { return len(r.names()) == 1 })
	s.Close(time.Second)
	if got := r.names(); !slices.Equal(got, []string{"room_finished"}) {
		t.Errorf("delivered %v, want only room_finished", got)
	}
	if st := s.Stats(); st.Sent != 1 || st.Failed != 1 || st.Retried != 2 {
		t.Errorf("stats %+v, want 1 failed after 2 retries, 1 sent", st)
	}
}

// TestQueueFull: with the receiver stuck, Send never blocks; what does not fit the queue is dropped and
// counted, and Close gives up after its grace period.
func TestQueueFull(t *testing.T) {
	r := newReceiver(t)
	r.block = make(chan struct{})
	s := newSender(t, webhook.Config{URLs: []string{r.srv.URL}, QueueSize: 2, Timeout: 10 * time.Second})
	s.OnRoomStarted("busy")
	codectest.Eventually(t, 5*time.Second, "the first request in flight", func() bool { return r.hits.Load() == 1 })
	for range 9 {
		s.OnRoomStarted("busy") // would hang the test if it blocked
	}
	if st := s.Stats(); st.Dropped != 7 {
		t.Errorf("stats %+v: want 7 dropped (1 in flight, 2 queued)", st)
	}
	s.Close(50 * time.Millisecond) // cancels the request in flight
	close(r.block)
	if st := s.Stats(); st.Dropped != 9 || st.Failed != 1 || st.Sent != 0 {
		t.Errorf("stats after Close %+v: want the 2 queued dropped too, and the 1 in flight failed", st)
	}
	s.OnRoomStarted("late")
	if st := s.Stats(); st.Dropped != 10 {
		t.Errorf("an event after Close was not counted as dropped: %+v", st)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"EV_1","event":"room_started","created_at":1,"room":"r"}`)
	token, err := keys.Sign("APIkey", auth.Claims{SHA256: "eS2+e7N1c8JX6hOwCNPeTZ9HYP8JiQGOq6rNtEBeDZc="}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.Verify(keys, token, body, time.Now()); err == nil {
		t.Error("a body that does not match the signed sha256 was accepted")
	}
	other := auth.Keys{"APIkey": "another-secret-of-at-least-32-characters"}
	if _, err := webhook.Verify(other, token, body, time.Now()); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("a token of another secret: %v, want ErrBadSignature", err)
	}
	if _, err := webhook.Verify(keys, "", body, time.Now()); !errors.Is(err, auth.ErrNoToken) {
		t.Errorf("no token: %v, want ErrNoToken", err)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []webhook.Config{
		{},
		{URLs: []string{"http://127.0.0.1:1/"}},
		{URLs: []string{"ftp://example.com/"}, Keys: keys, Key: "APIkey"},
		{URLs: []string{"http://127.0.0.1:1/"}, Keys: keys, Key: "other"},
	} {
		if s, err := webhook.New(cfg, nil, nil); err == nil {
			s.Close(0)
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

type nopListener struct{}

func (nopListener) OnICECandidate(mcu.ICECandidate) {}
func (nopListener) OnRoster(mcu.RosterEvent)        {}
func (nopListener) OnClosed(error)                  {}
