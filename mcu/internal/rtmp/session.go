package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// streamID is the message stream of the published stream: the one createStream returns first on every
// server, and the one gortmplib's Writer sends media on.
const streamID = 0x1000000

// ioReader remembers the last error of the connection's reads, so that the reading goroutine can tell
// a lost connection from a message it cannot parse.
type ioReader struct {
	r   io.Reader
	err error
}

func (r *ioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// session is one RTMP connection, set up for publishing. The caller's goroutine owns mw; after setup the
// reading goroutine owns mr.
type session struct {
	conn net.Conn
	in   *ioReader
	bc   *bytecounter.ReadWriter
	mr   *message.Reader
	mw   *message.Writer
	// acks receives the acknowledgements the reader owes the server (the count of bytes received), for
	// the writing goroutine to send.
	acks chan uint32
}

// dial connects to t and sets the connection up for publishing: TCP (and TLS), the RTMP handshake,
// connect, releaseStream, FCPublish, createStream and publish. It returns once the server has accepted
// the stream, or with an error when ctx ends first.
func dial(ctx context.Context, t target, tlsConfig *tls.Config) (*session, error) {
	var conn net.Conn
	var err error
	if t.tls {
		cfg := tlsConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = t.host
		}
		conn, err = (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", t.address)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", t.address)
	}
	if err != nil {
		return nil, fmt.Errorf("rtmp: connect to %s: %w", t, err)
	}
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	// Closing the connection is the only way to stop a handshake blocked on it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	s, err := setup(conn, t)
	if !stop() && err == nil {
		err = errors.New("setup finished as the context ended") // and the connection is closed
	}
	if err != nil {
		// The connection's deadline is the context's: a timeout may come just before the context ends.
		if cerr := ctx.Err(); cerr != nil {
			err = errors.Join(err, cerr)
		} else if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			err = errors.Join(err, context.DeadlineExceeded)
		}
		conn.Close()
		return nil, fmt.Errorf("rtmp: publish to %s: %w", t, err)
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

// setup performs the RTMP handshake and the commands of a publisher on conn, as OBS and ffmpeg do.
func setup(conn net.Conn, t target) (*session, error) {
	s := &session{conn: conn, in: &ioReader{r: conn}, acks: make(chan uint32, 4)}
	s.bc = bytecounter.NewReadWriter(struct {
		io.Reader
		io.Writer
	}{s.in, conn})
	if _, _, err := handshake.DoClient(s.bc, false, false); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	s.mw = message.NewWriter(s.bc, s.bc.Writer, false)
	s.mr = message.NewReader(s.bc, s.bc.Reader, func(count uint32) error {
		select {
		case s.acks <- count:
		default: // the writer has not caught up: a later acknowledgement covers this one
		}
		return nil
	})
	for _, m := range []message.Message{
		&message.SetWindowAckSize{Value: 2500000},
		&message.SetPeerBandwidth{Value: 2500000, Type: 2},
		&message.SetChunkSize{Value: 65536},
		&message.CommandAMF0{ChunkStreamID: 3, Name: "connect", CommandID: 1, Arguments: []any{amf0.Object{
			{Key: "app", Value: t.app},
			{Key: "type", Value: "nonprivate"},
			{Key: "flashVer", Value: "FMLE/3.0 (compatible; openmcu)"},
			{Key: "tcUrl", Value: t.tcURL},
		}}},
	} {
		if err := s.mw.Write(m); err != nil {
			return nil, err
		}
	}
	if err := s.expect(1, "_result", "connect"); err != nil {
		return nil, err
	}
	for _, m := range []message.Message{
		&message.CommandAMF0{ChunkStreamID: 3, Name: "releaseStream", CommandID: 2, Arguments: []any{nil, t.key}},
		&message.CommandAMF0{ChunkStreamID: 3, Name: "FCPublish", CommandID: 3, Arguments: []any{nil, t.key}},
		&message.CommandAMF0{ChunkStreamID: 3, Name: "createStream", CommandID: 4, Arguments: []any{nil}},
	} {
		if err := s.mw.Write(m); err != nil {
			return nil, err
		}
	}
	if err := s.expect(4, "_result", "createStream"); err != nil {
		return nil, err
	}
	err := s.mw.Write(&message.CommandAMF0{
		ChunkStreamID: 4, MessageStreamID: streamID, Name: "publish", CommandID: 5,
		Arguments: []any{nil, t.key, "live"},
	})
	if err != nil {
		return nil, err
	}
	if err := s.expect(5, "onStatus", "publish"); err != nil {
		return nil, err
	}
	return s, nil
}

// expect reads until the answer to command id (or a status of the stream) arrives, answering pings on
// the way, and checks that it is want and reports success.
func (s *session) expect(id int, want, what string) error {
	for skipped := 0; ; {
		msg, err := s.mr.Read()
		if err != nil {
			// ffmpeg's onFCPublish, for one, has no transaction ID: gortmplib cannot parse it. The
			// message was read whole, so the next one can still be.
			if s.in.err == nil && skipped < maxSkipped {
				skipped++
				continue
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		skipped = 0
		switch m := msg.(type) {
		case *message.UserControlPingRequest:
			if err := s.mw.Write(&message.UserControlPingResponse{ServerTime: m.ServerTime}); err != nil {
				return err
			}
		case *message.CommandAMF0:
			if m.CommandID != id && !(m.CommandID == 0 && (m.Name == want || m.Name == "_error")) {
				continue // onBWDone, onFCPublish and the answers to releaseStream and FCPublish
			}
			if m.Name != want || !commandOK(m) {
				return fmt.Errorf("%s refused: %s %s", what, m.Name, describe(m))
			}
			return nil
		}
	}
}

// commandOK reports whether a _result or onStatus says yes: a number (createStream's stream ID) or an
// info object whose level is "status" and, for onStatus, whose code is not a failure.
func commandOK(m *message.CommandAMF0) bool {
	if len(m.Arguments) < 2 {
		return m.Name == "_result"
	}
	if _, ok := m.Arguments[1].(float64); ok {
		return true
	}
	info, ok := object(m.Arguments[1])
	if !ok {
		return m.Name == "_result"
	}
	level, _ := info.GetString("level")
	return level == "status"
}

// describe returns the code and description of a command's info object, for errors.
func describe(m *message.CommandAMF0) string {
	for _, a := range m.Arguments {
		if info, ok := object(a); ok {
			code, _ := info.GetString("code")
			desc, _ := info.GetString("description")
			return fmt.Sprintf("%s %q", code, desc)
		}
	}
	return fmt.Sprint(m.Arguments)
}

func object(v any) (amf0.Object, bool) {
	switch o := v.(type) {
	case amf0.Object:
		return o, true
	case amf0.ECMAArray:
		return amf0.Object(o), true
	}
	return nil, false
}

// maxSkipped is how many messages in a row the reader skips because gortmplib cannot parse them before
// it concludes that it has lost track of the stream.
const maxSkipped = 16

// read reads what the server sends until the connection fails, passing pings to pings (without
// blocking: a full queue drops them, the server asks again). Messages it cannot parse are skipped; after
// maxSkipped in a row it only drains the bytes, since the connection is still good even if it can no
// longer follow the server. It returns the error that ended the connection.
func (s *session) read(pings chan<- uint32) error {
	for skipped := 0; ; {
		msg, err := s.mr.Read()
		if err != nil && s.in.err != nil {
			return s.in.err
		}
		if err != nil {
			if skipped++; skipped < maxSkipped {
				continue
			}
			_, err := io.Copy(io.Discard, s.in)
			if err == nil {
				err = io.EOF
			}
			return err
		}
		skipped = 0
		if m, ok := msg.(*message.UserControlPingRequest); ok {
			select {
			case pings <- m.ServerTime:
			default:
			}
		}
	}
}

// bytecounter and gortmplib's Writer need these.

// BytesReceived returns the number of bytes read from the connection.
func (s *session) BytesReceived() uint64 { return s.bc.Reader.Count() }

// BytesSent returns the number of bytes written to the connection.
func (s *session) BytesSent() uint64 { return s.bc.Writer.Count() }

// Read is not used: the session's reader runs on its own goroutine.
func (s *session) Read() (message.Message, error) {
	return nil, errors.New("rtmp: the publisher reads on its own goroutine")
}

// Write writes one message. Only the publisher's writing goroutine calls it.
func (s *session) Write(msg message.Message) error { return s.mw.Write(msg) }
