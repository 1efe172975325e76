//go:build cgo

package h264

/*
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

// mcu_x264_log prints x264's errors as x264's own logger does and drops everything else: measuring PSNR
// needs x264's log level at info, whose messages would otherwise fill the server's log. Not static: Go
// takes its address.
void mcu_x264_log(void *priv, int level, const char *fmt, va_list ap) {
	(void)priv;
	if (level > 0) return;
	fputs("x264 [error]: ", stderr);
	vfprintf(stderr, fmt, ap);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/gen2brain/x264-go/x264c"

	"github.com/openmcu/mcu/codec"
)

// Encoder encodes I420 pictures to H.264 Constrained Baseline in Annex-B form with libx264.
//
// Settings: profile baseline (x264 marks it constrained: constraint_set0 and set1, the SPS starts
// 42 c0), level 3.1 for anything up to 1280x720 at 30 fps (higher only for larger sizes, see Config),
// tune zerolatency, no B-frames, no lookahead, one thread, no scene-cut keyframes, ABR capped by a VBV
// buffer of half a second at the target rate, SPS and PPS in front of every IDR, no AUD, and VUI colour
// signalling for BT.601 limited range. IDR pictures come at the start, on ForceKeyframe and at least every
// KeyframeInterval.
//
// An Encoder belongs to one goroutine; it is not safe for concurrent use. Create it with NewEncoder and
// free it with Close (a cleanup frees it if it becomes unreachable, but do not rely on that). Encoding
// allocates nothing.
//
// Every struct handed to x264 (parameters, pictures, NAL count) is its own Go allocation holding no Go
// pointers, as cgo's pointer checks require: x264c passes them to C as unsafe pointers, and cgocheck then
// inspects the whole heap object around them.
type Encoder struct {
	cfg    Config
	c      *x264State
	picOut *x264c.Picture
	nals   []*x264c.Nal // one element: x264 stores its NAL array pointer (C memory) here
	nnal   *int32
	param  *x264c.Param // open parameters, then scratch for SetBitrate
	frame  codec.VideoFrame
	pts    int64
	forceK bool
	psnr   float64 // luma PSNR of the last picture out, in dB; 0 when not measured
	// mbInfo views x264State.mbInfo (nil when Config.AnalyseUnchanged): one flag per macroblock, set by
	// Encode(src) where src did not change since the previous picture; mbw is a row of it.
	mbInfo []byte
	mbw    int
}

// x264State is the C side of an Encoder, kept apart from it so the cleanup does not keep the Encoder alive.
// It holds no Go pointers, so pic may be passed to C.
type x264State struct {
	done  atomic.Bool
	enc   *x264c.T
	pic   x264c.Picture // input picture, planes allocated by x264_picture_alloc
	alloc bool
	// mbInfo is the picture's macroblock flags, in C memory: x264 keeps the pointer in its frame after
	// the call, which a Go allocation must not be.
	mbInfo unsafe.Pointer
}

// free releases the encoder and the input picture, once, whoever calls first (Close or the cleanup).
func (s *x264State) free() {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	if s.enc != nil {
		x264c.EncoderClose(s.enc)
		s.enc = nil
	}
	if s.alloc {
		x264c.PictureClean(&s.pic)
		s.alloc = false
	}
	if s.mbInfo != nil {
		C.free(s.mbInfo)
		s.mbInfo = nil
	}
}

// NewEncoder opens an encoder for cfg. Zero Preset and KeyframeInterval take their defaults. The
// encoder's input picture (Frame) starts black.
func NewEncoder(cfg Config) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Encoder{
		cfg: cfg, c: &x264State{}, picOut: new(x264c.Picture), nals: make([]*x264c.Nal, 1),
		nnal: new(int32), param: new(x264c.Param),
	}
	p := e.param
	if x264c.ParamDefaultPreset(p, cfg.Preset, "zerolatency") < 0 {
		return nil, fmt.Errorf("h264: open %dx%d: bad preset %q", cfg.Width, cfg.Height, cfg.Preset)
	}
	p.ILogLevel = x264c.LogError
	p.PfLog = (*[0]byte)(C.mcu_x264_log)
	p.IThreads = 1
	p.ILookaheadThreads = 1
	p.BSlicedThreads = 0
	p.IWidth, p.IHeight = int32(cfg.Width), int32(cfg.Height)
	p.ICsp = x264c.CspI420
	p.IFpsNum, p.IFpsDen = uint32(cfg.FrameRate), 1
	p.ITimebaseNum, p.ITimebaseDen = 1, uint32(cfg.FrameRate)
	p.BVfrInput = 0
	p.ILevelIdc = int32(cfg.level())
	p.ISliceMaxSize = int32(cfg.SliceMaxSize)
	p.IKeyintMax = int32(cfg.keyint())
	p.IScenecutThreshold = 0
	p.BIntraRefresh = 0
	p.IBframe = 0
	p.BAnnexb = 1
	p.BRepeatHeaders = 1
	p.BAud = 0
	// Macroblocks that Encode(src) finds unchanged since the previous picture are coded as skipped
	// without analysis where x264 judges that safe: the previous picture is the reference and was coded
	// at no worse a quantiser (see x264's mb_info).
	p.Analyse.BMbInfo = 1
	if cfg.AnalyseUnchanged {
		p.Analyse.BMbInfo = 0
	}
	if cfg.MeasurePSNR {
		// x264 measures only at log level info or above; mcu_x264_log still prints errors only.
		p.ILogLevel = x264c.LogInfo
		p.Analyse.BPsnr = 1
	}
	// BT.601 (SMPTE 170M) limited range, which is what codec.RGBToYUV produces.
	p.Vui.BFullrange = 0
	p.Vui.IColorprim, p.Vui.ITransfer, p.Vui.IColmatrix = 6, 6, 6
	setRate(p, cfg.Bitrate)
	if x264c.ParamApplyProfile(p, "baseline") < 0 {
		return nil, fmt.Errorf("h264: open %dx%d: baseline profile refused", cfg.Width, cfg.Height)
	}

	s := e.c
	if x264c.PictureAlloc(&s.pic, x264c.CspI420, int32(cfg.Width), int32(cfg.Height)) < 0 {
		return nil, fmt.Errorf("h264: open %dx%d: picture allocation failed", cfg.Width, cfg.Height)
	}
	s.alloc = true
	if p.Analyse.BMbInfo != 0 {
		e.mbw = (cfg.Width + 15) / 16
		n := e.mbw * ((cfg.Height + 15) / 16)
		s.mbInfo = C.calloc(C.size_t(n), 1)
		if s.mbInfo == nil {
			s.free()
			return nil, fmt.Errorf("h264: open %dx%d: macroblock flags allocation failed", cfg.Width, cfg.Height)
		}
		e.mbInfo = unsafe.Slice((*byte)(s.mbInfo), n)
	}
	s.enc = x264c.EncoderOpen(p)
	if s.enc == nil {
		s.free()
		return nil, fmt.Errorf("h264: open %dx%d@%d %d bit/s preset %s: x264_encoder_open failed",
			cfg.Width, cfg.Height, cfg.FrameRate, cfg.Bitrate, cfg.Preset)
	}
	runtime.AddCleanup(e, func(s *x264State) { s.free() }, s)

	img := &s.pic.Img
	w, h := cfg.Width, cfg.Height
	e.frame = codec.VideoFrame{
		Width: w, Height: h,
		Y:       unsafe.Slice((*byte)(img.Plane[0]), int(img.IStride[0])*h),
		U:       unsafe.Slice((*byte)(img.Plane[1]), int(img.IStride[1])*h/2),
		V:       unsafe.Slice((*byte)(img.Plane[2]), int(img.IStride[2])*h/2),
		StrideY: int(img.IStride[0]), StrideU: int(img.IStride[1]), StrideV: int(img.IStride[2]),
	}
	e.frame.Fill(codec.Black)
	return e, nil
}

// setRate sets ABR at bitrate (bit/s) with a VBV cap: the peak rate equals the target and the buffer holds
// half a second, so a frame can never burst far beyond its share (keeps pacing and jitter low).
func setRate(p *x264c.Param, bitrate int) {
	kbps := int32(bitrate / 1000)
	p.Rc.IRcMethod = x264c.RcAbr
	p.Rc.IBitrate = kbps
	p.Rc.IVbvMaxBitrate = kbps
	p.Rc.IVbvBufferSize = max(kbps/2, 1)
}

// Config returns the configuration the encoder was opened with, defaults filled in; Bitrate is the one
// given to NewEncoder, not any later SetBitrate.
func (e *Encoder) Config() Config { return e.cfg }

// Frame returns the encoder's input picture, which lives in C memory: draw into it and call Encode(nil).
// It is valid until Close; after Close its planes are empty.
func (e *Encoder) Frame() *codec.VideoFrame { return &e.frame }

// Encode encodes one picture: src, copied first into Frame(), or Frame() itself when src is nil (or is
// Frame()). Copying src also finds the macroblocks that did not change since the previous picture, which
// x264 then skips without analysing them (unless Config.AnalyseUnchanged); a picture drawn into Frame()
// is analysed whole. It returns the access unit (Annex-B NAL units; SPS and PPS precede every IDR), which
// views x264's own buffer and is valid until the next Encode or Close, and whether it is an IDR picture.
// A src of another size returns an error wrapping codec.ErrFrameSize.
func (e *Encoder) Encode(src *codec.VideoFrame) ([]byte, bool, error) {
	if e.c.done.Load() {
		return nil, false, fmt.Errorf("h264: encode: %w", codec.ErrClosed)
	}
	pic := &e.c.pic
	pic.Prop.MbInfo = nil
	if src != nil && src != &e.frame {
		if src.Width != e.frame.Width || src.Height != e.frame.Height {
			return nil, false, fmt.Errorf("h264: encode %dx%d into %dx%d: %w",
				src.Width, src.Height, e.frame.Width, e.frame.Height, codec.ErrFrameSize)
		}
		if e.mbInfo != nil {
			copyMarkUnchanged(&e.frame, src, e.mbInfo, e.mbw)
			pic.Prop.MbInfo = (*uint8)(e.c.mbInfo)
		} else {
			_ = e.frame.CopyFrom(src) // the size was checked above
		}
	}
	pic.IType = x264c.TypeAuto
	if e.forceK {
		pic.IType = x264c.TypeIdr
		e.forceK = false
	}
	pic.IPts = e.pts
	e.pts++
	e.psnr = 0
	n := x264c.EncoderEncode(e.c.enc, e.nals, e.nnal, pic, e.picOut)
	if n < 0 {
		return nil, false, fmt.Errorf("h264: encode frame %d: x264 error %d", pic.IPts, n)
	}
	if n == 0 || *e.nnal == 0 {
		return nil, false, nil // no output yet; does not happen with zerolatency
	}
	if e.cfg.MeasurePSNR {
		e.psnr = e.picOut.Prop.FPsnr[0]
	}
	// x264 guarantees that the payloads of all NAL units of one call are contiguous.
	data := unsafe.Slice((*byte)(e.nals[0].PPayload), int(n))
	return data, e.picOut.BKeyframe != 0 || e.picOut.IType == x264c.TypeIdr, nil
}

// LastPSNR returns the luma PSNR, in dB, of the picture the last Encode returned against the picture it
// was given: x264's measure of its reconstruction, which is exactly what a receiver decodes when nothing
// is lost. A picture coded without any error reads MaxPSNR. ok is false when Config.MeasurePSNR is off or
// the last Encode returned no picture.
func (e *Encoder) LastPSNR() (lumaDB float64, ok bool) { return e.psnr, e.psnr > 0 }

// ForceKeyframe makes the next Encode produce an IDR picture (with SPS and PPS in front).
func (e *Encoder) ForceKeyframe() { e.forceK = true }

// SetBitrate changes the target (and VBV peak) bitrate, in bits per second, from the next picture on.
func (e *Encoder) SetBitrate(bitrate int) error {
	if e.c.done.Load() {
		return fmt.Errorf("h264: set bitrate: %w", codec.ErrClosed)
	}
	if bitrate < MinBitrate || bitrate > MaxBitrate {
		return fmt.Errorf("h264: set bitrate %d: out of range %d..%d", bitrate, MinBitrate, MaxBitrate)
	}
	x264c.EncoderParameters(e.c.enc, e.param)
	setRate(e.param, bitrate)
	if r := x264c.EncoderReconfig(e.c.enc, e.param); r < 0 {
		return fmt.Errorf("h264: set bitrate %d: x264_encoder_reconfig error %d", bitrate, r)
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
