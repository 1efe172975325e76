// Package egress runs a server's recordings and live streams as operators see them: it names and
// creates the recording files, starts and stops mcu's outputs (mcu.MCU.Record and Stream), remembers
// them for the API (it implements api.Outputs), records rooms automatically, and tells a Listener
// (webhooks) when a recording or stream starts and ends.
package egress

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
)

// Events a Listener is told, with the webhook names they carry.
const (
	RecordingStarted  = "recording_started"
	RecordingFinished = "recording_finished"
	StreamStarted     = "stream_started"
	StreamFailed      = "stream_failed"
	StreamFinished    = "stream_finished"
)

// Listener is told when a recording or live stream starts and ends (what webhooks report). Its methods
// are called from various goroutines and must return quickly.
type Listener interface {
	// OnRecording: event is RecordingStarted (the file is created) or RecordingFinished (stopped, the
	// room finished, or failed: State "failed" and Error say why).
	OnRecording(event string, r api.Recording)
	// OnStream: event is StreamStarted (the first connection is up and media flows), StreamFailed (it
	// could not be connected or reconnected in time) or StreamFinished (stopped, or the room finished).
	OnStream(event string, s api.Stream)
}

// MCU is what the Manager needs of the MCU (*mcu.MCU).
type MCU interface {
	Record(room string, o mcu.RecordOptions) (*mcu.Output, error)
	Stream(room string, o mcu.StreamOptions) (*mcu.Output, error)
}

// Config is the Manager's configuration. Plain data.
type Config struct {
	// Dir is where recordings are written (created with the first recording, mode 0750).
	Dir string
	// AutoRecord records rooms as they start: every room when it holds "all", else the rooms named.
	AutoRecord []string
	// Tier is the video tier of recordings and streams (mcu.OutputOptions.Tier); empty: the best.
	Tier string
	// KeepFinished is how many ended recordings and streams each room's lists keep (default 50).
	KeepFinished int
}

// Manager implements api.Outputs over an MCU. Create it with New. Safe for concurrent use.
type Manager struct {
	m   MCU
	cfg Config
	log *slog.Logger
	l   Listener

	records *registry[api.Recording, *recording]
	streams *registry[api.Stream, *stream]
	wg      sync.WaitGroup // auto-record goroutines
}

var _ api.Outputs = (*Manager)(nil)

// New returns a Manager that records into cfg.Dir. l may be nil.
func New(m MCU, cfg Config, log *slog.Logger, l Listener) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("egress: no recordings directory")
	}
	if cfg.KeepFinished <= 0 {
		cfg.KeepFinished = 50
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if l == nil {
		l = nopListener{}
	}
	return &Manager{m: m, cfg: cfg, log: log, l: l,
		records: newRegistry[api.Recording, *recording]("recording", cfg.KeepFinished),
		streams: newRegistry[api.Stream, *stream]("stream", cfg.KeepFinished)}, nil
}

// ParseAutoRecord reads -record-rooms: "all", or room names separated by commas; "" records nothing.
func ParseAutoRecord(s string) []string {
	var out []string
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// autoRecords reports whether room is recorded as it starts.
func (g *Manager) autoRecords(room string) bool {
	return slices.Contains(g.cfg.AutoRecord, "all") || slices.Contains(g.cfg.AutoRecord, room)
}

// OnRoomStarted records the room if Config.AutoRecord says so (mcu.EventListener; the MCU calls it as the
// first participant joins). The recording starts on a goroutine of its own.
func (g *Manager) OnRoomStarted(room string) {
	if !g.autoRecords(room) {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if _, err := g.StartRecording(room, false); err != nil {
			g.log.Error("automatic recording", "room", room, "err", err)
		}
	}()
}

// OnRoomFinished forgets the room's recordings and streams, which ended with it (mcu.EventListener): the
// lists are the open rooms'; a finished recording's file stays downloadable by name.
func (g *Manager) OnRoomFinished(room string) {
	g.records.forget(room)
	g.streams.forget(room)
}

// OnParticipantJoined and OnParticipantLeft do nothing (mcu.EventListener).
func (g *Manager) OnParticipantJoined(string, mcu.ParticipantDetail) {}

// OnParticipantLeft does nothing (mcu.EventListener).
func (g *Manager) OnParticipantLeft(string, mcu.ParticipantDetail, error) {}

// Wait waits for automatic recordings being started.
func (g *Manager) Wait() { g.wg.Wait() }

// mcuError maps an error of mcu.Record or Stream to the API's.
func mcuError(err error) error {
	switch {
	case errors.Is(err, mcu.ErrNotFound):
		return fmt.Errorf("%w: %v", api.ErrNotFound, err)
	case errors.Is(err, mcu.ErrBadName):
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	case errors.Is(err, mcu.ErrTooManyOutputs), errors.Is(err, mcu.ErrClosed):
		return fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return err
}

// newID returns a random ID with a prefix.
func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// fileName returns a new recording's file name: ROOM-YYYYMMDD-HHMMSS.mp4 (or .m4a), the room name
// reduced to letters, digits, '-' and '_'.
func fileName(room string, at time.Time, audioOnly bool) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, room)
	if len(safe) > 64 {
		safe = safe[:64]
	}
	ext := ".mp4"
	if audioOnly {
		ext = ".m4a"
	}
	return safe + "-" + at.UTC().Format("20060102-150405") + ext
}

// createFile creates a new recording file in dir for room, adding -2, -3 ... when the name is taken.
func createFile(dir, room string, at time.Time, audioOnly bool) (*os.File, string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", fmt.Errorf("recordings directory: %w", err)
	}
	name := fileName(room, at, audioOnly)
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; i < 100; i++ {
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("recording file %s: too many with that name", name)
}

// RecordingFile returns the path of the recording file called name in the recordings directory, or an
// error wrapping api.ErrNotFound. A name with a path in it is never resolved.
func (g *Manager) RecordingFile(name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") ||
		(filepath.Ext(name) != ".mp4" && filepath.Ext(name) != ".m4a") {
		return "", fmt.Errorf("recording %q: %w", name, api.ErrNotFound)
	}
	path := filepath.Join(g.cfg.Dir, name)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("recording %q: %w", name, api.ErrNotFound)
	}
	return path, nil
}

type nopListener struct{}

func (nopListener) OnRecording(string, api.Recording) {}
func (nopListener) OnStream(string, api.Stream)       {}
