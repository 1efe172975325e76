// Package replay holds pre-encoded media for synthetic participants that must cost little CPU (the
// capacity benchmark's and the soak's load: many bots at once). A Clip is a few seconds of H.264 or VP8
// video and of Opus audio, encoded once with codec/h264, codec/vp8 and codec/opus; any number of
// participants replay it in a loop, each through its own Video and Audio (peer.Source implementations).
// Replaying costs a participant little more than pion's packetization and SRTP.
//
// It carries media, so it imports codec packages; it contains no cgo itself.
package replay

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/codec/vp8"
)

// Config describes a Clip. Zero fields take the defaults noted. It is plain data.
type Config struct {
	// Colour is the picture's background; ToneHz the frequency of the sine (0 = silence) and
	// ToneAmplitude its peak (default 8000, about -12 dBFS).
	Colour        codec.YUV
	ToneHz        float64
	ToneAmplitude int16
	// Width, Height and FrameRate of the video (default 640x360 at 30 fps); VideoBitrate in bit/s
	// (default 500 kbit/s).
	Width, Height, FrameRate int
	VideoBitrate             int
	// VideoCodec is codec.H264 (the default) or codec.VP8.
	VideoCodec codec.VideoCodec
	// Duration is the length of the loop (default 2 s); KeyframeInterval the distance between two
	// keyframes (default 1 s; the first frame is always one).
	Duration, KeyframeInterval time.Duration
	// Content is what the video shows: Noise (the default) or Camera.
	Content Content
}

func (c *Config) defaults() {
	if c.ToneAmplitude == 0 {
		c.ToneAmplitude = 8000
	}
	if c.Width == 0 || c.Height == 0 {
		c.Width, c.Height = 640, 360
	}
	if c.FrameRate == 0 {
		c.FrameRate = 30
	}
	if c.VideoBitrate == 0 {
		c.VideoBitrate = 500_000
	}
	if c.VideoCodec == 0 {
		c.VideoCodec = codec.H264
	}
	if c.Duration == 0 {
		c.Duration = 2 * time.Second
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = time.Second
	}
}

// Clip is pre-encoded media that participants replay in a loop instead of encoding live (NewVideo,
// NewAudio): a few seconds of video and of Opus audio. Encoding happens once, in New.
//
// The video depends on Config.Content. Noise (the default) is Colour with a little luma noise in 4x4
// blocks that changes every frame (so that the encoder produces P-frames of a realistic size for its
// bitrate, and the server's decoder does real work) and a small grey block that travels round the
// picture's border, once per loop, away from the centre (where tests look for the colour). Camera is a
// camera-like scene in the colour: a still background and a person swaying and nodding at its centre (see
// Camera); its mean is the colour, its centre is not. Frame 0 and every KeyframeInterval after it are keyframes, so the loop's wrap lands on a
// keyframe and a replay can answer a keyframe request by skipping ahead to the next one.
//
// The audio is a whole number of 20 ms Opus packets. The tone is rounded to a whole number of cycles
// per loop (at most 1/(2·Duration) off: 0.25 Hz for 2 s) and the encoder runs over the loop three times,
// keeping the last pass, so that the wrap is seamless: no phase jump, and the encoder state the first
// packet was coded against is all but that of the end of the loop (with two passes a 200 ms window across
// the wrap measured 4 dB less tone-to-noise than elsewhere, with three 0.6 dB).
//
// A Clip is immutable and safe for concurrent use by any number of replays.
type Clip struct {
	cfg           Config
	frameDuration time.Duration
	video         [][]byte // encoded frames, views into one buffer
	keyframe      []bool
	audio         [][]byte // Opus packets of 20 ms, views into one buffer
	toneHz        float64
}

// New encodes cfg's video and audio. It takes about a millisecond per frame at 640x360.
func New(cfg Config) (*Clip, error) {
	cfg.defaults()
	switch {
	case cfg.FrameRate < 1 || cfg.FrameRate > 120:
		return nil, fmt.Errorf("clip frame rate %d: want 1 to 120", cfg.FrameRate)
	case cfg.Duration < codec.FrameDuration:
		return nil, fmt.Errorf("clip duration %v: want at least %v", cfg.Duration, codec.FrameDuration)
	case cfg.KeyframeInterval < 0:
		return nil, fmt.Errorf("clip keyframe interval %v: want a positive duration", cfg.KeyframeInterval)
	case cfg.VideoCodec != codec.H264 && cfg.VideoCodec != codec.VP8:
		return nil, fmt.Errorf("clip video codec %v: want H.264 or VP8", cfg.VideoCodec)
	case cfg.Content != Noise && cfg.Content != Camera:
		return nil, fmt.Errorf("clip content %v: want noise or camera", cfg.Content)
	}
	c := &Clip{cfg: cfg, frameDuration: time.Second / time.Duration(cfg.FrameRate)}
	if err := c.encodeVideo(); err != nil {
		return nil, fmt.Errorf("clip video: %w", err)
	}
	if err := c.encodeAudio(); err != nil {
		return nil, fmt.Errorf("clip audio: %w", err)
	}
	return c, nil
}

// Config returns the clip's configuration with the defaults filled in.
func (c *Clip) Config() Config { return c.cfg }

// VideoFrames returns the number of video frames in the loop.
func (c *Clip) VideoFrames() int { return len(c.video) }

// AudioPackets returns the number of 20 ms audio packets in the loop.
func (c *Clip) AudioPackets() int { return len(c.audio) }

// ToneHz returns the frequency actually encoded: Config().ToneHz rounded to whole cycles per loop.
func (c *Clip) ToneHz() float64 { return c.toneHz }

// VideoFrame returns encoded frame i of the loop (i modulo VideoFrames()): for H.264 an access unit in
// Annex B form, parameter sets before every keyframe, so that the frames of one or more loops laid end to
// end from frame 0 make a raw H.264 stream that any decoder reads (what the server decodes). The bytes
// are the clip's own: do not modify them.
func (c *Clip) VideoFrame(i int) []byte { return c.video[i%len(c.video)] }

// VideoBitrate returns the average bitrate of the encoded video, in bit/s.
func (c *Clip) VideoBitrate() int {
	var n int
	for _, f := range c.video {
		n += len(f)
	}
	return int(float64(n*8) / (float64(len(c.video)) * c.frameDuration.Seconds()))
}

// nextKeyframe returns the index of the first keyframe at or after i, wrapping to 0.
func (c *Clip) nextKeyframe(i int) int {
	for k := i; k < len(c.video); k++ {
		if c.keyframe[k] {
			return k
		}
	}
	return 0
}

func (c *Clip) encodeVideo() error {
	cfg := c.cfg
	var enc codec.VideoEncoder
	var err error
	if cfg.VideoCodec == codec.VP8 {
		enc, err = vp8.NewEncoder(vp8.Config{Width: cfg.Width, Height: cfg.Height, FrameRate: cfg.FrameRate,
			Bitrate: cfg.VideoBitrate})
	} else {
		enc, err = h264.NewEncoder(h264.Config{Width: cfg.Width, Height: cfg.Height, FrameRate: cfg.FrameRate,
			Bitrate: cfg.VideoBitrate, KeyframeInterval: cfg.KeyframeInterval})
	}
	if err != nil {
		return fmt.Errorf("new %v encoder: %w", cfg.VideoCodec, err)
	}
	defer enc.Close()
	frames := max(1, int(math.Round(cfg.Duration.Seconds()*float64(cfg.FrameRate))))
	every := max(1, int(math.Round(cfg.KeyframeInterval.Seconds()*float64(cfg.FrameRate))))
	var buf []byte
	ends := make([]int, 0, frames)
	c.keyframe = make([]bool, frames)
	pic := enc.Frame()
	draw := func(i int) { drawClipFrame(pic, cfg.Colour, i, frames) }
	if cfg.Content == Camera {
		scene := newCameraScene(cfg.Width, cfg.Height, cfg.Colour)
		draw = func(i int) { scene.draw(pic, i, frames) }
	}
	for i := range frames {
		draw(i)
		if i%every == 0 {
			enc.ForceKeyframe()
		}
		au, key, err := enc.Encode(nil)
		if err != nil {
			return fmt.Errorf("encode frame %d: %w", i, err)
		}
		if len(au) == 0 {
			return fmt.Errorf("encode frame %d: empty output", i)
		}
		if i%every == 0 && !key {
			return fmt.Errorf("encode frame %d: asked for a keyframe, got none", i)
		}
		c.keyframe[i] = key
		buf = append(buf, au...)
		ends = append(ends, len(buf))
	}
	c.video = split(buf, ends)
	return nil
}

func (c *Clip) encodeAudio() error {
	cfg := c.cfg
	packets := max(1, int(math.Round(float64(cfg.Duration)/float64(codec.FrameDuration))))
	samples := packets * codec.FrameSamples
	loop := float64(samples) / codec.SampleRate // seconds
	cycles := math.Round(cfg.ToneHz * loop)
	c.toneHz = cycles / loop
	pcm := make([]int16, samples)
	for i := range pcm {
		pcm[i] = int16(math.Round(float64(cfg.ToneAmplitude) * math.Sin(2*math.Pi*cycles*float64(i)/float64(samples))))
	}
	enc, err := opus.NewEncoder(opus.DefaultEncoderConfig())
	if err != nil {
		return fmt.Errorf("new opus encoder: %w", err)
	}
	defer enc.Close()
	out := make([]byte, opus.MaxPacketSize)
	var buf []byte
	ends := make([]int, 0, packets)
	for pass := range 3 { // the first passes only settle the encoder, so the wrap sounds like any other frame
		for i := range packets {
			n, err := enc.Encode(pcm[i*codec.FrameSamples:(i+1)*codec.FrameSamples], out)
			if err != nil {
				return fmt.Errorf("encode packet %d: %w", i, err)
			}
			if pass == 2 {
				if n == 0 {
					return errors.New("encoder returned an empty packet")
				}
				buf = append(buf, out[:n]...)
				ends = append(ends, len(buf))
			}
		}
	}
	c.audio = split(buf, ends)
	return nil
}

// split cuts buf at ends into capacity-limited views.
func split(buf []byte, ends []int) [][]byte {
	out := make([][]byte, len(ends))
	start := 0
	for i, e := range ends {
		out[i] = buf[start:e:e]
		start = e
	}
	return out
}

// drawClipFrame paints frame i of n: colour with luma noise (-3..+4 in 4x4 blocks, new every frame) and a grey
// block on a trip round the border that takes the whole loop.
func drawClipFrame(f *codec.VideoFrame, colour codec.YUV, i, n int) {
	f.Fill(colour)
	s := uint64(i)*0x9e3779b97f4a7c15 + 1
	for by := 0; by < f.Height; by += 4 {
		for bx := 0; bx < f.Width; bx += 4 {
			s ^= s >> 12
			s ^= s << 25
			s ^= s >> 27
			d := int((s*0x2545f4914f6cdd1d)>>61) - 3 // -3 .. 4
			y := uint8(min(max(int(colour.Y)+d, 16), 235))
			for yy := by; yy < min(by+4, f.Height); yy++ {
				row := f.Y[yy*f.StrideY+bx : yy*f.StrideY+min(bx+4, f.Width)]
				for x := range row {
					row[x] = y
				}
			}
		}
	}
	size := max(min(f.Width, f.Height)/8&^1, 2)
	margin := size / 2 &^ 1
	w, h := f.Width-2*margin-size, f.Height-2*margin-size
	if w <= 0 || h <= 0 {
		return
	}
	// Position along the perimeter of the inset rectangle, proportional to i/n.
	p := i * 2 * (w + h) / n
	var x, y int
	switch {
	case p < w:
		x, y = p, 0
	case p < w+h:
		x, y = w, p-w
	case p < 2*w+h:
		x, y = w-(p-w-h), h
	default:
		x, y = 0, h-(p-2*w-h)
	}
	x, y = (margin+x)&^1, (margin+y)&^1
	grey := uint8(235)
	if colour.Y > 128 {
		grey = 16
	}
	for yy := y; yy < y+size; yy++ {
		row := f.Y[yy*f.StrideY+x : yy*f.StrideY+x+size]
		for k := range row {
			row[k] = grey
		}
	}
	for yy := y / 2; yy < (y+size)/2; yy++ {
		u := f.U[yy*f.StrideU+x/2 : yy*f.StrideU+(x+size)/2]
		v := f.V[yy*f.StrideV+x/2 : yy*f.StrideV+(x+size)/2]
		for k := range u {
			u[k], v[k] = 128, 128
		}
	}
}
