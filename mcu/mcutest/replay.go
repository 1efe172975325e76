package mcutest

import (
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/openmcu/mcu/codec"
)

// pliInterval is the shortest time between two keyframe requests from a client.
const pliInterval = 500 * time.Millisecond

// replayVideo sends clip's frames in a loop at its frame rate until the client closes. A keyframe request
// skips ahead to the clip's next keyframe. Besides pion's packetization it allocates nothing.
func (c *Client) replayVideo(clip *Clip) {
	defer c.wg.Done()
	interval := clip.frameDuration
	tick := time.NewTicker(interval)
	defer tick.Stop()
	i := 0
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		if c.keyframe.Swap(false) {
			i = clip.nextKeyframe(i)
		}
		if err := c.outVideo.WriteSample(media.Sample{Data: clip.video[i], Duration: interval}); err != nil {
			c.log.Debug("write video", "err", err)
		}
		if i++; i == len(clip.video) {
			i = 0
		}
	}
}

// replayAudio sends clip's Opus packets in a loop, one every 20 ms, until the client closes.
func (c *Client) replayAudio(clip *Clip) {
	defer c.wg.Done()
	tick := time.NewTicker(codec.FrameDuration)
	defer tick.Stop()
	i := 0
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.outAudio.WriteSample(media.Sample{Data: clip.audio[i], Duration: codec.FrameDuration}); err != nil {
			c.log.Debug("write audio", "err", err)
		}
		if i++; i == len(clip.audio) {
			i = 0
		}
	}
}

// countVideo counts received video packets and frames without decoding (Config.NoDecode). A missing
// packet makes it ask for a keyframe, at most once per pliInterval, as a decoder that lost its reference
// would.
func (c *Client) countVideo(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	frames := frameState{interval: int64(time.Second) / int64(c.cfg.ExpectedFrameRate)}
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}}
	var lastPLI int64
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		seq, ts, payload, ok := rtpFields(buf[:n])
		if !ok {
			continue
		}
		now := c.stats.now()
		if c.stats.videoPacket(&frames, seq, ts, payload, now) && (lastPLI == 0 || now-lastPLI >= int64(pliInterval)) {
			lastPLI = now
			if err := c.pc.WriteRTCP(pli); err == nil {
				c.stats.plis.Add(1)
			}
		}
	}
}

// countAudio counts received audio packets without decoding (Config.NoDecode).
func (c *Client) countAudio(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if seq, _, payload, ok := rtpFields(buf[:n]); ok {
			c.stats.audioPacket(seq, payload, c.stats.now())
		}
	}
}
