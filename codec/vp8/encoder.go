//go:build cgo

package vp8

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

// mcu_vp8 is one encoder with everything it owns: the libvpx context, its configuration, the input
// image and the output buffer.
typedef struct {
	vpx_codec_ctx_t codec;
	vpx_codec_enc_cfg_t cfg;
	int inited;
	vpx_image_t *img;
	uint8_t *out;
	size_t cap;
} mcu_vp8;

static void mcu_vp8_free(mcu_vp8 *e) {
	if (!e) return;
	if (e->inited) vpx_codec_destroy(&e->codec);
	if (e->img) vpx_img_free(e->img);
	free(e->out);
	free(e);
}

static const char *mcu_vp8_error(mcu_vp8 *e) {
	const char *d = vpx_codec_error_detail(&e->codec);
	return d ? d : vpx_codec_error(&e->codec);
}

// mcu_vp8_new returns NULL and a libvpx error code (or -1 for memory) in *err on failure.
static mcu_vp8 *mcu_vp8_new(int w, int h, int fps, int kbps, int kf_max, int cpu_used, int *err) {
	mcu_vp8 *e = calloc(1, sizeof *e);
	if (!e) { *err = -1; return NULL; }
	vpx_codec_err_t r = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &e->cfg, 0);
	if (r != VPX_CODEC_OK) { *err = r; mcu_vp8_free(e); return NULL; }
	e->cfg.g_w = w;
	e->cfg.g_h = h;
	e->cfg.g_timebase.num = 1;
	e->cfg.g_timebase.den = fps;
	e->cfg.g_threads = 1;
	e->cfg.g_lag_in_frames = 0;
	e->cfg.g_pass = VPX_RC_ONE_PASS;
	e->cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	e->cfg.rc_end_usage = VPX_CBR;
	e->cfg.rc_target_bitrate = kbps;
	e->cfg.rc_dropframe_thresh = 0;
	e->cfg.rc_resize_allowed = 0;
	e->cfg.rc_min_quantizer = 2;
	e->cfg.rc_max_quantizer = 63; // the full range, so low targets (congestion) are met rather than overshot
	e->cfg.rc_undershoot_pct = 100;
	e->cfg.rc_overshoot_pct = 15;
	e->cfg.rc_buf_initial_sz = 500;
	e->cfg.rc_buf_optimal_sz = 600;
	e->cfg.rc_buf_sz = 1000;
	e->cfg.kf_mode = VPX_KF_AUTO;
	e->cfg.kf_min_dist = 0;
	e->cfg.kf_max_dist = kf_max;
	r = vpx_codec_enc_init(&e->codec, vpx_codec_vp8_cx(), &e->cfg, 0);
	if (r != VPX_CODEC_OK) { *err = r; mcu_vp8_free(e); return NULL; }
	e->inited = 1;
	if (vpx_codec_control(&e->codec, VP8E_SET_CPUUSED, cpu_used) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->codec, VP8E_SET_STATIC_THRESHOLD, 1) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->codec, VP8E_SET_NOISE_SENSITIVITY, 0) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->codec, VP8E_SET_TOKEN_PARTITIONS, VP8_ONE_TOKENPARTITION) != VPX_CODEC_OK) {
		*err = VPX_CODEC_INVALID_PARAM;
		mcu_vp8_free(e);
		return NULL;
	}
	e->img = vpx_img_alloc(NULL, VPX_IMG_FMT_I420, w, h, 16);
	e->cap = (size_t)w * h * 3 / 2 + 4096; // more than any frame needs; grown if ever too small
	e->out = malloc(e->cap);
	if (!e->img || !e->out) { *err = -1; mcu_vp8_free(e); return NULL; }
	return e;
}

// mcu_vp8_encode encodes e->img and copies the frame into e->out. It returns the frame length, or the
// negated libvpx error; *key is set for a key frame.
static long mcu_vp8_encode(mcu_vp8 *e, int64_t pts, int force_kf, int *key) {
	*key = 0;
	vpx_codec_err_t r = vpx_codec_encode(&e->codec, e->img, pts, 1, force_kf ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	if (r != VPX_CODEC_OK) return -(long)r;
	size_t n = 0;
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *p;
	while ((p = vpx_codec_get_cx_data(&e->codec, &it)) != NULL) {
		if (p->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		size_t sz = p->data.frame.sz;
		if (n + sz > e->cap) {
			size_t cap = (n + sz) * 2;
			uint8_t *out = realloc(e->out, cap);
			if (!out) return -(long)VPX_CODEC_MEM_ERROR;
			e->out = out;
			e->cap = cap;
		}
		memcpy(e->out + n, p->data.frame.buf, sz);
		n += sz;
		if (p->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
	}
	return (long)n;
}

static int mcu_vp8_set_bitrate(mcu_vp8 *e, int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(&e->codec, &e->cfg);
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

// cpuUsed is libvpx's speed setting: negative values fix the speed (16 is fastest) instead of letting
// libvpx adapt it to the time left in the frame interval, so the CPU cost stays low and predictable.
const cpuUsed = -10

// Encoder encodes I420 pictures to VP8 with libvpx: real-time deadline, fixed speed 10, no lag, CBR over
// quantizers 2..63 with a one-second buffer, error resilient, one thread, no dropped frames, automatic key
// frames at most KeyframeInterval seconds apart, and key frames on demand.
//
// An Encoder belongs to one goroutine; it is not safe for concurrent use. Create it with NewEncoder and
// free it with Close (a cleanup frees it if it becomes unreachable, but do not rely on that). Encoding
// allocates nothing in Go and nothing in C once the output buffer fits.
type Encoder struct {
	cfg    Config
	c      *vpxState
	frame  codec.VideoFrame
	pts    int64
	forceK bool
	key    C.int
}

// vpxState is the C side of an Encoder, kept apart from it so the cleanup does not keep the Encoder alive.
type vpxState struct {
	done atomic.Bool
	e    *C.mcu_vp8
}

// free releases the C encoder once, whoever calls first (Close or the cleanup).
func (s *vpxState) free() {
	if s.done.CompareAndSwap(false, true) {
		C.mcu_vp8_free(s.e)
		s.e = nil
	}
}

// NewEncoder opens an encoder for cfg. The input picture (Frame) starts black.
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var cerr C.int
	ce := C.mcu_vp8_new(C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FrameRate), C.int(cfg.Bitrate/1000),
		C.int(KeyframeInterval*cfg.FrameRate), cpuUsed, &cerr)
	if ce == nil {
		msg := "out of memory"
		if cerr >= 0 {
			msg = C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(cerr)))
		}
		return nil, fmt.Errorf("vp8: open %dx%d@%d %d bit/s: %s", cfg.Width, cfg.Height, cfg.FrameRate, cfg.Bitrate, msg)
	}
	e := &Encoder{cfg: cfg, c: &vpxState{e: ce}}
	runtime.AddCleanup(e, func(s *vpxState) { s.free() }, e.c)
	img := ce.img
	w, h := cfg.Width, cfg.Height
	sy, su, sv := int(img.stride[0]), int(img.stride[1]), int(img.stride[2])
	e.frame = codec.VideoFrame{
		Width: w, Height: h,
		Y:       unsafe.Slice((*byte)(img.planes[0]), sy*h),
		U:       unsafe.Slice((*byte)(img.planes[1]), su*h/2),
		V:       unsafe.Slice((*byte)(img.planes[2]), sv*h/2),
		StrideY: sy, StrideU: su, StrideV: sv,
	}
	e.frame.Fill(codec.Black)
	return e, nil
}

// Config returns the configuration the encoder was opened with (Bitrate as given to NewEncoder).
func (e *Encoder) Config() Config { return e.cfg }

// Frame returns the encoder's input picture, which lives in C memory: draw into it and call Encode(nil).
// It is valid until Close; after Close its planes are empty.
func (e *Encoder) Frame() *codec.VideoFrame { return &e.frame }

// Encode encodes one picture: src, copied first into Frame(), or Frame() itself when src is nil (or is
// Frame()). It returns the VP8 frame, held in an encoder-owned buffer and valid until the next Encode or
// Close, and whether it is a key frame. A src of another size returns an error wrapping
// codec.ErrFrameSize.
func (e *Encoder) Encode(src *codec.VideoFrame) ([]byte, bool, error) {
	if e.c.done.Load() {
		return nil, false, fmt.Errorf("vp8: encode: %w", codec.ErrClosed)
	}
	if src != nil && src != &e.frame {
		if err := e.frame.CopyFrom(src); err != nil {
			return nil, false, fmt.Errorf("vp8: encode: %w", err)
		}
	}
	force := C.int(0)
	if e.forceK {
		force = 1
	}
	n := C.mcu_vp8_encode(e.c.e, C.int64_t(e.pts), force, &e.key)
	if n < 0 {
		return nil, false, fmt.Errorf("vp8: encode frame %d: %s", e.pts, C.GoString(C.mcu_vp8_error(e.c.e)))
	}
	e.pts++
	e.forceK = false
	if n == 0 {
		return nil, false, nil
	}
	return unsafe.Slice((*byte)(e.c.e.out), int(n)), e.key != 0, nil
}

// ForceKeyframe makes the next Encode produce a key frame.
func (e *Encoder) ForceKeyframe() { e.forceK = true }

// SetBitrate changes the target bitrate, in bits per second, from the next picture on.
func (e *Encoder) SetBitrate(bitrate int) error {
	if e.c.done.Load() {
		return fmt.Errorf("vp8: set bitrate: %w", codec.ErrClosed)
	}
	if bitrate < MinBitrate || bitrate > MaxBitrate {
		return fmt.Errorf("vp8: set bitrate %d: out of range %d..%d", bitrate, MinBitrate, MaxBitrate)
	}
	if r := C.mcu_vp8_set_bitrate(e.c.e, C.int(bitrate/1000)); r != C.VPX_CODEC_OK {
		return fmt.Errorf("vp8: set bitrate %d: %s", bitrate, C.GoString(C.mcu_vp8_error(e.c.e)))
	}
	return nil
}

// Close frees the encoder. It is idempotent and always returns nil.
func (e *Encoder) Close() error {
	e.c.free()
	e.frame = codec.VideoFrame{}
	return nil
}

var _ codec.VideoEncoder = (*Encoder)(nil)
