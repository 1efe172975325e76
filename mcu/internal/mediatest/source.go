// Package mediatest holds what the tests of the recording and streaming leaves (mcu/internal/fmp4,
// mcu/internal/rtmp) share: a synthetic room output (coloured H.264 frames and AAC audio, stamped from a
// simulated clock), checks of media files through Debian's ffprobe and ffmpeg, and a real RTMP receiver
// (ffmpeg -listen) on loopback.
//
// Nothing here is for production code paths: the helpers fail the test on any error and allocate freely.
package mediatest

import (
	"errors"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/aac"
	"github.com/openmcu/mcu/codec/h264"
)

// Event is one access unit of a Source, in the order the room would produce it.
type Event struct {
	// Video tells a video access unit (Annex-B H.264) from an audio one (raw AAC).
	Video bool
	// Time is the decode time of a video access unit, the presentation time of an audio one.
	Time time.Duration
	// Data is the access unit; it is valid only during the callback.
	Data []byte
	// Key marks an IDR picture.
	Key bool
}

// Source describes a synthetic room output. Its zero value is not useful: set the functions of the
// tracks wanted. A Source is used by one goroutine.
type Source struct {
	// Width, Height and FPS of the video; zero means 320x180 at 30 fps.
	Width, Height, FPS int
	// KeyframeInterval of the encoder; zero means one second.
	KeyframeInterval time.Duration
	// Color gives the colour of the video frame at t; nil means no video.
	Color func(t time.Duration) codec.YUV
	// Sample gives audio sample i (at 48 kHz, time i/48000 s); nil means no audio.
	Sample func(i int64) int16
	// Jitter, when positive, moves each video timestamp by a pseudo-random amount within ±Jitter, as a
	// real frame clock's wakeups do.
	Jitter time.Duration
}

// Run encodes the first d of the source and calls emit for every access unit, video and audio
// interleaved in the order of a real clock (a video frame at its time, an audio frame once its 20 ms have
// passed). It fails tb if an encoder cannot be opened (skipping the test without cgo) or emit returns
// an error. stopAt, if not nil, is called with the clock's time before each event and ends Run early when
// it returns true.
func (s Source) Run(tb testing.TB, d time.Duration, emit func(Event) error, stopAt func(time.Duration) bool) {
	tb.Helper()
	w, h, fps := s.Width, s.Height, s.FPS
	if w == 0 {
		w, h, fps = 320, 180, 30
	}
	key := s.KeyframeInterval
	if key == 0 {
		key = time.Second
	}
	var venc *h264.Encoder
	if s.Color != nil {
		enc, err := h264.NewEncoder(h264.Config{Width: w, Height: h, FrameRate: fps, Bitrate: 400_000, KeyframeInterval: key})
		skipUnsupported(tb, err)
		defer enc.Close()
		venc = enc
	}
	var aenc *aac.Encoder
	if s.Sample != nil {
		enc, err := aac.NewEncoder()
		skipUnsupported(tb, err)
		defer enc.Close()
		aenc = enc
	}
	pcm := make([]int16, codec.FrameSamples)
	frame, audioFrame := 0, 0
	for {
		vt := time.Duration(frame) * time.Second / time.Duration(fps)
		at := time.Duration(audioFrame+1) * codec.FrameDuration // when the audio frame is complete
		doVideo := venc != nil && (aenc == nil || vt <= at)
		now := at
		if doVideo {
			now = vt
		}
		// Audio access units come out of the encoder about 64 ms after their time: run on until those
		// of the last moments before d are out.
		if now >= d+100*time.Millisecond || (venc == nil && aenc == nil) {
			return
		}
		if stopAt != nil && stopAt(now) {
			return
		}
		if doVideo {
			pic := venc.Frame()
			pic.Fill(s.Color(vt))
			au, isKey, err := venc.Encode(nil)
			if err != nil {
				tb.Fatalf("encode video frame %d: %v", frame, err)
			}
			if now < d && len(au) > 0 {
				if err := emit(Event{Video: true, Time: vt + s.JitterOf(frame), Data: au, Key: isKey}); err != nil {
					tb.Fatalf("video frame %d at %v: %v", frame, vt, err)
				}
			}
			frame++
			continue
		}
		first := int64(audioFrame * codec.FrameSamples)
		for i := range pcm {
			pcm[i] = s.Sample(first + int64(i))
		}
		aus, err := aenc.Encode(pcm)
		if err != nil {
			tb.Fatalf("encode audio frame %d: %v", audioFrame, err)
		}
		for _, au := range aus {
			if au.Time() < d {
				if err := emit(Event{Time: au.Time(), Data: au.Data}); err != nil {
					tb.Fatalf("audio access unit at %v: %v", au.Time(), err)
				}
			}
		}
		audioFrame++
	}
}

// JitterOf returns the offset that Run adds to the timestamp of video frame n (0 without Jitter).
func (s Source) JitterOf(n int) time.Duration {
	if s.Jitter <= 0 {
		return 0
	}
	x := uint64(n)*0x9e3779b97f4a7c15 + 1
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return time.Duration(x%uint64(2*s.Jitter+1)) - s.Jitter
}

func skipUnsupported(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, errors.ErrUnsupported) {
		tb.Skipf("encoders need cgo: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
}
