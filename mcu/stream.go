package mcu

// Live streaming: an Output whose sink is an RTMP push (mcu/internal/rtmp) to a streaming platform or
// a media server, H.264 and AAC-LC, with an IDR every two seconds. A lost connection is dialled again
// with growing pauses (rtmp.Backoff) until StreamOptions.RetryFor has passed without success.

import (
	"context"
	"fmt"
	"time"

	"github.com/openmcu/mcu/mcu/internal/rtmp"
)

// defaultRetryFor is how long a stream keeps reconnecting without StreamOptions.RetryFor.
const defaultRetryFor = 2 * time.Minute

// StreamOptions say where a live stream goes.
type StreamOptions struct {
	OutputOptions
	// URL is the RTMP ingest: rtmp://host[:port]/app/key or rtmps://... The stream key (the last path
	// segment) is never logged.
	URL string
	// RetryFor is how long the stream keeps trying to (re)connect, from the first failure in a row,
	// before it ends with the last error; 0: two minutes.
	RetryFor time.Duration
}

// Stream starts streaming the open room roomName to o.URL: the full mix and a grid of everyone, as a
// hidden member of the room. It returns at once: the connection is made by the output's own goroutine
// (OutputStarting until it is up). It fails with an error wrapping ErrNotFound for a room that is not
// open, ErrTooManyOutputs, or ErrBadName for an unknown tier or a URL that is not RTMP. Safe for
// concurrent use.
func (m *MCU) Stream(roomName string, o StreamOptions) (*Output, error) {
	if err := (rtmp.Config{URL: o.URL, Video: true}).Validate(); err != nil {
		return nil, fmt.Errorf("stream: %w: %w", ErrBadName, err)
	}
	if o.RetryFor < 0 {
		return nil, fmt.Errorf("stream: retry for %v: want zero or more", o.RetryFor)
	}
	if o.RetryFor == 0 {
		o.RetryFor = defaultRetryFor
	}
	s := &streamSink{cfg: rtmp.Config{URL: o.URL, Video: true, Audio: true}, retryFor: o.RetryFor}
	out, err := m.startOutput(roomName, kindStream, s, true, o.OutputOptions)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return out, nil
}

// streamSink publishes an output over RTMP, reconnecting when the connection is lost.
type streamSink struct {
	cfg      rtmp.Config
	retryFor time.Duration
	report   func(OutputState, error)
	backoff  rtmp.Backoff
	pub      *rtmp.Publisher
	sent     int64 // bytes sent over the connections before the current one
}

func (s *streamSink) start(ctx context.Context, asc []byte, report func(OutputState, error)) error {
	s.cfg.AudioConfig, s.report = asc, report
	return s.connect(ctx)
}

// connect dials until a connection is up, pausing between attempts, for at most retryFor.
func (s *streamSink) connect(ctx context.Context) error {
	var first time.Time
	for {
		pub, err := rtmp.Dial(ctx, s.cfg, rtmp.Params{})
		now := time.Now()
		if err == nil {
			s.pub = pub
			s.backoff.Connected(now)
			return nil
		}
		if first.IsZero() {
			first = now
		}
		if now.Sub(first) >= s.retryFor || ctx.Err() != nil {
			return err
		}
		s.report(OutputRetrying, err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(s.backoff.Failed(now)):
		}
	}
}

// restart closes the lost connection and dials again.
func (s *streamSink) restart(ctx context.Context) error {
	s.closePub()
	s.backoff.Failed(time.Now()) // the connection that went down counts as a failure
	return s.connect(ctx)
}

func (s *streamSink) writeVideo(dts time.Duration, au []byte, key bool) error {
	return s.pub.WriteVideo(dts, au, key)
}

func (s *streamSink) writeAudio(pts time.Duration, au []byte) error {
	return s.pub.WriteAudio(pts, au)
}

func (s *streamSink) bytes() int64 {
	if s.pub == nil {
		return s.sent
	}
	return s.sent + int64(s.pub.Stats().BytesSent)
}

func (s *streamSink) close() error {
	s.closePub()
	return nil
}

func (s *streamSink) closePub() {
	if s.pub != nil {
		s.sent += int64(s.pub.Stats().BytesSent)
		s.pub.Close()
		s.pub = nil
	}
}
