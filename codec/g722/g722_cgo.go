//go:build cgo

package g722

/*
#cgo pkg-config: libavcodec libavutil
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>

// g722_coder is one libavcodec G.722 encoder or decoder with its frame and packet, allocated once.
typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
	int64_t pts;
} g722_coder;

static void g722_free(g722_coder *c) {
	if (c == NULL) return;
	avcodec_free_context(&c->ctx);
	av_frame_free(&c->frame);
	av_packet_free(&c->pkt);
	free(c);
}

// g722_new opens an encoder (encode != 0) or a decoder for 16 kHz mono S16 at 64 kbit/s, with its
// frame buffer of frame_samples samples (encoder) or packet buffer of pkt_bytes bytes (decoder).
static g722_coder *g722_new(int encode, int frame_samples, int pkt_bytes, int *err) {
	const AVCodec *codec = encode ? avcodec_find_encoder(AV_CODEC_ID_ADPCM_G722)
	                              : avcodec_find_decoder(AV_CODEC_ID_ADPCM_G722);
	if (codec == NULL) { *err = AVERROR_ENCODER_NOT_FOUND; return NULL; }
	g722_coder *c = calloc(1, sizeof *c);
	if (c == NULL) { *err = AVERROR(ENOMEM); return NULL; }
	c->ctx = avcodec_alloc_context3(codec);
	c->frame = av_frame_alloc();
	c->pkt = av_packet_alloc();
	if (c->ctx == NULL || c->frame == NULL || c->pkt == NULL) { *err = AVERROR(ENOMEM); g722_free(c); return NULL; }
	c->ctx->sample_rate = 16000;
	c->ctx->sample_fmt = AV_SAMPLE_FMT_S16;
	av_channel_layout_default(&c->ctx->ch_layout, 1);
	c->ctx->bit_rate = 64000;
	c->ctx->bits_per_coded_sample = 8;
	c->ctx->thread_count = 1;
	if (encode) c->ctx->frame_size = frame_samples;
	int ret = avcodec_open2(c->ctx, codec, NULL);
	if (ret < 0) { *err = ret; g722_free(c); return NULL; }
	if (encode) {
		c->frame->format = AV_SAMPLE_FMT_S16;
		c->frame->sample_rate = 16000;
		c->frame->nb_samples = frame_samples;
		ret = av_channel_layout_copy(&c->frame->ch_layout, &c->ctx->ch_layout);
		if (ret >= 0) ret = av_frame_get_buffer(c->frame, 0);
	} else {
		ret = av_new_packet(c->pkt, pkt_bytes);
	}
	if (ret < 0) { *err = ret; g722_free(c); return NULL; }
	*err = 0;
	return c;
}

// g722_encode encodes n samples from in and copies the payload to out. It returns the payload size or
// a negative AVERROR.
static int g722_encode(g722_coder *c, const int16_t *in, int n, uint8_t *out, int out_cap) {
	if (n != c->frame->nb_samples) return AVERROR(EINVAL);
	int ret = av_frame_make_writable(c->frame);
	if (ret < 0) return ret;
	memcpy(c->frame->data[0], in, (size_t)n * sizeof(int16_t));
	c->frame->pts = c->pts;
	c->pts += n;
	ret = avcodec_send_frame(c->ctx, c->frame);
	if (ret < 0) return ret;
	ret = avcodec_receive_packet(c->ctx, c->pkt);
	if (ret < 0) return ret;
	int size = c->pkt->size;
	if (size > out_cap) size = AVERROR(ENOSPC);
	else memcpy(out, c->pkt->data, (size_t)size);
	av_packet_unref(c->pkt);
	return size;
}

// g722_decode decodes n bytes from in and copies the samples (at most out_cap) to out. It returns the
// number of decoded samples or a negative AVERROR.
static int g722_decode(g722_coder *c, const uint8_t *in, int n, int16_t *out, int out_cap) {
	// The decoder drops its reference to the packet buffer once it has consumed it, so this only
	// reallocates if it ever keeps one.
	int ret = av_packet_make_writable(c->pkt);
	if (ret < 0) return ret;
	if (n > c->pkt->buf->size - AV_INPUT_BUFFER_PADDING_SIZE) return AVERROR(EINVAL);
	memcpy(c->pkt->data, in, (size_t)n);
	c->pkt->size = n;
	ret = avcodec_send_packet(c->ctx, c->pkt);
	if (ret < 0) return ret;
	ret = avcodec_receive_frame(c->ctx, c->frame);
	if (ret < 0) return ret;
	int got = c->frame->nb_samples;
	int copy = got < out_cap ? got : out_cap;
	memcpy(out, c->frame->data[0], (size_t)copy * sizeof(int16_t));
	av_frame_unref(c->frame);
	return got;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// averror describes a negative libavcodec return code.
func averror(code C.int) error {
	var buf [128]C.char
	C.av_strerror(code, &buf[0], C.size_t(len(buf)))
	return fmt.Errorf("libavcodec: %s (%d)", C.GoString(&buf[0]), int(code))
}

// coder owns one C g722_coder. Close and the GC cleanup free it through one CAS-guarded path.
type coder struct {
	c       *C.g722_coder
	done    *atomic.Bool
	cleanup runtime.Cleanup
}

func freeCoder(done *atomic.Bool, c *C.g722_coder) {
	if done.CompareAndSwap(false, true) {
		C.g722_free(c)
	}
}

func newCoder(encode bool) (coder, error) {
	var cerr C.int
	enc := C.int(0)
	if encode {
		enc = 1
	}
	c := C.g722_new(enc, frameSamples, FrameBytes, &cerr)
	if c == nil {
		return coder{}, averror(cerr)
	}
	return coder{c: c, done: new(atomic.Bool)}, nil
}

func (c *coder) closed() bool { return c.c == nil || c.done.Load() }

func (c *coder) close() {
	if c.c == nil {
		return
	}
	c.cleanup.Stop()
	freeCoder(c.done, c.c)
	c.c = nil
}

// libEncoder is the cgo half of Encoder.
type libEncoder struct{ coder }

func newLibEncoder() (*libEncoder, error) {
	e := &libEncoder{}
	c, err := newCoder(true)
	if err != nil {
		return nil, err
	}
	e.coder = c
	e.cleanup = runtime.AddCleanup(e, func(c coder) { freeCoder(c.done, c.c) }, c)
	return e, nil
}

// encode encodes one 16 kHz frame into dst and returns the payload length.
func (e *libEncoder) encode(pcm []int16, dst []byte) (int, error) {
	n := C.g722_encode(e.c, (*C.int16_t)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(len(dst)))
	if n < 0 {
		return 0, averror(n)
	}
	return int(n), nil
}

// libDecoder is the cgo half of Decoder.
type libDecoder struct{ coder }

func newLibDecoder() (*libDecoder, error) {
	d := &libDecoder{}
	c, err := newCoder(false)
	if err != nil {
		return nil, err
	}
	d.coder = c
	d.cleanup = runtime.AddCleanup(d, func(c coder) { freeCoder(c.done, c.c) }, c)
	return d, nil
}

// decode decodes payload into pcm and returns the number of samples the payload held (at most len(pcm)
// of them are written).
func (d *libDecoder) decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 || len(pcm) == 0 {
		return 0, errors.New("empty buffer")
	}
	n := C.g722_decode(d.c, (*C.uint8_t)(unsafe.Pointer(&payload[0])), C.int(len(payload)),
		(*C.int16_t)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)))
	if n < 0 {
		return 0, averror(n)
	}
	return int(n), nil
}
