package mcu

// Data: the data channels a WebRTC participant's client opens on its PeerConnection (the page's chat
// and file sharing). The MCU carries their messages and nothing more: what they mean (chat, files,
// history, limits) is the signalling layer's (signaling/chat).

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Data channel limits.
const (
	// MaxDataMessage is the largest data channel message the MCU passes on; larger ones are dropped and
	// counted (Stats.DataDropped).
	MaxDataMessage = 64 << 10
	// maxDataChannels is how many data channels one participant may open; more are closed at once.
	maxDataChannels = 4
	// maxDataBuffered is how much may wait in a data channel towards a slow client before SendData drops
	// (ErrDataBusy): the sender never blocks.
	maxDataBuffered = 1 << 20
)

// Errors of SendData.
var (
	// ErrNoDataChannel: the participant has no open data channel of that label (a SIP phone, a client
	// that opened none, or not open yet).
	ErrNoDataChannel = errors.New("mcu: no open data channel")
	// ErrDataBusy: the client does not read fast enough; the message was dropped.
	ErrDataBusy = errors.New("mcu: data channel busy")
)

// DataMessage is one message a client sent on a data channel. Data is the caller's (a copy). Plain data.
type DataMessage struct {
	Label  string
	Data   []byte
	Binary bool // a binary message; otherwise text (UTF-8 is not checked here)
}

// DataListener is an optional interface of a ParticipantListener: a listener that implements it is told
// when a data channel of the participant's client opens (SendData on it works from then on), and gets
// the messages the client sends on it, in order, one at a time, on pion's goroutine (it must return
// quickly).
type DataListener interface {
	OnDataOpen(label string)
	OnData(m DataMessage)
}

// dataChannels are a WebRTC participant's open data channels by label. Safe for concurrent use.
type dataChannels struct {
	mu      sync.Mutex
	byLabel map[string]*webrtc.DataChannel
	opened  int
}

// onDataChannel takes a channel the client opened: its messages go to the participant's DataListener.
func (w *webrtcTransport) onDataChannel(dc *webrtc.DataChannel) {
	p := w.p
	d := &w.data
	d.mu.Lock()
	d.opened++
	if d.opened > maxDataChannels || d.byLabel[dc.Label()] != nil {
		d.mu.Unlock()
		p.log.Info("data channel refused", "label", dc.Label(), "opened", d.opened)
		_ = dc.Close()
		return
	}
	if d.byLabel == nil {
		d.byLabel = make(map[string]*webrtc.DataChannel)
	}
	d.byLabel[dc.Label()] = dc
	d.mu.Unlock()
	label := dc.Label()
	dc.OnClose(func() {
		d.mu.Lock()
		if d.byLabel[label] == dc {
			delete(d.byLabel, label)
		}
		d.mu.Unlock()
	})
	l, _ := p.listener.(DataListener)
	if l != nil {
		dc.OnOpen(func() {
			defer p.m.catch(panicCallback, p.log, p.removeAsync)
			l.OnDataOpen(label)
		})
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		defer p.m.catch(panicCallback, p.log, p.removeAsync)
		if len(msg.Data) > MaxDataMessage {
			p.m.stats.DataDropped.Add(1)
			return
		}
		p.m.stats.DataIn.Add(1)
		if l != nil {
			l.OnData(DataMessage{Label: label, Data: msg.Data, Binary: !msg.IsString})
		}
	})
	p.log.Debug("data channel open", "label", label)
}

// SendData sends one message to the participant's client on its open data channel label: text, or
// binary. It never blocks: a client that is behind by more than a megabyte gets ErrDataBusy (counted in
// Stats.DataDropped), a participant without that channel ErrNoDataChannel. Safe for concurrent use.
func (p *Participant) SendData(label string, data []byte, binary bool) error {
	w, ok := p.t.(*webrtcTransport)
	if !ok {
		return fmt.Errorf("send data: %w", ErrNoDataChannel)
	}
	if len(data) > MaxDataMessage {
		return fmt.Errorf("send data: %d bytes, at most %d", len(data), MaxDataMessage)
	}
	w.data.mu.Lock()
	dc := w.data.byLabel[label]
	w.data.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return fmt.Errorf("send data on %q: %w", label, ErrNoDataChannel)
	}
	if dc.BufferedAmount()+uint64(len(data)) > maxDataBuffered {
		p.m.stats.DataDropped.Add(1)
		return fmt.Errorf("send data on %q: %w", label, ErrDataBusy)
	}
	var err error
	if binary {
		err = dc.Send(data)
	} else {
		err = dc.SendText(string(data))
	}
	if err != nil {
		return fmt.Errorf("send data on %q: %w", label, err)
	}
	p.m.stats.DataOut.Add(1)
	return nil
}

// HasData reports whether the participant has an open data channel called label. Safe for concurrent use.
func (p *Participant) HasData(label string) bool {
	w, ok := p.t.(*webrtcTransport)
	if !ok {
		return false
	}
	w.data.mu.Lock()
	defer w.data.mu.Unlock()
	dc := w.data.byLabel[label]
	return dc != nil && dc.ReadyState() == webrtc.DataChannelStateOpen
}
