//go:build cgo

package av

/*
#cgo pkg-config: libavcodec libavutil
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>

// mcu_dec is one decoder with everything it owns: the codec context, a packet and a frame reused for
// every call, and the padded input buffer.
typedef struct {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
	uint8_t *buf;
	size_t cap;
} mcu_dec;

static void mcu_dec_free(mcu_dec *d) {
	if (!d) return;
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	free(d->buf);
	free(d);
}

static mcu_dec *mcu_dec_new(int h264, int64_t max_pixels, int *err) {
	const AVCodec *codec = avcodec_find_decoder(h264 ? AV_CODEC_ID_H264 : AV_CODEC_ID_VP8);
	if (!codec) {
		*err = AVERROR_DECODER_NOT_FOUND;
		return NULL;
	}
	mcu_dec *d = calloc(1, sizeof *d);
	if (!d) {
		*err = AVERROR(ENOMEM);
		return NULL;
	}
	d->ctx = avcodec_alloc_context3(codec);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (!d->ctx || !d->pkt || !d->frame) {
		*err = AVERROR(ENOMEM);
		mcu_dec_free(d);
		return NULL;
	}
	d->ctx->thread_count = 1;
	d->ctx->thread_type = 0;
	d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
	d->ctx->flags &= ~AV_CODEC_FLAG_OUTPUT_CORRUPT;
	d->ctx->max_pixels = max_pixels;
	// Errors reach Go as return codes: push this context's log messages past AV_LOG_TRACE so libavcodec
	// stays silent on stderr, without touching the process-wide av_log level.
	d->ctx->log_level_offset = 64;
	int r = avcodec_open2(d->ctx, codec, NULL);
	if (r < 0) {
		*err = r;
		mcu_dec_free(d);
		return NULL;
	}
	return d;
}

// mcu_dec_decode copies data into the padded buffer (grown only when too small), decodes it, and returns
// 1 when d->frame holds a picture, 0 when there is none yet, or a negative AVERROR.
static int mcu_dec_decode(mcu_dec *d, const uint8_t *data, size_t size) {
	size_t need = size + AV_INPUT_BUFFER_PADDING_SIZE;
	if (need > d->cap) {
		size_t cap = d->cap ? d->cap : 4096;
		while (cap < need) cap *= 2;
		free(d->buf);
		d->buf = malloc(cap);
		d->cap = d->buf ? cap : 0;
		if (!d->buf) return AVERROR(ENOMEM);
	}
	memcpy(d->buf, data, size);
	memset(d->buf + size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	av_frame_unref(d->frame);
	d->pkt->data = d->buf;
	d->pkt->size = (int)size;
	int r = avcodec_send_packet(d->ctx, d->pkt);
	for (int i = 0; r == AVERROR(EAGAIN) && i < 16; i++) {
		// A picture is still waiting (not expected with low delay): drop it and try again.
		if (avcodec_receive_frame(d->ctx, d->frame) < 0) break;
		av_frame_unref(d->frame);
		r = avcodec_send_packet(d->ctx, d->pkt);
	}
	d->pkt->data = NULL;
	d->pkt->size = 0;
	if (r < 0) return r;
	r = avcodec_receive_frame(d->ctx, d->frame);
	if (r == AVERROR(EAGAIN)) return 0;
	return r < 0 ? r : 1;
}

static int mcu_frame_ok_format(const AVFrame *f) {
	return f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P;
}

static int mcu_frame_corrupt(const AVFrame *f) {
	return (f->flags & AV_FRAME_FLAG_CORRUPT) != 0 || f->decode_error_flags != 0;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/openmcu/mcu/codec"
)

// VideoDecoder decodes H.264 or VP8 with libavcodec: one thread, low delay, one picture out per frame in.
//
// It starts waiting for a keyframe (an access unit with an IDR slice, or a VP8 key frame): until one
// decodes, other frames are not decoded and return an error wrapping codec.ErrNeedKeyframe. Lost, any
// decode error (codec.ErrCorrupt), a picture flagged as damaged by the decoder (codec.ErrCorrupt) and a
// picture larger than codec.MaxWidth x codec.MaxHeight, or the size given WithMaxSize (codec.ErrFrameSize),
// put it back into that state.
// A keyframe of a new size changes the picture size. Any byte sequence is safe to decode.
//
// The returned picture views the decoder's own C memory and is valid until the next Decode or Close.
// Decoding allocates nothing in Go. A VideoDecoder belongs to one goroutine; it is not safe for concurrent
// use. Free it with Close (a cleanup frees it if it becomes unreachable, but do not rely on that).
type VideoDecoder struct {
	codec   codec.VideoCodec
	maxW    int // largest picture accepted; codec.MaxWidth x codec.MaxHeight unless WithMaxSize
	maxH    int
	c       *decState
	frame   codec.VideoFrame
	needKey bool
}

// decState is the C side of a VideoDecoder, kept apart from it so the cleanup does not keep the decoder
// alive.
type decState struct {
	done atomic.Bool
	d    *C.mcu_dec
}

// free releases the C decoder once, whoever calls first (Close or the cleanup).
func (s *decState) free() {
	if s.done.CompareAndSwap(false, true) {
		C.mcu_dec_free(s.d)
		s.d = nil
	}
}

// maxPayload bounds one compressed frame; anything larger is rejected as corrupt before it is copied.
const maxPayload = 32 << 20

// NewVideoDecoder opens a decoder for c (codec.H264 or codec.VP8).
func NewVideoDecoder(c codec.VideoCodec, opts ...Option) (*VideoDecoder, error) {
	if c != codec.H264 && c != codec.VP8 {
		return nil, fmt.Errorf("av: open %v decoder: unsupported codec", c)
	}
	o := options{maxW: codec.MaxWidth, maxH: codec.MaxHeight}
	for _, opt := range opts {
		opt(&o)
	}
	h264 := C.int(0)
	if c == codec.H264 {
		h264 = 1
	}
	var cerr C.int
	// libavcodec refuses, before decoding, a picture of more pixels than this.
	d := C.mcu_dec_new(h264, C.int64_t(o.maxW*o.maxH), &cerr)
	if d == nil {
		return nil, fmt.Errorf("av: open %v decoder: %s", c, errString(cerr))
	}
	v := &VideoDecoder{codec: c, maxW: o.maxW, maxH: o.maxH, c: &decState{d: d}, needKey: true}
	runtime.AddCleanup(v, func(s *decState) { s.free() }, v.c)
	return v, nil
}

// Decode decodes one whole frame: an H.264 access unit in Annex-B form (SPS and PPS may precede an IDR
// slice) or one VP8 frame. It returns the picture, valid until the next Decode or Close, or (nil, nil) when
// the frame produced no picture (an empty frame, or an H.264 access unit without slices: its parameter
// sets are kept for the following frames, and errors in it are ignored). Odd picture sizes are rounded
// down to even. Errors wrap codec.ErrNeedKeyframe, codec.ErrCorrupt, codec.ErrFrameSize or codec.ErrClosed.
func (v *VideoDecoder) Decode(frame []byte) (*codec.VideoFrame, error) {
	if v.c.done.Load() {
		return nil, fmt.Errorf("av: decode %v: %w", v.codec, codec.ErrClosed)
	}
	if len(frame) == 0 {
		return nil, nil // an empty packet would flush libavcodec: never send one
	}
	if len(frame) > maxPayload {
		return nil, v.fail(fmt.Errorf("av: decode %v: frame of %d bytes: %w", v.codec, len(frame), codec.ErrCorrupt))
	}
	var key, pictures bool
	if v.codec == codec.H264 {
		key, pictures = inspectH264(frame)
	} else {
		key, pictures = frame[0]&1 == 0, true
		if key {
			if err := checkVP8Key(frame); err != nil {
				return nil, v.fail(err)
			}
		}
	}
	if v.needKey && !key && pictures {
		return nil, fmt.Errorf("av: decode %v: %d-byte delta frame: %w", v.codec, len(frame), codec.ErrNeedKeyframe)
	}

	r := C.mcu_dec_decode(v.c.d, (*C.uint8_t)(unsafe.Pointer(&frame[0])), C.size_t(len(frame)))
	if r < 0 && !pictures {
		// Parameter sets or SEI alone: libavcodec keeps the SPS and PPS, then reports that it found no
		// picture. Nothing is broken.
		return nil, nil
	}
	if r < 0 {
		return nil, v.fail(fmt.Errorf("av: decode %v: %d-byte frame: %s: %w", v.codec, len(frame), errString(r), codec.ErrCorrupt))
	}
	if key {
		v.needKey = false
	}
	if r == 0 {
		return nil, nil
	}
	f := v.c.d.frame
	w, h := int(f.width), int(f.height)
	switch {
	case C.mcu_frame_corrupt(f) != 0:
		return nil, v.fail(fmt.Errorf("av: decode %v: %d-byte frame: damaged picture (error flags %#x): %w",
			v.codec, len(frame), int(f.decode_error_flags), codec.ErrCorrupt))
	case w > v.maxW || h > v.maxH || w < 2 || h < 2:
		return nil, v.fail(fmt.Errorf("av: decode %v: picture %dx%d: %w", v.codec, w, h, codec.ErrFrameSize))
	case C.mcu_frame_ok_format(f) == 0:
		return nil, v.fail(fmt.Errorf("av: decode %v: pixel format %d is not 4:2:0 8-bit: %w", v.codec, int(f.format), codec.ErrCorrupt))
	}
	w, h = w&^1, h&^1
	sy, su, sv := int(f.linesize[0]), int(f.linesize[1]), int(f.linesize[2])
	if sy < w || su < w/2 || sv < w/2 || f.data[0] == nil || f.data[1] == nil || f.data[2] == nil {
		return nil, v.fail(fmt.Errorf("av: decode %v: bad planes for %dx%d: %w", v.codec, w, h, codec.ErrCorrupt))
	}
	v.frame = codec.VideoFrame{
		Width: w, Height: h,
		Y:       unsafe.Slice((*byte)(f.data[0]), sy*h),
		U:       unsafe.Slice((*byte)(f.data[1]), su*h/2),
		V:       unsafe.Slice((*byte)(f.data[2]), sv*h/2),
		StrideY: sy, StrideU: su, StrideV: sv,
	}
	return &v.frame, nil
}

// fail puts the decoder back into waiting for a keyframe and returns err.
func (v *VideoDecoder) fail(err error) error {
	v.needKey = true
	return err
}

// Lost makes the decoder wait for a keyframe: frames before the next Decode went missing.
func (v *VideoDecoder) Lost() { v.needKey = true }

// Close frees the decoder. It is idempotent and always returns nil. The last picture becomes invalid.
func (v *VideoDecoder) Close() error {
	v.c.free()
	v.frame = codec.VideoFrame{}
	return nil
}

// errString describes an AVERROR code.
func errString(code C.int) string {
	var buf [128]C.char
	if C.av_strerror(code, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Sprintf("libavcodec error %d", int(code))
	}
	return C.GoString(&buf[0])
}

var _ codec.VideoDecoder = (*VideoDecoder)(nil)
