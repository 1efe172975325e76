// Package aac encodes the server's internal audio (48 kHz mono int16 in 20 ms frames) to AAC-LC with
// libavcodec's native "aac" encoder, for recordings (MP4) and live streams (RTMP).
//
// AAC codes 1024 samples per access unit while the server's frames hold 960, so the Encoder buffers: each
// 20 ms frame in gives zero or one access unit out (about 47 of them per second). Every access unit
// carries its presentation time in samples. The encoder delays its output by Delay() samples (the
// "priming" of the MDCT overlap): the first access unit's presentation time is -Delay(), and a decoder
// that plays access unit k from PTS k*1024-Delay() puts every input sample back at its own time. A muxer
// that cannot store negative times shifts both tracks by the same amount rather than dropping the
// priming (see mcu/internal/fmp4).
//
// Each Encoder owns one libavcodec context with its frame, packet and output buffer, allocated once in
// NewEncoder and freed by Close (idempotent) or, as a backstop, when the garbage collector finds the
// Encoder unreachable. Encoding allocates nothing and makes one cgo call per frame. Without cgo
// NewEncoder returns an error wrapping errors.ErrUnsupported.
package aac
