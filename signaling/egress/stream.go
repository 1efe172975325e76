package egress

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
)

// Stream states, as the API shows them.
const (
	streamConnecting   = "connecting"
	streamLive         = "live"
	streamReconnecting = "reconnecting"
	streamStopped      = "stopped"
	streamFailed       = "failed"
)

// stream is one live stream the Manager started.
type stream struct {
	mu   sync.Mutex
	info api.Stream
	out  *mcu.Output
	// wentLive: StreamStarted was told (the first connection came up).
	wentLive bool
}

func (s *stream) snapshot() api.Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

func (s *stream) id() string { return s.info.ID } // set before it is shared

func (s *stream) output() *mcu.Output {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out
}

func (s *stream) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info.State == streamStopped || s.info.State == streamFailed
}

// RedactURL returns an RTMP URL with its stream key (the last path segment, any query and fragment)
// replaced by "****", for logs and the API.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "****"
	}
	path := u.EscapedPath()
	if i := strings.LastIndex(path, "/"); i > 0 && i < len(path)-1 {
		path = path[:i+1] + "****"
	}
	return u.Scheme + "://" + u.Host + path // no user, query or fragment
}

// StartStream starts streaming room to an RTMP or RTMPS URL. It returns at once, the stream
// connecting; errors wrap api.ErrBadRequest (a URL that is not RTMP), api.ErrNotFound or
// api.ErrUnavailable.
func (g *Manager) StartStream(room, rawURL string) (api.Stream, error) {
	st := &stream{info: api.Stream{ID: newID("str_"), Room: room, URL: RedactURL(rawURL), State: streamConnecting,
		Started: time.Now()}}
	out, err := g.m.Stream(room, mcu.StreamOptions{URL: rawURL, OutputOptions: mcu.OutputOptions{Tier: g.cfg.Tier,
		OnState: func(s mcu.OutputState, err error) { g.streamState(st, s, err) }}})
	if err != nil {
		return api.Stream{}, fmt.Errorf("start stream to %s: %w", st.info.URL, mcuError(err))
	}
	st.mu.Lock()
	st.out = out
	st.mu.Unlock()
	g.streams.add(room, st)
	g.log.Info("stream started", "room", room, "id", st.info.ID, "url", st.info.URL)
	return st.snapshot(), nil
}

// streamState follows an output's state (mcu.OutputOptions.OnState) and tells the listener.
func (g *Manager) streamState(st *stream, s mcu.OutputState, err error) {
	st.mu.Lock()
	event := ""
	switch s {
	case mcu.OutputActive:
		st.info.State, st.info.Error = streamLive, ""
		if !st.wentLive {
			st.wentLive, event = true, StreamStarted
		}
	case mcu.OutputRetrying:
		st.info.State = streamReconnecting
		if err != nil {
			st.info.Error = err.Error()
		}
	case mcu.OutputEnded:
		st.info.State, event = streamStopped, StreamFinished
		if err != nil && !errors.Is(err, mcu.ErrClosed) {
			st.info.State, st.info.Error, event = streamFailed, err.Error(), StreamFailed
		}
	}
	info := st.info
	st.mu.Unlock()
	switch event {
	case "":
		g.log.Warn("stream reconnecting", "room", info.Room, "id", info.ID, "url", info.URL, "err", info.Error)
		return
	case StreamFailed:
		g.log.Error("stream failed", "room", info.Room, "id", info.ID, "url", info.URL, "err", info.Error)
	default:
		g.log.Info("stream "+info.State, "room", info.Room, "id", info.ID, "url", info.URL)
	}
	g.l.OnStream(event, info)
}

// Streams returns room's streams: the running ones and the last ended ones, oldest first.
func (g *Manager) Streams(room string) []api.Stream { return g.streams.list(room) }

// StopStream stops room's stream id, waits until its connection is closed, and returns it.
func (g *Manager) StopStream(room, id string) (api.Stream, error) { return g.streams.stop(room, id) }
