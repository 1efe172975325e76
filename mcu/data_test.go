package mcu_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
)

// dataListener records the data messages of a participant.
type dataListener struct {
	*listener
	mu     sync.Mutex
	got    []mcu.DataMessage
	opened []string
}

func (l *dataListener) OnDataOpen(label string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opened = append(l.opened, label)
}

func (l *dataListener) OnData(m mcu.DataMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, mcu.DataMessage{Label: m.Label, Data: bytes.Clone(m.Data), Binary: m.Binary})
}

func (l *dataListener) messages() []mcu.DataMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]mcu.DataMessage(nil), l.got...)
}

// TestDataChannel: a client's data channel reaches the participant's DataListener, text and binary, in
// order; SendData reaches the client; an oversized message is dropped and counted; a participant without
// the channel gets ErrNoDataChannel.
func TestDataChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	m := newMCU(t, loopbackConfig())
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dc, err := pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	var fromServer sync.Map
	dc.OnMessage(func(msg webrtc.DataChannelMessage) { fromServer.Store(string(msg.Data), msg.IsString) })

	l := &dataListener{listener: newListener()}
	p, err := m.Join("room", "D", l)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SendData("chat", []byte("early"), false); !errors.Is(err, mcu.ErrNoDataChannel) {
		t.Errorf("SendData before the channel: %v, want ErrNoDataChannel", err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	answer, err := p.HandleOffer(pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(15 * time.Second):
		t.Fatal("the data channel did not open")
	}
	if err := dc.SendText("hello"); err != nil {
		t.Fatal(err)
	}
	if err := dc.Send([]byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := dc.Send(make([]byte, mcu.MaxDataMessage+1)); err != nil {
		t.Fatal(err)
	}
	if err := dc.SendText("after"); err != nil {
		t.Fatal(err)
	}
	codectest.Eventually(t, 5*time.Second, "three messages at the server", func() bool { return len(l.messages()) == 3 })
	got := l.messages()
	if got[0].Label != "chat" || string(got[0].Data) != "hello" || got[0].Binary ||
		!bytes.Equal(got[1].Data, []byte{0, 1, 2}) || !got[1].Binary || string(got[2].Data) != "after" {
		t.Errorf("messages %+v, want hello (text), 00 01 02 (binary), after (text)", got)
	}
	if s := m.Stats(); s.DataIn != 3 || s.DataDropped != 1 {
		t.Errorf("stats: %d in, %d dropped; want 3 and 1 (the oversized one)", s.DataIn, s.DataDropped)
	}
	l.mu.Lock()
	labels := slices.Clone(l.opened)
	l.mu.Unlock()
	if !slices.Equal(labels, []string{"chat"}) {
		t.Errorf("opened %v, want chat", labels)
	}
	if !p.HasData("chat") || p.HasData("files") {
		t.Error("HasData: want chat and not files")
	}
	if err := p.SendData("chat", []byte("from the server"), false); err != nil {
		t.Fatal(err)
	}
	if err := p.SendData("chat", []byte(strings.Repeat("x", mcu.MaxDataMessage+1)), false); err == nil {
		t.Error("SendData of an oversized message succeeded")
	}
	codectest.Eventually(t, 5*time.Second, "the server's message at the client", func() bool {
		isText, ok := fromServer.Load("from the server")
		return ok && isText.(bool)
	})
	if err := p.SendData("files", []byte("x"), true); !errors.Is(err, mcu.ErrNoDataChannel) {
		t.Errorf("SendData on a channel the client did not open: %v", err)
	}
	p.Leave()
}
