// Package aacdec decodes AAC access units with libavcodec's native decoder, so that codec/aac's tests
// can check what the encoder produced (tones, silence, the priming delay) without a container or an
// external program. It is internal to codec/aac: nothing in the server decodes AAC.
//
// A Decoder owns one libavcodec context, freed by Close (idempotent) or, as a backstop, by a cleanup.
// Without cgo NewDecoder returns an error wrapping errors.ErrUnsupported.
package aacdec
