package live

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices"
	mdcodec "github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/openmcu/mcu/codec"
)

// errClosed is returned by ReadSample after Close.
var errClosed = errors.New("live: source closed")

// Source is a peer.Source that reads encoded samples from a mediadevices track: the track's reader
// (a Pattern, a Tone, a camera or a microphone) feeds the encoder its codec selector builds (VideoEncoder
// or OpusEncoder), and each ReadSample returns one encoded frame or packet with its duration. The
// pacing is the reader's: a Read blocks until the next frame or chunk is due.
//
// The Source owns the track: Close closes the encoder and the track (and so the device). A Source
// belongs to the goroutine that calls ReadSample and Close (the peer.Client's sender); ForceKeyframe is
// safe from any goroutine.
type Source struct {
	track     mediadevices.Track
	r         mediadevices.EncodedReadCloser
	clockRate int
	release   func() // gives the last sample back to the encoder
	keyframe  atomic.Bool
	closed    bool
}

// VideoSource is a Source of video: a peer.VideoSource.
type VideoSource struct {
	*Source
	codec codec.VideoCodec
}

// NewVideoSource opens the encoded reader of a video track whose codec selector holds enc (see
// NewCodecSelector): it reads the track's first picture to learn its size and builds the encoder. It
// takes ownership of the track, and closes it if it fails.
func NewVideoSource(track mediadevices.Track, enc VideoEncoder) (*VideoSource, error) {
	if track.Kind() != webrtc.RTPCodecTypeVideo {
		track.Close()
		return nil, fmt.Errorf("live: %s track %s: want video", track.Kind(), track.ID())
	}
	s, err := newSource(track, enc.codecName(), 90000)
	if err != nil {
		return nil, err
	}
	return &VideoSource{Source: s, codec: enc.withDefaults().Codec}, nil
}

// NewAudioSource opens the encoded reader of an audio track whose codec selector holds an OpusEncoder:
// it reads the track's first chunk to learn its format and builds the encoder. It takes ownership of the
// track, and closes it if it fails.
func NewAudioSource(track mediadevices.Track) (*Source, error) {
	if track.Kind() != webrtc.RTPCodecTypeAudio {
		track.Close()
		return nil, fmt.Errorf("live: %s track %s: want audio", track.Kind(), track.ID())
	}
	return newSource(track, "opus", 48000)
}

func newSource(track mediadevices.Track, codecName string, clockRate int) (*Source, error) {
	r, err := track.NewEncodedReader(codecName)
	if err != nil {
		track.Close()
		return nil, fmt.Errorf("live: %s encoder for track %s: %w", codecName, track.ID(), err)
	}
	return &Source{track: track, r: r, clockRate: clockRate}, nil
}

// NewPatternSource returns a live test pattern encoded with enc: a Pattern in a mediadevices video track
// (mediadevices.NewVideoTrack) whose codec selector holds enc. enc.FrameRate defaults to the pattern's.
func NewPatternSource(cfg PatternConfig, enc VideoEncoder) (*VideoSource, error) {
	if err := enc.Validate(); err != nil {
		return nil, err
	}
	p, err := NewPattern(cfg)
	if err != nil {
		return nil, err
	}
	if enc.FrameRate == 0 {
		enc.FrameRate = p.cfg.FrameRate
	}
	return NewVideoSource(mediadevices.NewVideoTrack(p, NewCodecSelector(enc, OpusEncoder{})), enc)
}

// NewToneSource returns a live tone encoded with enc: a Tone in a mediadevices audio track
// (mediadevices.NewAudioTrack) whose codec selector holds enc.
func NewToneSource(cfg ToneConfig, enc OpusEncoder) (*Source, error) {
	if err := enc.config().Validate(); err != nil {
		return nil, err
	}
	t, err := NewTone(cfg)
	if err != nil {
		return nil, err
	}
	return NewAudioSource(mediadevices.NewAudioTrack(t, NewCodecSelector(VideoEncoder{}, enc)))
}

// Codec returns the codec of the video.
func (s *VideoSource) Codec() codec.VideoCodec { return s.codec }

// ReadSample waits for the track's next picture or chunk, encodes it and returns it, valid until the next
// call.
func (s *Source) ReadSample() (media.Sample, error) {
	if s.closed {
		return media.Sample{}, errClosed
	}
	if s.release != nil {
		s.release()
		s.release = nil
	}
	if s.keyframe.Swap(false) {
		if kc, ok := s.r.Controller().(mdcodec.KeyFrameController); ok {
			if err := kc.ForceKeyFrame(); err != nil {
				return media.Sample{}, fmt.Errorf("live: force keyframe: %w", err)
			}
		}
	}
	buf, release, err := s.r.Read()
	if err != nil {
		return media.Sample{}, fmt.Errorf("live: read %s: %w", s.track.ID(), err)
	}
	s.release = release
	return media.Sample{Data: buf.Data, Duration: time.Duration(buf.Samples) * time.Second / time.Duration(s.clockRate)}, nil
}

// ForceKeyframe makes the next video frame a keyframe; audio ignores it.
func (s *Source) ForceKeyframe() { s.keyframe.Store(true) }

// Close closes the encoder and the track. It is idempotent.
func (s *Source) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.release != nil {
		s.release()
		s.release = nil
	}
	return errors.Join(s.r.Close(), s.track.Close())
}
