package live

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/mediadevices"
	mdcodec "github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/codec/vp8"
)

// VideoEncoder is a mediadevices codec adapter (mdcodec.VideoEncoderBuilder) over this project's own
// encoders: codec/vp8 (libvpx) or codec/h264 (x264). Using it instead of mediadevices' pkg/codec/vpx or
// pkg/codec/x264 links each C library once, through codec/, and keeps cgo out of this package. The
// encoder it builds takes the picture size from the track, converts any picture to I420 (mediadevices'
// video.ToI420) and copies it into the encoder's own picture, forces a keyframe on request
// (mdcodec.KeyFrameController: mediadevices' RTCP loop or Source.ForceKeyframe) and changes its bitrate
// on request (mdcodec.BitRateController).
//
// It is plain data, safe to copy and to share.
type VideoEncoder struct {
	// Codec is codec.VP8 (the default) or codec.H264 (Constrained Baseline, as browsers receive it).
	Codec codec.VideoCodec
	// Bitrate is the target in bit/s (default 500 kbit/s).
	Bitrate int
	// FrameRate is the encoder's frame rate when the track does not tell it (mediadevices' detection
	// does not): default 30. It only steers rate control; frames are encoded as they come.
	FrameRate int
	// KeyframeInterval is the longest time between two keyframes for H.264 (default 2 s); VP8 uses
	// codec/vp8's own. Receivers ask for keyframes when they need them.
	KeyframeInterval time.Duration
}

func (b VideoEncoder) withDefaults() VideoEncoder {
	if b.Codec == 0 {
		b.Codec = codec.VP8
	}
	if b.Bitrate == 0 {
		b.Bitrate = 500_000
	}
	if b.FrameRate == 0 {
		b.FrameRate = 30
	}
	if b.KeyframeInterval == 0 {
		b.KeyframeInterval = 2 * time.Second
	}
	return b
}

// Validate reports whether the codec, bitrate and frame rate are usable, after defaults.
func (b VideoEncoder) Validate() error {
	b = b.withDefaults()
	// The size is the track's: check the rest with a size every encoder accepts.
	switch b.Codec {
	case codec.VP8:
		return vp8.Config{Width: 640, Height: 360, FrameRate: b.FrameRate, Bitrate: b.Bitrate}.Validate()
	case codec.H264:
		return h264.Config{Width: 640, Height: 360, FrameRate: b.FrameRate, Bitrate: b.Bitrate,
			KeyframeInterval: b.KeyframeInterval}.Validate()
	}
	return fmt.Errorf("live: video codec %v: want VP8 or H.264", b.Codec)
}

// codecName is the name mediadevices matches against the end of the RTP codec's MIME type.
func (b VideoEncoder) codecName() string { return b.withDefaults().Codec.String() }

// RTPCodec returns mediadevices' description of the codec. Its payload type and payloader are unused
// here: peer.Client packetizes with pion's TrackLocalStaticSample under the negotiated payload type.
func (b VideoEncoder) RTPCodec() *mdcodec.RTPCodec {
	if b.withDefaults().Codec == codec.H264 {
		return mdcodec.NewRTPH264Codec(90000)
	}
	return mdcodec.NewRTPVP8Codec(90000)
}

// BuildVideoEncoder opens an encoder for the track's picture size (rounded down to even) that reads
// pictures from r. It is called by mediadevices when a track's encoded reader is created.
func (b VideoEncoder) BuildVideoEncoder(r video.Reader, p prop.Media) (mdcodec.ReadCloser, error) {
	b = b.withDefaults()
	w, h := p.Width&^1, p.Height&^1
	fps := b.FrameRate
	if p.FrameRate >= 1 {
		fps = int(p.FrameRate + 0.5)
	}
	var enc codec.VideoEncoder
	var err error
	switch b.Codec {
	case codec.VP8:
		enc, err = vp8.NewEncoder(vp8.Config{Width: w, Height: h, FrameRate: fps, Bitrate: b.Bitrate})
	case codec.H264:
		enc, err = h264.NewEncoder(h264.Config{Width: w, Height: h, FrameRate: fps, Bitrate: b.Bitrate,
			KeyframeInterval: b.KeyframeInterval})
	default:
		err = fmt.Errorf("live: video codec %v: want VP8 or H.264", b.Codec)
	}
	if err != nil {
		return nil, err
	}
	return &videoEncoder{r: video.ToI420(r), enc: enc}, nil
}

// videoEncoder is what VideoEncoder builds. Read and Close belong to one goroutine (the reader of the
// encoded track); ForceKeyFrame and SetBitRate are safe from any goroutine and take effect at the next
// Read.
type videoEncoder struct {
	r        video.Reader
	enc      codec.VideoEncoder
	keyframe atomic.Bool
	bitrate  atomic.Int64 // a requested bitrate not yet applied; 0 if none
}

// Read reads the next picture, encodes it and returns the encoded frame, valid until the next Read. A
// picture the encoder drops is skipped.
func (e *videoEncoder) Read() ([]byte, func(), error) {
	for {
		img, release, err := e.r.Read()
		if err != nil {
			return nil, func() {}, err
		}
		yuv, ok := img.(*image.YCbCr)
		if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			release()
			return nil, func() {}, fmt.Errorf("live: picture %T is not I420", img)
		}
		copyI420(e.enc.Frame(), yuv)
		release()
		if br := e.bitrate.Swap(0); br > 0 {
			if err := e.enc.SetBitrate(int(br)); err != nil {
				return nil, func() {}, err
			}
		}
		if e.keyframe.Swap(false) {
			e.enc.ForceKeyframe()
		}
		data, _, err := e.enc.Encode(nil)
		if err != nil {
			return nil, func() {}, err
		}
		if len(data) > 0 {
			return data, func() {}, nil
		}
	}
}

// Close frees the encoder. It is idempotent.
func (e *videoEncoder) Close() error { return e.enc.Close() }

// Controller returns the encoder itself: a KeyFrameController and a BitRateController.
func (e *videoEncoder) Controller() mdcodec.EncoderController { return e }

// ForceKeyFrame makes the next encoded frame a keyframe.
func (e *videoEncoder) ForceKeyFrame() error {
	e.keyframe.Store(true)
	return nil
}

// SetBitRate changes the target bitrate (bit/s) from the next frame on.
func (e *videoEncoder) SetBitRate(bitrate int) error {
	if bitrate <= 0 {
		return fmt.Errorf("live: bitrate %d", bitrate)
	}
	e.bitrate.Store(int64(bitrate))
	return nil
}

// copyI420 copies the 4:2:0 picture src into dst, cropped to the smaller of the two.
func copyI420(dst *codec.VideoFrame, src *image.YCbCr) {
	r := src.Rect
	w, h := min(dst.Width, r.Dx()), min(dst.Height, r.Dy())
	for y := range h {
		o := src.YOffset(r.Min.X, r.Min.Y+y)
		copy(dst.Y[y*dst.StrideY:y*dst.StrideY+w], src.Y[o:o+w])
	}
	cw := (w + 1) / 2
	for y := 0; y < (h+1)/2; y++ {
		o := src.COffset(r.Min.X, r.Min.Y+2*y)
		copy(dst.U[y*dst.StrideU:y*dst.StrideU+cw], src.Cb[o:o+cw])
		copy(dst.V[y*dst.StrideV:y*dst.StrideV+cw], src.Cr[o:o+cw])
	}
}

// OpusEncoder is a mediadevices codec adapter (mdcodec.AudioEncoderBuilder) over this project's
// codec/opus (libopus through gopkg.in/hraban/opus.v2). mediadevices' own pkg/codec/opus bundles a static
// libopus that would sit in the same binary beside the system one; this adapter avoids that. The encoder
// it builds takes 48 kHz audio of any channel count and sample format, mixes it down to mono, cuts it
// into 20 ms frames whatever the size of the chunks it reads, and encodes each into one Opus packet.
//
// It is plain data, safe to copy and to share.
type OpusEncoder struct {
	// Config is the encoder's configuration; the zero value means opus.DefaultEncoderConfig().
	Config opus.EncoderConfig
}

func (b OpusEncoder) config() opus.EncoderConfig {
	if b.Config == (opus.EncoderConfig{}) {
		return opus.DefaultEncoderConfig()
	}
	return b.Config
}

// RTPCodec returns mediadevices' description of Opus, with the 20 ms packet duration its sampler uses
// for RTP timestamps.
func (b OpusEncoder) RTPCodec() *mdcodec.RTPCodec {
	c := mdcodec.NewRTPOpusCodec(opus.ClockRate)
	c.Latency = codec.FrameDuration
	return c
}

// BuildAudioEncoder opens an Opus encoder that reads audio from r. The input must be 48 kHz: there is no
// resampler (mediadevices' microphone driver captures at 48 kHz).
func (b OpusEncoder) BuildAudioEncoder(r audio.Reader, p prop.Media) (mdcodec.ReadCloser, error) {
	if p.SampleRate != 0 && p.SampleRate != codec.SampleRate {
		return nil, fmt.Errorf("live: opus input at %d Hz: want %d", p.SampleRate, codec.SampleRate)
	}
	enc, err := opus.NewEncoder(b.config())
	if err != nil {
		return nil, err
	}
	return &opusEncoder{r: r, enc: enc, pcm: make([]int16, 0, codec.FrameSamples),
		out: make([]byte, opus.MaxPacketSize)}, nil
}

// opusEncoder is what OpusEncoder builds. Read and Close belong to one goroutine; SetBitRate is safe
// from any goroutine and takes effect at the next Read.
type opusEncoder struct {
	r       audio.Reader
	enc     *opus.Encoder
	pcm     []int16    // the frame being gathered
	rest    wave.Audio // the chunk being consumed
	restPos int        // its next sample
	release func()     // gives the chunk back to its reader once consumed
	out     []byte
	bitrate atomic.Int64
}

// errSampleRate is returned when the audio's sample rate changes to one the encoder cannot take.
var errSampleRate = errors.New("live: opus input is not 48 kHz")

// Read gathers 20 ms of audio, encodes it and returns the packet, valid until the next Read.
func (e *opusEncoder) Read() ([]byte, func(), error) {
	e.pcm = e.pcm[:0]
	for len(e.pcm) < codec.FrameSamples {
		if e.rest == nil {
			chunk, release, err := e.r.Read()
			if err != nil {
				return nil, func() {}, err
			}
			if sr := chunk.ChunkInfo().SamplingRate; sr != 0 && sr != codec.SampleRate {
				release()
				return nil, func() {}, fmt.Errorf("%w: %d Hz", errSampleRate, sr)
			}
			e.rest, e.restPos, e.release = chunk, 0, release
		}
		e.restPos = appendMono(&e.pcm, e.rest, e.restPos, codec.FrameSamples-len(e.pcm))
		if e.restPos >= e.rest.ChunkInfo().Len {
			e.release()
			e.rest, e.release = nil, nil
		}
	}
	if br := e.bitrate.Swap(0); br > 0 {
		if err := e.enc.SetBitrate(int(br)); err != nil {
			return nil, func() {}, err
		}
	}
	n, err := e.enc.Encode(e.pcm, e.out)
	if err != nil {
		return nil, func() {}, err
	}
	return e.out[:n], func() {}, nil
}

// appendMono appends up to n samples of a from sample pos on, mixed down to mono 16-bit, and returns the
// position after the last one taken. 16-bit and float samples are read directly; any other format
// through wave.Sample.Int, whose int16 scale (a 16-bit shift) it follows.
func appendMono(pcm *[]int16, a wave.Audio, pos, n int) int {
	info := a.ChunkInfo()
	end := min(info.Len, pos+n)
	ch := max(info.Channels, 1)
	switch a := a.(type) {
	case *wave.Int16Interleaved:
		if ch == 1 {
			*pcm = append(*pcm, a.Data[pos:end]...)
			return end
		}
		for i := pos; i < end; i++ {
			var sum int
			for _, v := range a.Data[i*ch : (i+1)*ch] {
				sum += int(v)
			}
			*pcm = append(*pcm, int16(sum/ch))
		}
	case *wave.Float32Interleaved:
		for i := pos; i < end; i++ {
			var sum float32
			for _, v := range a.Data[i*ch : (i+1)*ch] {
				sum += v
			}
			*pcm = append(*pcm, sat16(int64(math.Round(float64(sum/float32(ch))*32767))))
		}
	default:
		for i := pos; i < end; i++ {
			var sum int64
			for c := range ch {
				sum += a.At(i, c).Int() >> 16
			}
			*pcm = append(*pcm, sat16(sum/int64(ch)))
		}
	}
	return end
}

// sat16 saturates v to the int16 range.
func sat16(v int64) int16 { return int16(min(max(v, math.MinInt16), math.MaxInt16)) }

// Close frees the encoder (and gives back a chunk not yet consumed). It is idempotent.
func (e *opusEncoder) Close() error {
	if e.release != nil {
		e.release()
		e.rest, e.release = nil, nil
	}
	return e.enc.Close()
}

// Controller returns the encoder itself: a BitRateController and, so that mediadevices' own track
// binding would read the audio sender's RTCP too, a KeyFrameController whose ForceKeyFrame does nothing.
func (e *opusEncoder) Controller() mdcodec.EncoderController { return e }

// ForceKeyFrame does nothing: every Opus packet stands alone.
func (e *opusEncoder) ForceKeyFrame() error { return nil }

// SetBitRate changes the target bitrate (bit/s) from the next packet on.
func (e *opusEncoder) SetBitRate(bitrate int) error {
	if bitrate <= 0 {
		return fmt.Errorf("live: bitrate %d", bitrate)
	}
	e.bitrate.Store(int64(bitrate))
	return nil
}

// NewCodecSelector returns a mediadevices codec selector that holds exactly the two adapters, for
// mediadevices.NewVideoTrack, NewAudioTrack or GetUserMedia.
func NewCodecSelector(v VideoEncoder, a OpusEncoder) *mediadevices.CodecSelector {
	return mediadevices.NewCodecSelector(mediadevices.WithVideoEncoders(v), mediadevices.WithAudioEncoders(a))
}

var (
	_ mdcodec.VideoEncoderBuilder = VideoEncoder{}
	_ mdcodec.AudioEncoderBuilder = OpusEncoder{}
	_ mdcodec.KeyFrameController  = (*videoEncoder)(nil)
	_ mdcodec.BitRateController   = (*videoEncoder)(nil)
	_ mdcodec.BitRateController   = (*opusEncoder)(nil)
)
