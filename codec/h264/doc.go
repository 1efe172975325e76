// Package h264 encodes H.264 Constrained Baseline with the system libx264 through
// github.com/gen2brain/x264-go/x264c (build with -tags extlib,pkgconfig), and holds the small Annex-B
// helpers (SplitNALs, IsKeyframe) that the decoder and the RTP code share. Decoding is in codec/av.
//
// Without cgo the package builds but NewEncoder returns an error wrapping errors.ErrUnsupported.
package h264
