// Package av decodes video (H.264 and VP8) with Debian's libavcodec (FFmpeg 5.1) through a thin cgo layer:
// one decoder per incoming track, one thread, low delay, pictures handed out without copying.
//
// Without cgo the package builds but NewVideoDecoder returns an error wrapping errors.ErrUnsupported.
package av
