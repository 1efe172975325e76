package mcutest

import (
	"errors"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/signaling/bot/peer"
)

// Flash and FlashHz describe the marker of a flashing client (Config.Flash): for the first Flash of
// every second of its clock its picture is white and it beeps at FlashHz; otherwise its picture is
// black and it is silent. Comparing when the flashes and the beeps come out of the server measures
// audio/video synchronisation.
const (
	Flash   = 100 * time.Millisecond
	FlashHz = 1000
)

// FlashLog records when a flashing client really sent each flash's first white picture and the first
// sample of each beep: a loaded machine sends them late, and not by the same amount, so the skew a test
// measures downstream must be taken relative to the skew at the source. Safe for concurrent use.
type FlashLog struct {
	mu           sync.Mutex
	start        time.Time         // the client's clock: flash k is due at start + k s
	video, audio map[int]time.Time // by second of the client's clock
}

// Flash returns the flash of the client's clock nearest to wall time t.
func (l *FlashLog) Flash(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int((t.Sub(l.start) + time.Second/2) / time.Second)
}

// Skew returns the audio's minus the video's send time of flash k, and whether both were sent.
func (l *FlashLog) Skew(k int) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, okv := l.video[k]
	a, oka := l.audio[k]
	return a.Sub(v), okv && oka
}

// Video returns the send times of the flashes' first pictures, by second.
func (l *FlashLog) Video() map[int]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.video)
}

// Audio returns the send times of the beeps' first audio frames, by second.
func (l *FlashLog) Audio() map[int]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.audio)
}

func (l *FlashLog) note(video bool, k int, at time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	m := &l.audio
	if video {
		m = &l.video
	}
	if *m == nil {
		*m = make(map[int]time.Time)
	}
	if _, ok := (*m)[k]; !ok {
		(*m)[k] = at
	}
}

// flashOn reports whether the marker is on at t on the client's clock.
func flashOn(t time.Duration) bool { return t%time.Second < Flash }

// flashVideo is the picture of a flashing client: H.264 at 30 fps, paced by the wall clock from start.
type flashVideo struct {
	enc   *h264.Encoder
	start time.Time
	n     int
	key   atomic.Bool
	log   *FlashLog
}

const flashFPS = 30

func newFlashVideo(start time.Time, width, height int) (*flashVideo, error) {
	enc, err := h264.NewEncoder(h264.Config{Width: width, Height: height, FrameRate: flashFPS, Bitrate: 500_000,
		KeyframeInterval: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	return &flashVideo{enc: enc, start: start}, nil
}

func (f *flashVideo) ReadSample() (media.Sample, error) {
	at := time.Duration(f.n) * time.Second / flashFPS
	time.Sleep(time.Until(f.start.Add(at)))
	f.n++
	c := codec.YUV{Y: 16, U: 128, V: 128}
	if flashOn(at) {
		c = codec.YUV{Y: 235, U: 128, V: 128}
	}
	f.enc.Frame().Fill(c)
	if f.key.Swap(false) {
		f.enc.ForceKeyframe()
	}
	data, _, err := f.enc.Encode(nil)
	if flashOn(at) {
		f.log.note(true, int(at/time.Second), time.Now()) // written to the track as this returns
	}
	return media.Sample{Data: data, Duration: time.Second / flashFPS}, err
}

func (f *flashVideo) ForceKeyframe()          { f.key.Store(true) }
func (f *flashVideo) Close() error            { return f.enc.Close() }
func (f *flashVideo) Codec() codec.VideoCodec { return codec.H264 }

// flashAudio is the sound of a flashing client: Opus, 20 ms frames paced by the wall clock from start.
type flashAudio struct {
	enc   *opus.Encoder
	start time.Time
	n     int
	pcm   []int16
	buf   []byte
	log   *FlashLog
}

func newFlashAudio(start time.Time) (*flashAudio, error) {
	enc, err := opus.NewEncoder(opus.DefaultEncoderConfig())
	if err != nil {
		return nil, err
	}
	return &flashAudio{enc: enc, start: start, pcm: make([]int16, codec.FrameSamples),
		buf: make([]byte, opus.MaxPacketSize)}, nil
}

func (f *flashAudio) ReadSample() (media.Sample, error) {
	at := time.Duration(f.n) * codec.FrameDuration
	time.Sleep(time.Until(f.start.Add(at)))
	f.n++
	for i := range f.pcm {
		t := at + time.Duration(i)*time.Second/codec.SampleRate
		f.pcm[i] = 0
		if flashOn(t) {
			f.pcm[i] = int16(12000 * math.Sin(2*math.Pi*FlashHz*t.Seconds()))
		}
	}
	n, err := f.enc.Encode(f.pcm, f.buf)
	// The beep of second k starts inside this frame when k s is in [at, at+20 ms): the frame is sent as
	// this returns, and the beep's first sample is beep-at into it.
	if k := (at + codec.FrameDuration - 1) / time.Second; k*time.Second >= at {
		f.log.note(false, int(k), time.Now().Add(k*time.Second-at))
	}
	return media.Sample{Data: f.buf[:n], Duration: codec.FrameDuration}, err
}

func (f *flashAudio) ForceKeyframe() {}
func (f *flashAudio) Close() error   { return f.enc.Close() }

// flashSources returns the picture and sound of a flashing client, on one clock.
func flashSources(width, height int, log *FlashLog) (peer.VideoSource, peer.Source, error) {
	start := time.Now()
	v, err := newFlashVideo(start, width, height)
	if err != nil {
		return nil, nil, err
	}
	a, err := newFlashAudio(start)
	if err != nil {
		return nil, nil, errors.Join(err, v.Close())
	}
	v.log, a.log = log, log
	if log != nil {
		log.mu.Lock()
		log.start = start
		log.mu.Unlock()
	}
	return v, a, nil
}
