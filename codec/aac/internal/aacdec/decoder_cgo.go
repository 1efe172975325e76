//go:build cgo

package aacdec

/*
#cgo pkg-config: libavcodec libavutil
#cgo LDFLAGS: -lm
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <math.h>

// aacdec is one decoder with its packet (and padded input buffer) and frame, allocated once.
typedef struct {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;
} aacdec;

static void aacdec_free(aacdec *d) {
	if (d == NULL) return;
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	free(d);
}

// aacdec_new opens a decoder for the AudioSpecificConfig asc, with room for payloads of max_payload bytes.
static aacdec *aacdec_new(const uint8_t *asc, int asc_len, int max_payload, int *err) {
	const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_AAC);
	if (codec == NULL) { *err = AVERROR_DECODER_NOT_FOUND; return NULL; }
	aacdec *d = calloc(1, sizeof *d);
	if (d == NULL) { *err = AVERROR(ENOMEM); return NULL; }
	d->ctx = avcodec_alloc_context3(codec);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (d->ctx == NULL || d->pkt == NULL || d->frame == NULL) { *err = AVERROR(ENOMEM); aacdec_free(d); return NULL; }
	d->ctx->extradata = av_mallocz((size_t)asc_len + AV_INPUT_BUFFER_PADDING_SIZE);
	if (d->ctx->extradata == NULL) { *err = AVERROR(ENOMEM); aacdec_free(d); return NULL; }
	memcpy(d->ctx->extradata, asc, (size_t)asc_len);
	d->ctx->extradata_size = asc_len;
	d->ctx->thread_count = 1;
	d->ctx->log_level_offset = 64;
	int r = avcodec_open2(d->ctx, codec, NULL);
	if (r >= 0) r = av_new_packet(d->pkt, max_payload);
	if (r < 0) { *err = r; aacdec_free(d); return NULL; }
	*err = 0;
	return d;
}

// aacdec_decode decodes one access unit into out (at most out_cap samples of the first channel, as
// int16). It returns the number of samples the unit decoded to, or a negative AVERROR.
static int aacdec_decode(aacdec *d, const uint8_t *in, int n, int16_t *out, int out_cap) {
	int r = av_packet_make_writable(d->pkt);
	if (r < 0) return r;
	if (n > d->pkt->buf->size - AV_INPUT_BUFFER_PADDING_SIZE) return AVERROR(EINVAL);
	memcpy(d->pkt->data, in, (size_t)n);
	d->pkt->size = n;
	r = avcodec_send_packet(d->ctx, d->pkt);
	if (r < 0) return r;
	r = avcodec_receive_frame(d->ctx, d->frame);
	if (r < 0) return r;
	int got = d->frame->nb_samples;
	if (d->frame->format != AV_SAMPLE_FMT_FLTP) { av_frame_unref(d->frame); return AVERROR(EINVAL); }
	const float *src = (const float *)d->frame->data[0];
	for (int i = 0; i < got && i < out_cap; i++) {
		float v = src[i] * 32768.0f;
		out[i] = v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : (int16_t)lrintf(v);
	}
	av_frame_unref(d->frame);
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

// MaxPayload is the largest access unit Decode accepts, in bytes.
const MaxPayload = 8192

// Decoder decodes AAC access units of one stream to int16 PCM (the first channel). It belongs to one
// goroutine; it is not safe for concurrent use.
type Decoder struct{ s *decState }

// decState is the C side of a Decoder, apart from it so the cleanup does not keep the Decoder alive.
type decState struct {
	done atomic.Bool
	d    *C.aacdec
}

func (s *decState) free() {
	if s.done.CompareAndSwap(false, true) {
		C.aacdec_free(s.d)
		s.d = nil
	}
}

// NewDecoder opens a decoder for the stream that asc (its AudioSpecificConfig) describes.
func NewDecoder(asc []byte) (*Decoder, error) {
	if len(asc) == 0 {
		return nil, errors.New("aacdec: empty AudioSpecificConfig")
	}
	var cerr C.int
	d := C.aacdec_new((*C.uint8_t)(unsafe.Pointer(&asc[0])), C.int(len(asc)), MaxPayload, &cerr)
	if d == nil {
		return nil, fmt.Errorf("aacdec: open decoder for % x: %s", asc, errString(cerr))
	}
	dec := &Decoder{s: &decState{d: d}}
	runtime.AddCleanup(dec, func(s *decState) { s.free() }, dec.s)
	return dec, nil
}

// Decode decodes one access unit into pcm and returns how many samples it decoded to (at most len(pcm)
// of them are written).
func (d *Decoder) Decode(au []byte, pcm []int16) (int, error) {
	if d.s.done.Load() {
		return 0, errors.New("aacdec: decode after Close")
	}
	if len(au) == 0 || len(au) > MaxPayload || len(pcm) == 0 {
		return 0, fmt.Errorf("aacdec: decode %d bytes into %d samples: bad size", len(au), len(pcm))
	}
	n := C.aacdec_decode(d.s.d, (*C.uint8_t)(unsafe.Pointer(&au[0])), C.int(len(au)),
		(*C.int16_t)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)))
	if n < 0 {
		return 0, fmt.Errorf("aacdec: decode %d bytes: %s", len(au), errString(n))
	}
	return int(n), nil
}

// Close frees the decoder. It is idempotent and always returns nil.
func (d *Decoder) Close() error {
	d.s.free()
	return nil
}

func errString(code C.int) string {
	var buf [128]C.char
	if C.av_strerror(code, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Sprintf("libavcodec error %d", int(code))
	}
	return C.GoString(&buf[0])
}
