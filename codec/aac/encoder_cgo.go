//go:build cgo

package aac

/*
#cgo pkg-config: libavcodec libavutil
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>

enum {
	AAC_FRAME = 1024,          // samples per access unit
	AAC_FIFO = 4096,           // pending input samples, at most AAC_FRAME-1 + one call's input
	AAC_MAX_IN = AAC_FIFO - AAC_FRAME,
	AAC_MAX_AUS = 8,           // access units one call can return (Flush returns the most: about 3)
	AAC_OUT_CAP = AAC_MAX_AUS * 2048, // an AAC-LC mono frame is at most 6144 bits (768 bytes)
};

// aac_result describes the access units that the last call left in aac_enc.out.
typedef struct {
	int n;
	int64_t pts[AAC_MAX_AUS];
	int64_t dur[AAC_MAX_AUS];
	int off[AAC_MAX_AUS];
	int len[AAC_MAX_AUS];
} aac_result;

// aac_enc is one encoder with everything it owns, allocated once: the codec context, a frame of 1024
// planar float samples, a packet, the input FIFO and the output buffer.
typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
	int16_t fifo[AAC_FIFO];
	int fill;          // samples in fifo
	int64_t next_pts;  // presentation time of fifo[0], in samples
	int flushed;
	aac_result res;
	uint8_t out[AAC_OUT_CAP];
} aac_enc;

static void aac_free(aac_enc *e) {
	if (e == NULL) return;
	avcodec_free_context(&e->ctx);
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
	free(e);
}

// aac_new opens an AAC-LC encoder for sample_rate Hz mono at bitrate bit/s.
static aac_enc *aac_new(int sample_rate, int bitrate, int *err) {
	const AVCodec *codec = avcodec_find_encoder_by_name("aac");
	if (codec == NULL) { *err = AVERROR_ENCODER_NOT_FOUND; return NULL; }
	aac_enc *e = calloc(1, sizeof *e);
	if (e == NULL) { *err = AVERROR(ENOMEM); return NULL; }
	e->ctx = avcodec_alloc_context3(codec);
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	if (e->ctx == NULL || e->frame == NULL || e->pkt == NULL) { *err = AVERROR(ENOMEM); aac_free(e); return NULL; }
	AVCodecContext *c = e->ctx;
	c->sample_rate = sample_rate;
	c->sample_fmt = AV_SAMPLE_FMT_FLTP;
	av_channel_layout_default(&c->ch_layout, 1);
	c->bit_rate = bitrate;
	c->profile = FF_PROFILE_AAC_LOW;
	c->time_base = (AVRational){1, sample_rate};
	c->thread_count = 1;
	c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	// Errors reach Go as return codes: keep this context quiet on stderr without touching the
	// process-wide av_log level.
	c->log_level_offset = 64;
	int r = avcodec_open2(c, codec, NULL);
	if (r < 0) { *err = r; aac_free(e); return NULL; }
	if (c->frame_size != AAC_FRAME || c->extradata_size < 2) { *err = AVERROR(EINVAL); aac_free(e); return NULL; }
	e->frame->format = AV_SAMPLE_FMT_FLTP;
	e->frame->sample_rate = sample_rate;
	e->frame->nb_samples = AAC_FRAME;
	r = av_channel_layout_copy(&e->frame->ch_layout, &c->ch_layout);
	if (r >= 0) r = av_frame_get_buffer(e->frame, 0);
	if (r < 0) { *err = r; aac_free(e); return NULL; }
	*err = 0;
	return e;
}

// aac_collect appends every packet the encoder has ready to out and res.
static int aac_collect(aac_enc *e) {
	for (;;) {
		int r = avcodec_receive_packet(e->ctx, e->pkt);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
		if (r < 0) return r;
		aac_result *res = &e->res;
		int off = res->n ? res->off[res->n - 1] + res->len[res->n - 1] : 0;
		int size = e->pkt->size;
		if (res->n == AAC_MAX_AUS || size > AAC_OUT_CAP - off) {
			av_packet_unref(e->pkt);
			return AVERROR(ENOSPC);
		}
		memcpy(e->out + off, e->pkt->data, (size_t)size);
		res->pts[res->n] = e->pkt->pts;
		res->dur[res->n] = e->pkt->duration;
		res->off[res->n] = off;
		res->len[res->n] = size;
		res->n++;
		av_packet_unref(e->pkt);
	}
}

// aac_send encodes the first n (1..AAC_FRAME) samples of the FIFO as one frame and removes them.
static int aac_send(aac_enc *e, int n) {
	int r = av_frame_make_writable(e->frame);
	if (r < 0) return r;
	float *dst = (float *)e->frame->data[0];
	for (int i = 0; i < n; i++) dst[i] = (float)e->fifo[i] * (1.0f / 32768.0f);
	e->frame->nb_samples = n;
	e->frame->pts = e->next_pts;
	r = avcodec_send_frame(e->ctx, e->frame);
	if (r < 0) return r;
	e->next_pts += n;
	e->fill -= n;
	memmove(e->fifo, e->fifo + n, (size_t)e->fill * sizeof(int16_t));
	return aac_collect(e);
}

// aac_encode queues n samples and encodes every whole frame. It returns the number of access units left
// in res, or a negative AVERROR.
static int aac_encode(aac_enc *e, const int16_t *in, int n) {
	e->res.n = 0;
	if (e->flushed) return AVERROR_EOF;
	if (n < 0 || n > AAC_MAX_IN) return AVERROR(EINVAL);
	memcpy(e->fifo + e->fill, in, (size_t)n * sizeof(int16_t));
	e->fill += n;
	while (e->fill >= AAC_FRAME) {
		int r = aac_send(e, AAC_FRAME);
		if (r < 0) return r;
	}
	return e->res.n;
}

// aac_flush encodes what is left in the FIFO as a short last frame and drains the encoder. It returns
// the number of access units left in res, or a negative AVERROR. The encoder takes no input afterwards.
static int aac_flush(aac_enc *e) {
	e->res.n = 0;
	if (e->flushed) return 0;
	e->flushed = 1;
	if (e->fill > 0) {
		int r = aac_send(e, e->fill);
		if (r < 0) return r;
	}
	int r = avcodec_send_frame(e->ctx, NULL);
	if (r < 0) return r;
	r = aac_collect(e);
	return r < 0 ? r : e->res.n;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// maxInput is the largest number of samples one Encode call may queue.
const maxInput = C.AAC_MAX_IN

// The Go array of access units must match the C one.
const _ = uint(C.AAC_MAX_AUS-maxAUs) + uint(maxAUs-C.AAC_MAX_AUS)

// encState is the C side of an Encoder, kept apart from it so that the cleanup does not keep the Encoder
// alive.
type encState struct {
	done atomic.Bool
	e    *C.aac_enc
}

// free releases the C encoder once, whoever calls first (Close or the cleanup).
func (s *encState) free() {
	if s.done.CompareAndSwap(false, true) {
		C.aac_free(s.e)
		s.e = nil
	}
}

// libEncoder is the cgo half of Encoder.
type libEncoder struct {
	s     *encState
	asc   []byte
	delay int
}

func newLibEncoder(sampleRate, bitrate int) (*libEncoder, error) {
	var cerr C.int
	e := C.aac_new(C.int(sampleRate), C.int(bitrate), &cerr)
	if e == nil {
		return nil, averror(cerr)
	}
	l := &libEncoder{
		s:     &encState{e: e},
		asc:   C.GoBytes(unsafe.Pointer(e.ctx.extradata), e.ctx.extradata_size),
		delay: int(e.ctx.initial_padding),
	}
	runtime.AddCleanup(l, func(s *encState) { s.free() }, l.s)
	return l, nil
}

func (l *libEncoder) closed() bool { return l.s.done.Load() }

func (l *libEncoder) close() { l.s.free() }

// encode queues pcm, encodes every whole frame and writes what came out into aus.
func (l *libEncoder) encode(pcm []int16, aus *[maxAUs]AccessUnit) (int, error) {
	var p *C.int16_t
	if len(pcm) > 0 {
		p = (*C.int16_t)(unsafe.Pointer(&pcm[0]))
	}
	return l.result(C.aac_encode(l.s.e, p, C.int(len(pcm))), aus)
}

// flush encodes the rest and drains the encoder into aus.
func (l *libEncoder) flush(aus *[maxAUs]AccessUnit) (int, error) {
	return l.result(C.aac_flush(l.s.e), aus)
}

// result turns the C result (n access units, or an AVERROR) into views of the C output buffer.
func (l *libEncoder) result(n C.int, aus *[maxAUs]AccessUnit) (int, error) {
	if n < 0 {
		return 0, averror(n)
	}
	res := &l.s.e.res
	out := unsafe.Slice((*byte)(unsafe.Pointer(&l.s.e.out[0])), C.AAC_OUT_CAP)
	for i := range int(n) {
		off, size := int(res.off[i]), int(res.len[i])
		aus[i] = AccessUnit{PTS: int64(res.pts[i]), Samples: int(res.dur[i]), Data: out[off : off+size : off+size]}
	}
	return int(n), nil
}

// averror describes a negative libavcodec return code.
func averror(code C.int) error {
	var buf [128]C.char
	if C.av_strerror(code, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Errorf("libavcodec error %d", int(code))
	}
	return fmt.Errorf("libavcodec: %s (%d)", C.GoString(&buf[0]), int(code))
}
