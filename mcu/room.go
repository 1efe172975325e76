package mcu

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/l16"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/mixer"
)

// room is one conference: its members, one audio mixer and one compositor, and their encoders. It is
// created by the first Join of its name and closed by the last Leave.
type room struct {
	m     *MCU
	name  string
	log   *slog.Logger
	audio *mixer.AudioMixer
	video *mixer.Compositor

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // mixer loop, compositor loop, output encoders

	mu        sync.Mutex
	byID      map[ParticipantID]*Participant
	layout    mixer.Layout   // the layout new members start with (MCU.SetRoomLayout)
	order     []*Participant // join order, for the roster
	closed    bool
	started   bool
	told      RoomState    // the state the participants were last told (roomStateChanged)
	presenter *Participant // who shares its screen (screen.go); nil: nobody
	// screenMu serialises the presentation's changes (ShareScreen, StopScreen, a presenter's removal) with
	// their compositor calls. Taken before m.mu and mu.
	screenMu sync.Mutex
	stateMu  sync.Mutex // serialises roomStateChanged

	// snapshot is a copy-on-write snapshot of byID for the media path, replaced under mu.
	snapshot atomic.Pointer[map[ParticipantID]*Participant]
	// forwards are the room's forwarders (MCU.Forward, forward.go): a copy-on-write list replaced under mu.
	forwards atomic.Pointer[[]*forwarding]

	// Audio egress, owned by the mixer goroutine (OnAudioTick): one Opus encoder per mix key.
	// Encoders are per (mix, class); audioDone is scratch for one mix's classes.
	audioEnc  map[audioEncKey]codec.AudioEncoder
	audioUsed map[audioEncKey]uint64
	audioBuf  []byte
	audioDone []audioClass

	// Video egress, owned by the compositor goroutine (OutputsChanged): one encoder goroutine per output.
	outputs map[*mixer.Output]*output

	// Encoders running, for the stats (MCU.Stats sums the rooms').
	audioEncoders atomic.Int64
	tierEncoders  []atomic.Int64 // per Config.Tiers index
}

func newRoom(m *MCU, name string) (*room, error) {
	r := &room{
		m: m, name: name, log: m.log.With("room", name),
		byID:      make(map[ParticipantID]*Participant),
		audioEnc:  make(map[audioEncKey]codec.AudioEncoder),
		audioUsed: make(map[audioEncKey]uint64),
		audioBuf:  make([]byte, max(opus.MaxPacketSize, l16.FrameBytes)),
		outputs:   make(map[*mixer.Output]*output),
	}
	r.tierEncoders = make([]atomic.Int64, len(m.tiers.tiers))
	r.snapshot.Store(&map[ParticipantID]*Participant{})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.audio = mixer.NewAudioMixer(mixer.DefaultAudioConfig(), mixer.AudioParams{
		Logger: r.log, Listener: audioListener{r}})
	ccfg := mixer.DefaultCompositorConfig()
	ccfg.FrameRate = m.cfg.FrameRate
	ccfg.VisibleTiles = m.cfg.VisibleTiles
	ccfg.SpeakerHold = m.cfg.SpeakerHold
	video, err := mixer.NewCompositor(ccfg, mixer.CompositorParams{Logger: r.log, Listener: videoListener{r}})
	if err != nil {
		r.cancel()
		r.audio.Close()
		return nil, fmt.Errorf("new compositor: %w", err)
	}
	r.video = video
	return r, nil
}

// start runs the mixer and compositor loops, once, unless the room closed already.
func (r *room) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		defer r.m.catch(panicRoom, r.log, r.fail)
		if err := r.audio.Run(r.ctx); err != nil {
			r.log.Error("audio mixer stopped", "err", err)
		}
	}()
	go func() {
		defer r.wg.Done()
		defer r.m.catch(panicRoom, r.log, r.fail)
		if err := r.video.Run(r.ctx); err != nil {
			r.log.Error("compositor stopped", "err", err)
		}
	}()
	r.log.Info("room opened")
}

// close stops the loops and the output encoders, waits for them and frees the audio encoders.
func (r *room) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.audio.Close()
	r.video.Close()
	r.wg.Wait()
	for k, enc := range r.audioEnc {
		enc.Close()
		r.audioEncoders.Add(-1)
		delete(r.audioEnc, k)
	}
	r.log.Info("room closed")
}

// fail ends the room after a panic in one of its goroutines (err wraps ErrInternal): the MCU forgets it,
// so the next join of its name opens a fresh room, and every member is removed with err; the last one
// out closes it. Other rooms are not touched.
func (r *room) fail(err error) {
	r.m.mu.Lock()
	r.m.removeRoomLocked(r)
	r.m.mu.Unlock()
	members := r.members()
	r.log.Error("room failed: removing its participants", "err", err, "participants", len(members))
	for _, p := range members {
		p.removeAsync(err)
	}
}
