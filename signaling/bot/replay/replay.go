package replay

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/openmcu/mcu/codec"
)

// errClosed is returned by ReadSample after Close.
var errClosed = errors.New("replay: closed")

// Video replays a Clip's video in a loop at its frame rate; a keyframe request skips ahead to the clip's
// next keyframe. It implements peer.VideoSource and allocates nothing per frame.
//
// A Video belongs to the goroutine that calls ReadSample and Close (the peer.Client's sender);
// ForceKeyframe is safe from any goroutine.
type Video struct {
	clip     *Clip
	i        int
	tick     *time.Ticker // started by the first ReadSample
	keyframe atomic.Bool
	closed   bool
}

// NewVideo returns a replay of c's video starting at its first frame. It starts nothing: the first
// ReadSample starts the clock.
func NewVideo(c *Clip) *Video { return &Video{clip: c} }

// Codec returns the clip's video codec.
func (v *Video) Codec() codec.VideoCodec { return v.clip.cfg.VideoCodec }

// ReadSample waits for the next frame interval and returns the next frame of the loop.
func (v *Video) ReadSample() (media.Sample, error) {
	if v.closed {
		return media.Sample{}, errClosed
	}
	d := v.clip.frameDuration
	if v.tick == nil {
		v.tick = time.NewTicker(d)
	}
	<-v.tick.C
	if v.keyframe.Swap(false) {
		v.i = v.clip.nextKeyframe(v.i)
	}
	s := media.Sample{Data: v.clip.video[v.i], Duration: d}
	if v.i++; v.i == len(v.clip.video) {
		v.i = 0
	}
	return s, nil
}

// ForceKeyframe makes the next frame the clip's next keyframe (the loop's first frame if none follows).
func (v *Video) ForceKeyframe() { v.keyframe.Store(true) }

// Close stops the clock. It is idempotent.
func (v *Video) Close() error {
	if v.tick != nil {
		v.tick.Stop()
	}
	v.closed = true
	return nil
}

// Audio replays a Clip's Opus packets in a loop, one every 20 ms. It implements peer.Source and
// allocates nothing per packet.
//
// An Audio belongs to the goroutine that calls ReadSample and Close.
type Audio struct {
	clip   *Clip
	i      int
	tick   *time.Ticker // started by the first ReadSample
	closed bool
}

// NewAudio returns a replay of c's audio starting at its first packet. It starts nothing: the first
// ReadSample starts the clock.
func NewAudio(c *Clip) *Audio { return &Audio{clip: c} }

// ReadSample waits for the next 20 ms and returns the next packet of the loop.
func (a *Audio) ReadSample() (media.Sample, error) {
	if a.closed {
		return media.Sample{}, errClosed
	}
	if a.tick == nil {
		a.tick = time.NewTicker(codec.FrameDuration)
	}
	<-a.tick.C
	s := media.Sample{Data: a.clip.audio[a.i], Duration: codec.FrameDuration}
	if a.i++; a.i == len(a.clip.audio) {
		a.i = 0
	}
	return s, nil
}

// ForceKeyframe does nothing: every audio packet stands alone.
func (a *Audio) ForceKeyframe() {}

// Close stops the clock. It is idempotent.
func (a *Audio) Close() error {
	if a.tick != nil {
		a.tick.Stop()
	}
	a.closed = true
	return nil
}
