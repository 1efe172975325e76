package mcu_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
)

// link glues a Forwarder of one MCU's room to remote participants in the same room of another, in
// memory: what the network link between two servers does over WebRTC. It queues nothing (it only
// writes into the remotes' queues, which never block) and checks the Forwarder's contract as it goes.
type link struct {
	from, to *mcu.MCU
	room     string

	packets   atomic.Uint64 // OnRTP calls
	keyframes atomic.Uint64 // keyframe requests passed back to from

	mu        sync.Mutex
	remotes   map[mcu.ParticipantID]*mcu.Remote // by the participant's ID on from
	streams   map[string]bool                   // "id/kind" announced by OnStream
	gone      map[mcu.ParticipantID]bool
	joinErrs  []error // JoinRemote failures (to closed)
	violation []string
}

func newLink(from, to *mcu.MCU, room string) *link {
	return &link{from: from, to: to, room: room, remotes: make(map[mcu.ParticipantID]*mcu.Remote),
		streams: make(map[string]bool), gone: make(map[mcu.ParticipantID]bool)}
}

func (l *link) OnParticipant(p mcu.ParticipantInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone[p.ID] {
		l.violation = append(l.violation, fmt.Sprintf("OnParticipant(%s) after it was gone", p.ID))
	}
	if r := l.remotes[p.ID]; r != nil {
		r.SetMuted(p.AudioMuted, p.VideoMuted)
		return
	}
	id := p.ID
	r, err := l.to.JoinRemote(l.room, p.Name, mcu.RemoteOptions{AudioMuted: p.AudioMuted, VideoMuted: p.VideoMuted,
		OnKeyframeNeeded: func() {
			l.keyframes.Add(1)
			_ = l.from.RequestKeyframe(l.room, id) // it may have left meanwhile
		}})
	if err != nil {
		l.joinErrs = append(l.joinErrs, err)
		return
	}
	l.remotes[p.ID] = r
}

func (l *link) OnStream(s mcu.ForwardedStream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.remotes[s.Participant]
	if r == nil && len(l.joinErrs) == 0 {
		l.violation = append(l.violation, fmt.Sprintf("OnStream(%+v) before OnParticipant", s))
	}
	l.streams[fmt.Sprint(s.Participant, "/", s.Kind)] = true
	if r == nil {
		return
	}
	if s.Kind == mcu.MediaVideo {
		_ = r.StartVideo(s.VideoCodec)
	} else {
		_ = r.StartAudio(s.AudioCodec)
	}
}

func (l *link) OnRTP(id mcu.ParticipantID, kind mcu.MediaKind, pkt *rtp.Packet) {
	l.packets.Add(1)
	l.mu.Lock()
	r := l.remotes[id]
	if !l.streams[fmt.Sprint(id, "/", kind)] || l.gone[id] {
		l.violation = append(l.violation, fmt.Sprintf("OnRTP(%s, %v) outside its stream", id, kind))
	}
	l.mu.Unlock()
	if r == nil {
		return
	}
	if kind == mcu.MediaVideo {
		_ = r.WriteVideoRTP(pkt.Clone()) // the remote keeps it: OnRTP's packet is only lent
	} else {
		_ = r.WriteAudioRTP(pkt.Clone())
	}
}

func (l *link) OnParticipantGone(id mcu.ParticipantID) {
	l.mu.Lock()
	r := l.remotes[id]
	delete(l.remotes, id)
	l.gone[id] = true
	l.mu.Unlock()
	if r != nil {
		r.Leave()
	}
}

// check reports contract violations seen so far.
func (l *link) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violation) > 0 {
		return fmt.Errorf("forwarder contract broken: %v", l.violation)
	}
	return nil
}

// TestCascade: one room on two servers linked in memory. Two clients on each (four colours, four tones;
// one of them VP8) each see the other three exactly once and hear them, their own voice 30 dB down: the
// composition and mix-minus hold across servers, each camera decoded once per server. A local mute
// shows on the other server. When a participant of A leaves it vanishes from B's pictures, and one who
// joins A later appears there (the link survives). Closing B leaves A's clients fine, and stopping the
// forwarding ends the calls.
func TestCascade(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	ma, mb := newMCU(t, cfg), newMCU(t, cfg)
	a1 := join(t, ma, "r", "A1", 0, 430)
	a2 := join(t, ma, "r", "A2", 1, 650)
	b1 := join(t, mb, "r", "B1", 2, 910)
	b2 := joinWith(t, mb, "r", "B2", 3, 1230, codec.VP8)
	var a3 *party
	defer func() {
		for _, p := range []*party{a1, a2, b1, b2, a3} {
			if p != nil {
				p.client.Close()
			}
		}
	}()
	ab, ba := newLink(ma, mb, "r"), newLink(mb, ma, "r")
	stopA, err := ma.Forward("r", ab)
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	stopB, err := mb.Forward("r", ba)
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()

	all := []*party{a1, a2, b1, b2}
	codectest.Require(t, 30*time.Second, func() error {
		return errors.Join(checkAll(all, nil, cfg.Width, cfg.Height, steadyMarginDB), ab.check(), ba.check())
	})
	for _, p := range all {
		t.Log(p.last)
	}
	// Each server: its two clients and two remotes decoded once, an encoder per local view only (each
	// client sees the other three), nothing encoded for the remotes.
	for _, m := range []*mcu.MCU{ma, mb} {
		s := m.Stats()
		if s.Participants != 2 || s.Remotes != 2 || s.VideoDecoders != 4 || s.AudioDecoders != 4 || s.VideoEncoders != 2 ||
			len(s.ParticipantDetails) != 2 || s.RoomDetails[0].Remotes != 2 {
			t.Errorf("stats %+v: want 2 participants, 2 remotes, 4 video and audio decoders, 2 video encoders", s)
		}
	}
	if d, _ := mb.Room("r"); len(d.Participants) != 4 || d.Participants[2].Kind != "remote" || d.Participants[2].Tier != "" {
		t.Errorf("B's room detail %+v: want B1, B2 and two remotes", d)
	}
	for _, p := range []*party{b1, b2} {
		if !p.l.has(mcu.RosterJoined, "A1") || !p.l.has(mcu.RosterJoined, "A2") {
			t.Errorf("%s was not told that A1 and A2 joined: %+v", p.name, p.l.roster)
		}
	}
	if ab.keyframes.Load() == 0 || ba.keyframes.Load() == 0 {
		t.Errorf("keyframe requests over the links: %d and %d, want some", ab.keyframes.Load(), ba.keyframes.Load())
	}

	// A1's camera off on A: B's clients see its placeholder, and are told.
	a1.p.SetMuted(false, true)
	codectest.Require(t, 20*time.Second, func() error {
		for _, p := range []*party{b1, b2} {
			tiles, err := partyTiles(p, 3, true)
			if err != nil {
				return err
			}
			if !slices.Contains(tiles, "placeholder") || slices.Contains(tiles, "red") {
				return fmt.Errorf("%s sees %v after A1 turned its camera off, want a placeholder and no red", p.name, tiles)
			}
		}
		return nil
	})
	if !b1.l.has(mcu.RosterMuted, "A1") {
		t.Errorf("B1 was not told that A1 muted: %+v", b1.l.roster)
	}
	a1.p.SetMuted(false, false)
	codectest.Require(t, 20*time.Second, func() error { return checkAll(all, nil, cfg.Width, cfg.Height, steadyMarginDB) })

	// A1 leaves: it disappears from B's pictures and mixes.
	a1.p.Leave()
	a1.client.Close()
	codectest.Require(t, 20*time.Second, func() error {
		return checkAll([]*party{a2, b1, b2}, []*party{a1}, cfg.Width, cfg.Height, followMarginDB)
	})
	if !b1.l.has(mcu.RosterLeft, "A1") {
		t.Errorf("B1 was not told that A1 left: %+v", b1.l.roster)
	}
	// A3 joins A later: the link announces it, and everyone sees and hears it.
	a3 = join(t, ma, "r", "A3", 0, 1550)
	codectest.Require(t, 30*time.Second, func() error {
		return checkAll([]*party{a2, a3, b1, b2}, []*party{a1}, cfg.Width, cfg.Height, followMarginDB)
	})

	// B closes: its participants leave A (B's forwarder tells the link), and A's clients go on.
	if err := mb.Close(); err != nil {
		t.Error(err)
	}
	b1.client.Close()
	b2.client.Close()
	codectest.Require(t, 20*time.Second, func() error {
		if s := ma.Stats(); s.Remotes != 0 {
			return fmt.Errorf("A still has %d remotes", s.Remotes)
		}
		return checkAll([]*party{a2, a3}, []*party{a1, b1, b2}, cfg.Width, cfg.Height, followMarginDB)
	})

	// Stopping A's forwarding ends the calls at once.
	stopA()
	n := ab.packets.Load()
	time.Sleep(300 * time.Millisecond)
	if got := ab.packets.Load(); got != n {
		t.Errorf("%d packets forwarded after stop", got-n)
	}
	for _, l := range []*link{ab, ba} {
		if err := l.check(); err != nil {
			t.Error(err)
		}
	}
}

// recorder is a Forwarder that only records who was announced.
type recorder struct {
	mu    sync.Mutex
	names []string
}

func (r *recorder) OnParticipant(p mcu.ParticipantInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.names, p.Name) {
		r.names = append(r.names, p.Name)
	}
}
func (r *recorder) OnStream(mcu.ForwardedStream)                        {}
func (r *recorder) OnRTP(mcu.ParticipantID, mcu.MediaKind, *rtp.Packet) {}
func (r *recorder) OnParticipantGone(mcu.ParticipantID)                 {}

func (r *recorder) announced() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// TestRemoteParticipant: a remote fed random RTP (garbage payloads) neither crashes nor disturbs the
// room: the clients still see and hear each other, the decoder errors are counted and keyframes are asked
// for. A burst the queue cannot hold is dropped and counted, without blocking. A remote is a tile and a
// roster entry but no receiver or listener (no encoder for it), is never forwarded, counts towards
// MaxRemotes only, and ends with its room.
func TestRemoteParticipant(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	cfg.MaxParticipants = 2
	cfg.MaxRemotes = 1
	m := newMCU(t, cfg)
	if _, err := m.JoinRemote("r", "G", mcu.RemoteOptions{}); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("JoinRemote into a room not open: %v, want ErrNotFound", err)
	}
	if _, err := m.Forward("r", &recorder{}); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("Forward of a room not open: %v, want ErrNotFound", err)
	}
	x1 := join(t, m, "r", "X1", 0, 430)
	x2 := join(t, m, "r", "X2", 1, 650)
	defer x1.client.Close()
	defer x2.client.Close()
	if _, err := m.JoinRemote("r", "", mcu.RemoteOptions{}); !errors.Is(err, mcu.ErrBadName) {
		t.Errorf("JoinRemote without a name: %v, want ErrBadName", err)
	}
	if _, err := m.JoinRemote("r", "G", mcu.RemoteOptions{VideoCodec: codec.VideoCodec(99)}); !errors.Is(err, mcu.ErrNoCodec) {
		t.Errorf("JoinRemote with an unknown video codec: %v, want ErrNoCodec", err)
	}
	closed := make(chan error, 1)
	var keyframes atomic.Uint64
	// The garbage's voice is muted, so that the check below hears the clients only; it is decoded all
	// the same.
	g, err := m.JoinRemote("r", "Garbage", mcu.RemoteOptions{AudioMuted: true,
		OnKeyframeNeeded: func() { keyframes.Add(1) }, OnClosed: func(err error) { closed <- err }})
	if err != nil {
		t.Fatalf("JoinRemote into a full room (remotes do not count): %v", err)
	}
	if _, err := m.JoinRemote("r", "Second", mcu.RemoteOptions{}); !errors.Is(err, mcu.ErrTooManyRemotes) {
		t.Errorf("a second remote with MaxRemotes 1: %v, want ErrTooManyRemotes", err)
	}
	rec := &recorder{}
	stop, err := m.Forward("r", rec)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := rec.announced(); !slices.Equal(got, []string{"X1", "X2"}) {
		t.Errorf("forwarder announced %v, want the local X1 and X2 only", got)
	}
	for _, id := range []mcu.ParticipantID{"nobody", g.ID()} {
		if err := m.RequestKeyframe("r", id); !errors.Is(err, mcu.ErrNotFound) {
			t.Errorf("RequestKeyframe of %s (not a local participant): %v, want ErrNotFound", id, err)
		}
	}
	if err := g.StartVideo(codec.VideoCodec(99)); !errors.Is(err, mcu.ErrNoCodec) {
		t.Errorf("StartVideo of an unknown codec: %v, want ErrNoCodec", err)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the garbage: random payloads at about 150 video and 50 audio packets a second
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(1, 2))
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var vseq, aseq uint16
		var ts uint32
		garbage := func(seq uint16, marker bool) *rtp.Packet {
			b := make([]byte, 1+rnd.IntN(1200))
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: b}
		}
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			ts += 1800
			for i := range 3 {
				if err := g.WriteVideoRTP(garbage(vseq, i == 2)); err != nil {
					return
				}
				vseq++
			}
			if err := g.WriteAudioRTP(garbage(aseq, false)); err != nil {
				return
			}
			aseq++
		}
	}()
	defer wg.Wait()
	defer close(done)

	// The clients see each other once (the garbage's tile shows whatever it shows) and hear each other.
	codectest.Require(t, 30*time.Second, func() error {
		var errs []error
		for _, c := range []struct{ me, other *party }{{x1, x2}, {x2, x1}} {
			tiles, err := partyTiles(c.me, 2, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			own, other := palette[c.me.colour].Name, palette[c.other.colour].Name
			if slices.Contains(tiles, own) || len(slices.DeleteFunc(slices.Clone(tiles), func(s string) bool { return s != other })) != 1 {
				errs = append(errs, fmt.Errorf("%s sees %v, want %s once and never itself", c.me.name, tiles, other))
			}
			pcm := c.me.client.Audio(500 * time.Millisecond)
			heard, self := codectest.LevelDB(pcm, codec.SampleRate, c.other.tone), codectest.LevelDB(pcm, codec.SampleRate, c.me.tone)
			if heard < -40 || self > heard-steadyMarginDB {
				errs = append(errs, fmt.Errorf("%s hears %s at %.1f dB and itself at %.1f dB", c.me.name, c.other.name, heard, self))
			}
		}
		if s := m.Stats(); s.DecodeErrors == 0 || keyframes.Load() == 0 {
			errs = append(errs, fmt.Errorf("%d decode errors and %d keyframe requests, want some of both", s.DecodeErrors, keyframes.Load()))
		}
		return errors.Join(errs...)
	})
	s := m.Stats()
	if len(s.Panics) != 0 {
		t.Errorf("panics: %v", s.Panics)
	}
	// Two receivers (X1, X2), each with its own view; the remote receives nothing.
	if s.Participants != 2 || s.Remotes != 1 || s.VideoEncoders != 2 || len(s.ParticipantDetails) != 2 {
		t.Errorf("stats %+v: want 2 participants, 1 remote, 2 video encoders", s)
	}
	if !x1.l.has(mcu.RosterJoined, "Garbage") {
		t.Errorf("X1 was not told that the remote joined: %+v", x1.l.roster)
	}
	g.SetMuted(true, true)
	if !x1.l.has(mcu.RosterMuted, "Garbage") {
		t.Errorf("X1 was not told that the remote muted: %+v", x1.l.roster)
	}

	// A burst the queue cannot hold: the oldest packets go, counted; the writer never waits.
	codectest.Require(t, 10*time.Second, func() error {
		for i := range 5000 {
			if err := g.WriteVideoRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i)}, Payload: []byte{1}}); err != nil {
				return err
			}
		}
		if d := g.Stats().Dropped; d == 0 || m.Stats().RemotePacketsDropped < d {
			return fmt.Errorf("dropped %d (stats %d), want some", d, m.Stats().RemotePacketsDropped)
		}
		return nil
	})

	// The room closes with its last local participant, and the remote with it.
	x1.p.Leave()
	x2.p.Leave()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("the remote's OnClosed: %v, want nil (its room closed)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the remote was not closed with its room")
	}
	if m.HasRoom("r") {
		t.Error("the room is still open with only a remote in it")
	}
	if err := g.WriteAudioRTP(&rtp.Packet{}); !errors.Is(err, mcu.ErrClosed) {
		t.Errorf("a write after the remote closed: %v, want ErrClosed", err)
	}
}

// snapshot returns the endpoint's last half second of audio and a copy of its last picture (nil if none).
func (e *rtpEndpoint) snapshot() ([]int16, *codec.VideoFrame) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pcm := slices.Clone(e.pcm[max(0, len(e.pcm)-codec.SampleRate/2):])
	if e.picture == nil {
		return pcm, nil
	}
	pic := codec.NewVideoFrame(e.picture.Width, e.picture.Height)
	_ = pic.CopyFrom(e.picture)
	return pcm, pic
}

// TestCascadePhone: a plain-RTP participant (a SIP phone: PCMU and H.264) on A and a WebRTC client on B,
// one room over the link. The phone's G.711 goes over as it is decoded, in 20 ms frames, and B decodes it
// as such: the client sees the phone's colour and hears its tone, the phone sees and hears the client,
// each without itself.
func TestCascadePhone(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	cfg.RTPAddress = "127.0.0.1"
	ma, mb := newMCU(t, cfg), newMCU(t, cfg)
	ep := newRTPEndpoint(t)
	media := mcu.RTPMedia{
		Audio: &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: ep.addr(ep.audio), Send: true, Receive: true},
		Video: &mcu.RTPVideo{PayloadType: 96, PacketizationMode: 1, Remote: ep.addr(ep.video), Send: true, Receive: true},
	}
	phone, local, err := ma.JoinRTP("r", "Phone", newListener(), media)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Leave()
	b := join(t, mb, "r", "B", 0, 430)
	defer b.client.Close()
	ab, ba := newLink(ma, mb, "r"), newLink(mb, ma, "r")
	// The phone ignores PLIs and sends an IDR only every 10 s, and the MCU sends it no video before it
	// has had video from it: so A forwards, and the phone starts once B shows the phone's placeholder
	// (its remote is visible: the phone's first IDR is decoded there); B forwards once B shows the
	// phone's picture (B's remote joining A then changes the phone's view: an IDR it gets).
	stopA, err := ma.Forward("r", ab)
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	codectest.Require(t, 20*time.Second, func() error {
		if got, err := partyTiles(b, 1, true); err != nil || !slices.Equal(got, []string{"placeholder"}) {
			return fmt.Errorf("B sees %v (%v), want the phone's placeholder", got, err)
		}
		return nil
	})
	ep.start(t, local, 1230, palette[2].YUV())
	defer ep.close()
	codectest.Require(t, 20*time.Second, func() error {
		if got, err := partyTiles(b, 1, false); err != nil || !slices.Equal(got, []string{"blue"}) {
			return fmt.Errorf("B sees %v (%v), want the phone's blue", got, err)
		}
		return nil
	})
	stopB, err := mb.Forward("r", ba)
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()

	hear := func(pcm []int16, f float64) float64 { return codectest.LevelDB(pcm, codec.SampleRate, f) }
	codectest.Require(t, 30*time.Second, func() error {
		var errs []error
		pcm, pic := ep.snapshot()
		if lb, own := hear(pcm, b.tone), hear(pcm, 1230); lb < -30 || own > lb-steadyMarginDB {
			errs = append(errs, fmt.Errorf("the phone hears B at %.1f dB and itself at %.1f dB", lb, own))
		}
		if pic == nil {
			errs = append(errs, errors.New("the phone has no picture"))
		} else if got := tileNames(pic, 1, false); !slices.Equal(got, []string{"red"}) {
			errs = append(errs, fmt.Errorf("the phone sees %v, want B's red", got))
		}
		pcm = b.client.Audio(500 * time.Millisecond)
		if lp, own := hear(pcm, 1230), hear(pcm, b.tone); lp < -30 || own > lp-steadyMarginDB {
			errs = append(errs, fmt.Errorf("B hears the phone at %.1f dB and itself at %.1f dB", lp, own))
		}
		if got, err := partyTiles(b, 1, false); err != nil || !slices.Equal(got, []string{"blue"}) {
			errs = append(errs, fmt.Errorf("B sees %v (%v), want the phone's blue", got, err))
		}
		return errors.Join(append(errs, ab.check(), ba.check())...)
	})
}
