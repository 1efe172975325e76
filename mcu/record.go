package mcu

// Recording: an Output whose sink is a fragmented MP4 file (mcu/internal/fmp4), H.264 and AAC-LC, cut
// into fragments of at most two seconds, so that a crash of the server loses at most the last one.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/openmcu/mcu/mcu/internal/fmp4"
)

// RecordOptions say where a recording goes.
type RecordOptions struct {
	OutputOptions
	// File receives the fragmented MP4; the recording closes it when it ends. It must not be nil.
	File io.WriteCloser
	// AudioOnly records the mix alone (an M4A file).
	AudioOnly bool
}

// Record starts recording the open room roomName into o.File: the full mix and a grid of everyone, as a
// hidden member of the room. It fails with an error wrapping ErrNotFound for a room that is not open,
// ErrTooManyOutputs, or ErrBadName for an unknown tier; o.File is closed then too. Safe for concurrent
// use.
func (m *MCU) Record(roomName string, o RecordOptions) (*Output, error) {
	if o.File == nil {
		return nil, errors.New("record: no file")
	}
	out, err := m.startOutput(roomName, kindRecording, &recordSink{file: o.File, video: !o.AudioOnly},
		!o.AudioOnly, o.OutputOptions)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return out, nil
}

// recordSink writes an output into a fragmented MP4 file.
type recordSink struct {
	file  io.WriteCloser
	video bool
	out   countingWriter
	w     *fmp4.Writer
}

func (s *recordSink) start(_ context.Context, asc []byte, _ func(OutputState, error)) error {
	s.out.w = s.file
	w, err := fmp4.NewWriter(&s.out, fmp4.Config{Video: s.video, Audio: true, AudioConfig: asc,
		FragmentDuration: fmp4.MaxFragmentDuration})
	if err != nil {
		return err
	}
	s.w = w
	return nil
}

// writeVideo and writeAudio pass a sample the writer refused for its time (dropped, and video then waits
// for a keyframe) as written: only the file's errors end the recording.
func (s *recordSink) writeVideo(dts time.Duration, au []byte, key bool) error {
	if err := s.w.WriteVideo(dts, au, key); err != nil && !errors.Is(err, fmp4.ErrTimestamp) {
		return err
	}
	return nil
}

func (s *recordSink) writeAudio(pts time.Duration, au []byte) error {
	if err := s.w.WriteAudio(pts, au); err != nil && !errors.Is(err, fmp4.ErrTimestamp) {
		return err
	}
	return nil
}

func (s *recordSink) bytes() int64 { return s.out.n }

func (s *recordSink) close() error {
	var err error
	if s.w != nil {
		err = s.w.Close()
	}
	if cerr := s.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close recording: %w", cerr)
	}
	return err
}

// countingWriter counts the bytes written through it, and passes Sync on (the fMP4 writer syncs a file
// after each fragment).
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Sync syncs the underlying writer if it can; a file that cannot be synced (a pipe, a device) is not
// an error.
func (c *countingWriter) Sync() error {
	s, ok := c.w.(interface{ Sync() error })
	if !ok {
		return nil
	}
	if err := s.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}
