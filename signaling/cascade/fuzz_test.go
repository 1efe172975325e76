package cascade

import (
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/mcu"
)

// fuzzListener ignores a participant's events.
type fuzzListener struct{}

func (fuzzListener) OnICECandidate(mcu.ICECandidate) {}
func (fuzzListener) OnRoster(mcu.RosterEvent)        {}
func (fuzzListener) OnClosed(error)                  {}

// FuzzLinkInput drives what the other server sends on a link through the real handlers: a control
// message (JSON: participant, stream, gone, keyframe, pause, resume, ping, pong) and a media message (the 5-byte header and RTP),
// against a room that is open, and checks that nothing panics and that a participant the input
// announces can only join as a remote within the link's limit.
//
// fuzz budget: 3000x
func FuzzLinkInput(f *testing.F) {
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, SSRC: 1}, Payload: []byte{0x65, 1, 2, 3}}).Marshal()
	media := func(kind byte, num uint16, gen uint16, p []byte) []byte {
		b := make([]byte, mediaHeader, mediaHeader+len(p))
		b[0] = kind
		binary.BigEndian.PutUint16(b[1:], num)
		binary.BigEndian.PutUint16(b[3:], gen)
		return append(b, p...)
	}
	for _, seed := range []struct {
		control string
		media   []byte
	}{
		{`{"type":"participant","id":1,"name":"Ann"}`, nil},
		{`{"type":"participant","id":1,"name":"Ann"}` + "\n" + `{"type":"stream","id":1,"kind":"video","videoCodec":1,"gen":1}`, media(1, 1, 1, pkt)},
		{`{"type":"stream","id":9,"kind":"audio","audioCodec":0,"gen":3}`, media(0, 9, 3, pkt)},
		{`{"type":"gone","id":1}`, media(2, 0, 0, nil)},
		{`{"type":"keyframe","id":65535}`, []byte{1}},
		{`{"type":"bye"}`, nil},
		{`{"type":"pause","id":1}` + "\n" + `{"type":"resume","id":1}` + "\n" + `{"type":"pause","id":7}`, nil},
		{`{"type":"ping","t":5}` + "\n" + `{"type":"pong","t":-1}` + "\n" + `{"type":"pong","t":9223372036854775807}`, nil},
		{`not json`, []byte("garbage garbage")},
		{`{"type":"participant","id":2,"name":"` + string(make([]byte, 300)) + `"}`, media(1, 2, 0, make([]byte, 2000))},
	} {
		f.Add(seed.control, seed.media)
	}
	m, err := mcu.New(mcu.DefaultConfig(), mcu.Params{})
	if err != nil {
		f.Fatal(err)
	}
	defer m.Close()
	p, err := m.Join("r", "Local", fuzzListener{})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Leave()
	f.Fuzz(func(t *testing.T, control string, data []byte) {
		l, err := newLink(m, "r", Config{MaxParticipants: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			l.rmu.Lock()
			rs := l.remotes
			l.remotes = map[uint16]*remotePart{}
			l.rmu.Unlock()
			for _, rp := range rs {
				rp.r.Leave()
			}
			_ = l.pc.Close()
		}()
		// The local participant is forwarded as number 1 (pause and resume name it).
		l.local[p.ID()] = &localPart{num: 1}
		l.byNum[1] = p.ID()
		for line := range splitLines(control) {
			l.handle([]byte(line))
		}
		l.checkVisibility()
		l.receiveMedia(data)
		l.rmu.Lock()
		n := len(l.remotes)
		l.rmu.Unlock()
		if n > 4 {
			t.Fatalf("%d remotes joined, the limit is 4", n)
		}
	})
}

// splitLines yields s's lines.
func splitLines(s string) func(func(string) bool) {
	return func(yield func(string) bool) {
		start := 0
		for i := 0; i <= len(s); i++ {
			if i == len(s) || s[i] == '\n' {
				if !yield(s[start:i]) {
					return
				}
				start = i + 1
			}
		}
	}
}
