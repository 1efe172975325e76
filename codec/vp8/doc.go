// Package vp8 encodes VP8 with libvpx through cgo, for receivers without H.264. Decoding is in codec/av.
//
// Without cgo the package builds but NewEncoder returns an error wrapping errors.ErrUnsupported.
package vp8
