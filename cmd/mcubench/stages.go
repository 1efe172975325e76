package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The stages of the server's work that the CPU profile is split into, in the report's order.
const (
	stageDecode  = "decode video"
	stageCompose = "compose"
	stageEncode  = "encode video"
	stageAudio   = "audio"
	stageNet     = "RTP/SRTP/network"
	stageRuntime = "runtime"
	stageOther   = "other"
)

var stageOrder = []string{stageDecode, stageCompose, stageEncode, stageAudio, stageNet, stageRuntime, stageOther}

// CPUStages is where the server's CPU went over (the start of) a window, from a CPU profile. Plain data.
type CPUStages struct {
	// Profile is the profile's file (go tool pprof reads it).
	Profile string `json:"profile"`
	// Duration is how long the profile ran; CPU the CPU time its samples stand for.
	Duration time.Duration `json:"duration_ns"`
	CPU      time.Duration `json:"cpu_ns"`
	Samples  int64         `json:"samples"`
	// Stages are the shares of CPU, in stageOrder, each with its part of the server's cores.
	Stages []StageShare `json:"stages"`
}

// StageShare is one stage's part of the sampled CPU.
type StageShare struct {
	Stage string  `json:"stage"`
	Share float64 `json:"share"` // of the profile's CPU, 0 to 1
	Cores float64 `json:"cores"` // Share × the run's server cores
}

// Share returns the share of stage, 0 when absent.
func (c *CPUStages) Share(stage string) float64 {
	for _, s := range c.Stages {
		if s.Stage == stage {
			return s.Share
		}
	}
	return 0
}

// profileResult is a fetched profile: its file and contents, or why there is none.
type profileResult struct {
	path string
	data []byte
	err  error
}

// stages parses the profile and splits its CPU by stage; serverCores scales the shares to cores.
func (r profileResult) stages(serverCores float64) (*CPUStages, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := parseCPUProfile(r.data)
	if err != nil {
		return nil, err
	}
	c := stagesOf(p, serverCores)
	c.Profile = r.path
	if c.CPU == 0 {
		return c, errors.New("cpu profile: no samples")
	}
	return c, nil
}

// stagesOf splits the profile's CPU by the stage of each stack (stackStage).
func stagesOf(p *cpuProfile, serverCores float64) *CPUStages {
	c := &CPUStages{Duration: p.Duration}
	by := map[string]time.Duration{}
	for _, s := range p.Samples {
		by[stackStage(s.Stack)] += s.CPU
		c.CPU += s.CPU
		c.Samples += s.Count
	}
	for _, st := range stageOrder {
		share := 0.0
		if c.CPU > 0 {
			share = float64(by[st]) / float64(c.CPU)
		}
		c.Stages = append(c.Stages, StageShare{Stage: st, Share: share, Cores: share * serverCores})
	}
	return c
}

// stackStage is the stage of a stack (leaf first): the one of its leaf-most frame that has one.
func stackStage(stack []string) string {
	for _, f := range stack {
		if st := frameStage(f); st != "" {
			return st
		}
	}
	return stageOther
}

// stageRule gives the stage of the frames whose name starts with (or, with contains, holds) match. An
// empty stage makes the frame transparent: the stage is the one of its callers (runtime.cgocall is the
// leaf of every call into C, runtime.memmove copies for whoever calls it).
type stageRule struct {
	match    string
	contains bool
	stage    string
}

// stageRules are tried in order; the first that matches a frame decides. They follow the names of a real
// profile of the server (go tool pprof -top -cum): a call into C is runtime.cgocall under the package's
// _Cfunc_ (x264c._Cfunc_x264_encoder_encode, av._Cfunc_mcu_dec_decode, scale._Cfunc_I420Scale,
// opus._Cfunc_opus_encode); C code on threads of its own reads runtime._ExternalCode, under the library's
// frames when the profile could name or place them.
var stageRules = []stageRule{
	// Transparent: the way into C, copies and hashes, system calls (their caller says what for).
	{match: "runtime.cgocall"},
	{match: "runtime.asmcgocall"},
	{match: "runtime.cgoCheck"},
	{match: "runtime.systemstack"},
	{match: "runtime.memmove"},
	{match: "runtime.memclr"},
	{match: "runtime.memequal"},
	{match: "runtime.duff"},
	{match: "runtime.cmpbody"},
	{match: "runtime.memhash"},
	{match: "runtime.aeshash"},
	{match: "runtime.strhash"},
	{match: "runtime.typedmemmove"},
	{match: "runtime.typedslicecopy"},
	{match: "runtime.mapaccess"},
	{match: "runtime.mapassign"},
	{match: "internal/runtime/maps."},
	{match: "internal/runtime/syscall"},
	{match: "internal/bytealg."},
	{match: "syscall."},
	{match: "internal/poll."},
	{match: "github.com/openmcu/mcu/codec."}, // VideoFrame's copies and fills, for the encoder or the compositor

	// Video encoding: x264 (codec/h264 over x264c) and libvpx (codec/vp8).
	{match: "x264", contains: true, stage: stageEncode},
	{match: "github.com/openmcu/mcu/codec/h264.", stage: stageEncode},
	{match: "github.com/openmcu/mcu/codec/vp8.", stage: stageEncode},
	{match: "libvpx", contains: true, stage: stageEncode},
	{match: "vpx_", stage: stageEncode},
	{match: "vp8_", stage: stageEncode},
	// Video decoding: libavcodec through codec/av.
	{match: "github.com/openmcu/mcu/codec/av.", stage: stageDecode},
	{match: "libavcodec", contains: true, stage: stageDecode},
	{match: "libavutil", contains: true, stage: stageDecode},
	{match: "ff_", stage: stageDecode},
	{match: "av_", stage: stageDecode},
	{match: "avcodec_", stage: stageDecode},
	// Audio: codecs, resampling, DTMF, and the audio half of the mixer package.
	{match: "github.com/openmcu/mcu/codec/opus.", stage: stageAudio},
	{match: "gopkg.in/hraban/opus", stage: stageAudio},
	{match: "libopus", contains: true, stage: stageAudio},
	{match: "opus_", stage: stageAudio},
	{match: "silk_", stage: stageAudio},
	{match: "celt_", stage: stageAudio},
	{match: "github.com/openmcu/mcu/codec/aac", stage: stageAudio},
	{match: "github.com/openmcu/mcu/codec/g711", stage: stageAudio},
	{match: "github.com/openmcu/mcu/codec/g722", stage: stageAudio},
	{match: "github.com/openmcu/mcu/codec/l16", stage: stageAudio},
	{match: "github.com/openmcu/mcu/codec/resample", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mcu/internal/dtmf", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.(*Audio", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.(*audio", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.(*limiter)", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.(*speakerDetector)", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.newAudio", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.audio", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.saturate16", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.frameMeanSquare", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.powerToDBov", stage: stageAudio},
	{match: "github.com/openmcu/mcu/mixer.ampForDBov", stage: stageAudio},
	// Composing: the rest of the mixer package (compositor, layout, labels), scaling (libyuv through
	// codec/scale), text.
	{match: "github.com/openmcu/mcu/mixer.", stage: stageCompose},
	{match: "github.com/openmcu/mcu/codec/scale.", stage: stageCompose},
	{match: "libyuv", contains: true, stage: stageCompose},
	{match: "libswscale", contains: true, stage: stageCompose},
	{match: "I420Scale", stage: stageCompose},
	{match: "ScalePlane", stage: stageCompose},
	{match: "golang.org/x/image/", stage: stageCompose},
	// Media transport: pion's RTP, RTCP, SRTP, DTLS, SCTP, ICE and interceptors, the server's RTP
	// handling (depacketizing, NACK filter, RTP I/O), the sockets.
	{match: "github.com/pion/", stage: stageNet},
	{match: "github.com/openmcu/mcu/mcu/internal/assembler", stage: stageNet},
	{match: "github.com/openmcu/mcu/mcu/internal/nackfilter", stage: stageNet},
	{match: "github.com/openmcu/mcu/mcu/internal/rtpio", stage: stageNet},
	{match: "net.", stage: stageNet},
	{match: "net/netip.", stage: stageNet},
	{match: "golang.org/x/net/", stage: stageNet},
	{match: "crypto/", stage: stageNet},
	{match: "runtime.netpoll", stage: stageNet},
	// C code the profile could not place.
	{match: "runtime._ExternalCode", stage: stageOther},
	// The Go runtime: collection, allocation, scheduling, timers.
	{match: "runtime.", stage: stageRuntime},
	{match: "internal/runtime/", stage: stageRuntime},
	{match: "gcWriteBarrier", contains: true, stage: stageRuntime},
}

// frameStage is the stage of one frame, "" when no rule gives it one.
func frameStage(name string) string {
	for _, r := range stageRules {
		if r.contains && strings.Contains(name, r.match) || !r.contains && strings.HasPrefix(name, r.match) {
			return r.stage
		}
	}
	return ""
}

// stageCell formats a share as a percentage for the report.
func stageCell(share float64) string { return fmt.Sprintf("%.1f", 100*share) }
