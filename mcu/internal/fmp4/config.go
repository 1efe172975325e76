package fmp4

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

const (
	// DefaultFragmentDuration is the fragment length of a Config whose FragmentDuration is zero.
	DefaultFragmentDuration = time.Second
	// MaxFragmentDuration bounds FragmentDuration: a crash loses at most this much of a recording.
	MaxFragmentDuration = 2 * time.Second
	// MinFragmentDuration bounds FragmentDuration from below: shorter fragments only add overhead.
	MinFragmentDuration = 100 * time.Millisecond
	// VideoTimeScale is the video track's clock rate in Hz.
	VideoTimeScale = 90000
)

// Config describes the tracks of a file and how often it is fragmented. It is plain data, safe to copy.
type Config struct {
	// Video adds an H.264 track. Its parameter sets come from the first IDR access unit.
	Video bool
	// Audio adds an AAC track described by AudioConfig.
	Audio bool
	// AudioConfig is the AudioSpecificConfig (ISO 14496-3) of the AAC stream, e.g. from
	// aac.Encoder.AudioSpecificConfig; its sample rate is the audio track's timescale.
	AudioConfig []byte
	// FragmentDuration is the longest stretch of media in one fragment (MinFragmentDuration ..
	// MaxFragmentDuration); zero means DefaultFragmentDuration.
	FragmentDuration time.Duration
	// NoSync turns off the fsync after each fragment that the Writer otherwise does when its io.Writer
	// has a Sync method (an *os.File). A killed process keeps what it wrote either way; the fsync only
	// protects against a crash of the machine.
	NoSync bool
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	if !c.Video && !c.Audio {
		return errors.New("fmp4: config has neither video nor audio")
	}
	if c.Audio {
		if _, err := parseAudioConfig(c.AudioConfig); err != nil {
			return err
		}
	}
	if d := c.FragmentDuration; d != 0 && (d < MinFragmentDuration || d > MaxFragmentDuration) {
		return fmt.Errorf("fmp4: fragment duration %v out of range %v..%v", d, MinFragmentDuration, MaxFragmentDuration)
	}
	return nil
}

// fragmentDuration returns FragmentDuration with its default filled in.
func (c Config) fragmentDuration() time.Duration {
	if c.FragmentDuration == 0 {
		return DefaultFragmentDuration
	}
	return c.FragmentDuration
}

// parseAudioConfig parses and checks an AudioSpecificConfig.
func parseAudioConfig(b []byte) (*mpeg4audio.AudioSpecificConfig, error) {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("fmp4: audio config % x: %w", b, err)
	}
	if asc.SampleRate <= 0 || asc.ChannelConfig == 0 {
		return nil, fmt.Errorf("fmp4: audio config % x: %d Hz, channel configuration %d", b, asc.SampleRate, asc.ChannelConfig)
	}
	return &asc, nil
}
