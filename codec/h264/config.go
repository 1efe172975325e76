package h264

import (
	"fmt"
	"time"

	"github.com/openmcu/mcu/codec"
)

// Defaults applied by NewEncoder to zero fields of Config.
const (
	// DefaultPreset is the x264 speed preset used when Config.Preset is empty.
	DefaultPreset = "ultrafast"
	// DefaultKeyframeInterval is the longest time between two IDR pictures when Config.KeyframeInterval
	// is zero. Receivers ask for keyframes when they need them, so this is only a backstop.
	DefaultKeyframeInterval = 10 * time.Second
)

// Config describes one H.264 output: picture size, frame rate and target bitrate. It is plain data and
// safe to copy and serialise.
type Config struct {
	// Width and Height of the encoded picture in pixels; even, at most codec.MaxWidth x codec.MaxHeight.
	Width, Height int
	// FrameRate in frames per second (1..120). The encoder assumes one Encode call per frame interval.
	FrameRate int
	// Bitrate is the target bitrate in bits per second (10 kbit/s .. 50 Mbit/s).
	Bitrate int
	// Preset is the x264 speed preset ("ultrafast" .. "veryslow"); empty means DefaultPreset.
	Preset string
	// KeyframeInterval is the longest time between two IDR pictures; zero means DefaultKeyframeInterval.
	KeyframeInterval time.Duration
	// SliceMaxSize, when not zero, cuts each picture into slices of at most this many bytes (100..65535),
	// so that every NAL unit fits one RTP packet: receivers in packetization-mode 0 need that.
	SliceMaxSize int
	// MeasurePSNR makes the encoder measure each picture's PSNR against its input (Encoder.LastPSNR). It
	// costs a little CPU per picture; off by default.
	MeasurePSNR bool
	// AnalyseUnchanged makes x264 analyse every macroblock of a picture given to Encode, even those that
	// did not change since the previous picture (which it otherwise codes as skipped without analysis
	// where that loses nothing). Off by default; for measuring what the skipping saves.
	AnalyseUnchanged bool
}

// DefaultConfig returns the main output tier: 1280x720 at 30 fps and 1.5 Mbit/s, ultrafast.
func DefaultConfig() Config {
	return Config{
		Width: 1280, Height: 720, FrameRate: 30, Bitrate: 1_500_000,
		Preset: DefaultPreset, KeyframeInterval: DefaultKeyframeInterval,
	}
}

// MaxPSNR is the PSNR, in dB, that x264 reports for a picture coded without any error (it caps PSNR there
// rather than report infinity).
const MaxPSNR = 100

// Bitrate limits accepted by Validate and SetBitrate, in bits per second.
const (
	MinBitrate = 10_000
	MaxBitrate = 50_000_000
)

var presets = [...]string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}

// Validate reports the first invalid field of c, wrapping codec.ErrFrameSize for a bad picture size.
func (c Config) Validate() error {
	if c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0 ||
		c.Width > codec.MaxWidth || c.Height > codec.MaxHeight {
		return fmt.Errorf("h264: size %dx%d: %w", c.Width, c.Height, codec.ErrFrameSize)
	}
	if c.FrameRate < 1 || c.FrameRate > 120 {
		return fmt.Errorf("h264: frame rate %d out of range 1..120", c.FrameRate)
	}
	if c.Bitrate < MinBitrate || c.Bitrate > MaxBitrate {
		return fmt.Errorf("h264: bitrate %d out of range %d..%d", c.Bitrate, MinBitrate, MaxBitrate)
	}
	if c.SliceMaxSize != 0 && (c.SliceMaxSize < 100 || c.SliceMaxSize > 65535) {
		return fmt.Errorf("h264: slice max size %d out of range 100..65535", c.SliceMaxSize)
	}
	if c.Preset != "" {
		ok := false
		for _, p := range presets {
			ok = ok || p == c.Preset
		}
		if !ok {
			return fmt.Errorf("h264: unknown preset %q", c.Preset)
		}
	}
	if c.KeyframeInterval < 0 {
		return fmt.Errorf("h264: negative keyframe interval %v", c.KeyframeInterval)
	}
	return nil
}

// withDefaults fills the zero fields that have defaults.
func (c Config) withDefaults() Config {
	if c.Preset == "" {
		c.Preset = DefaultPreset
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = DefaultKeyframeInterval
	}
	return c
}

// keyint is the keyframe interval in frames, at least 1.
func (c Config) keyint() int {
	n := int(c.KeyframeInterval * time.Duration(c.FrameRate) / time.Second)
	return max(n, 1)
}

// levels lists the H.264 levels (table A-1) with their limits on frame size and macroblock rate.
var levels = [...]struct{ idc, frameMBs, mbPerSec int }{
	{10, 99, 1485},
	{11, 396, 3000},
	{12, 396, 6000},
	{13, 396, 11880},
	{20, 396, 11880},
	{21, 792, 19800},
	{22, 1620, 20250},
	{30, 1620, 40500},
	{31, 3600, 108000},
	{32, 5120, 216000},
	{40, 8192, 245760},
	{41, 8192, 245760},
	{42, 8704, 522240},
	{50, 22080, 589824},
	{51, 36864, 983040},
	{52, 36864, 2073600},
}

// minLevel is the lowest level the encoder signals: level 3.1 is what profile-level-id 42e01f announces
// in SDP, and 1280x720 at 30 fps (3600 macroblocks, 108000 per second) is exactly at its limits.
const minLevel = 31

// Macroblocks returns how many 16x16 macroblocks a width x height picture has.
func Macroblocks(width, height int) int { return ((width + 15) / 16) * ((height + 15) / 16) }

// MaxFrameMacroblocks returns the largest picture, in macroblocks, that a decoder of level levelIdc
// (the last byte of a profile-level-id: 13 for level 1.3, 31 for 3.1) takes; lower than every level
// (level 1b is 9 or 11 with a flag): level 1's 99.
func MaxFrameMacroblocks(levelIdc int) int {
	mbs := levels[0].frameMBs
	for _, l := range levels {
		if l.idc <= levelIdc {
			mbs = l.frameMBs
		}
	}
	return mbs
}

// level returns the level_idc for the size and frame rate of c: minLevel whenever it fits, the lowest
// higher level that fits otherwise, and 52 past every limit.
func (c Config) level() int {
	mbs := Macroblocks(c.Width, c.Height)
	for _, l := range levels {
		if l.idc >= minLevel && mbs <= l.frameMBs && mbs*c.FrameRate <= l.mbPerSec {
			return l.idc
		}
	}
	return 52
}
