package rtmp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// FuzzSetup feeds a publisher's setup what a hostile or broken RTMP server might answer after a proper
// handshake: whatever the bytes, setup returns (an error, or a session when they happen to accept the
// stream) within its deadline and never panics.
//
// fuzz budget: 2x
func FuzzSetup(f *testing.F) {
	good := goodAnswer(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}) // a chunk size of 4 GiB
	f.Add([]byte{})
	t, err := parseTarget("rtmp://127.0.0.1/app/key")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(tt *testing.T, answer []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if s, err := setupAgainst(t, answer); err == nil && s == nil {
				tt.Error("setup returned neither a session nor an error")
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			tt.Fatal("setup did not return within 5 s of a 2 s deadline")
		}
	})
}

// TestSetupGoodAnswer: the fuzzer's first seed is a server that accepts the stream, so the fuzzer starts
// from a setup that goes all the way.
func TestSetupGoodAnswer(t *testing.T) {
	tg, err := parseTarget("rtmp://127.0.0.1/app/key")
	if err != nil {
		t.Fatal(err)
	}
	s, err := setupAgainst(tg, goodAnswer(t))
	if err != nil || s == nil {
		t.Fatalf("setup against a server that accepts: %v", err)
	}
}

// setupAgainst runs setup against a server on a pipe that does the handshake, then sends answer and
// hangs up; both ends give up after 2 s.
func setupAgainst(t target, answer []byte) (*session, error) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		server.SetDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := handshake.DoServer(server, false); err != nil {
			return
		}
		go io.Copy(io.Discard, server) // the client's commands
		server.Write(answer)
		time.Sleep(50 * time.Millisecond) // let the client read it all before the pipe closes
	}()
	client.SetDeadline(time.Now().Add(2 * time.Second))
	return setup(client, t)
}

// goodAnswer is what a server that accepts a publisher says after the handshake.
func goodAnswer(tb testing.TB) []byte {
	var good bytes.Buffer
	w := message.NewWriter(&good, nil, false)
	for _, m := range []message.Message{
		&message.SetChunkSize{Value: 4096},
		&message.CommandAMF0{ChunkStreamID: 3, Name: "_result", CommandID: 1,
			Arguments: []any{nil, amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetConnection.Connect.Success"}}}},
		&message.CommandAMF0{ChunkStreamID: 3, Name: "_result", CommandID: 4, Arguments: []any{nil, float64(1)}},
		&message.CommandAMF0{ChunkStreamID: 5, MessageStreamID: 1, Name: "onStatus", CommandID: 5,
			Arguments: []any{nil, amf0.Object{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Publish.Start"}}}},
	} {
		if err := w.Write(m); err != nil {
			tb.Fatal(err)
		}
	}
	return good.Bytes()
}
