package egress

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
)

// Recording states, as the API shows them.
const (
	recStarting  = "starting"
	recRecording = "recording"
	recFinished  = "finished"
	recFailed    = "failed"
)

// recording is one recording the Manager started.
type recording struct {
	mu   sync.Mutex
	info api.Recording
	out  *mcu.Output // nil until Record returned
	// announced: RecordingStarted was told; an end before that is told right after it (endPending).
	announced, endPending bool
}

func (r *recording) snapshot() api.Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	info := r.info
	if r.out != nil {
		st := r.out.Stats()
		info.Duration, info.Size = st.Duration, st.Bytes
	}
	return info
}

func (r *recording) id() string { return r.info.ID } // set before it is shared

func (r *recording) output() *mcu.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out
}

func (r *recording) ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info.State == recFinished || r.info.State == recFailed
}

// StartRecording starts recording room into a new file of the recordings directory (an M4A with
// audioOnly). Errors wrap api.ErrNotFound (the room is not open), api.ErrUnavailable (too many outputs)
// or describe the file that could not be created.
func (g *Manager) StartRecording(room string, audioOnly bool) (api.Recording, error) {
	now := time.Now()
	f, name, err := createFile(g.cfg.Dir, room, now, audioOnly)
	if err != nil {
		// An unwritable directory or a full disk: the recording fails before it starts, and says so.
		info := api.Recording{ID: newID("rec_"), Room: room, AudioOnly: audioOnly, State: recFailed,
			Error: err.Error(), Started: now}
		g.log.Error("recording failed", "room", room, "err", err)
		g.l.OnRecording(RecordingFinished, info)
		return api.Recording{}, fmt.Errorf("start recording: %w: %v", api.ErrUnavailable, err)
	}
	rec := &recording{info: api.Recording{ID: newID("rec_"), Room: room, File: name, AudioOnly: audioOnly,
		State: recStarting, Started: now}}
	out, err := g.m.Record(room, mcu.RecordOptions{File: f, AudioOnly: audioOnly,
		OutputOptions: mcu.OutputOptions{Tier: g.cfg.Tier, OnState: func(s mcu.OutputState, err error) {
			g.recordingState(rec, s, err)
		}}})
	if err != nil {
		// Record closed the file; nothing was written to it.
		if rerr := os.Remove(filepath.Join(g.cfg.Dir, name)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			g.log.Warn("remove unused recording file", "file", name, "err", rerr)
		}
		return api.Recording{}, fmt.Errorf("start recording: %w", mcuError(err))
	}
	rec.mu.Lock()
	rec.out = out
	rec.mu.Unlock()
	g.records.add(room, rec)
	info := rec.snapshot()
	g.log.Info("recording started", "room", room, "id", info.ID, "file", name, "audio_only", audioOnly)
	g.l.OnRecording(RecordingStarted, info)
	rec.mu.Lock()
	rec.announced = true
	pending := rec.endPending
	rec.mu.Unlock()
	if pending {
		g.recordingEnded(rec)
	}
	return info, nil
}

// RecordRoom starts recording room unless a recording of it runs already: the page's record button
// (signaling.Recorder).
func (g *Manager) RecordRoom(room string) error {
	for _, r := range g.Recordings(room) {
		if r.State == recStarting || r.State == recRecording {
			return nil
		}
	}
	_, err := g.StartRecording(room, false)
	return err
}

// StopRecordingRoom stops every running recording of room (signaling.Recorder).
func (g *Manager) StopRecordingRoom(room string) error {
	for _, r := range g.Recordings(room) {
		if r.State == recStarting || r.State == recRecording {
			if _, err := g.StopRecording(room, r.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordingState follows an output's state (mcu.OutputOptions.OnState).
func (g *Manager) recordingState(rec *recording, s mcu.OutputState, err error) {
	rec.mu.Lock()
	switch s {
	case mcu.OutputActive:
		rec.info.State = recRecording
	case mcu.OutputEnded:
		rec.info.State = recFinished
		if err != nil && !errors.Is(err, mcu.ErrClosed) {
			rec.info.State, rec.info.Error = recFailed, err.Error()
		}
	}
	announced := rec.announced
	rec.endPending = s == mcu.OutputEnded && !announced
	rec.mu.Unlock()
	if s == mcu.OutputEnded && announced {
		g.recordingEnded(rec)
	}
}

// recordingEnded logs and tells the end of a recording.
func (g *Manager) recordingEnded(rec *recording) {
	info := rec.snapshot()
	if info.State == recFailed {
		g.log.Error("recording failed", "room", info.Room, "id", info.ID, "file", info.File, "err", info.Error)
	} else {
		g.log.Info("recording finished", "room", info.Room, "id", info.ID, "file", info.File,
			"duration", info.Duration, "size", info.Size)
	}
	g.l.OnRecording(RecordingFinished, info)
}

// Recordings returns room's recordings: the running ones and the last ended ones, oldest first.
func (g *Manager) Recordings(room string) []api.Recording { return g.records.list(room) }

// StopRecording stops room's recording id, waits until its file is complete, and returns it.
func (g *Manager) StopRecording(room, id string) (api.Recording, error) {
	return g.records.stop(room, id)
}
