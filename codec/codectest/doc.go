// Package codectest holds helpers for the tests of any package that handles media: tone generators and
// spectrum measurements for audio, and their video counterparts (test colours, drawing, round trips).
//
// It also holds the codecs' conformance kit: what the tests of every codec package check alike. A
// codec's test describes the codec once, in a VideoCodecCase or an AudioCodecCase, and calls one Check
// function per shared check (colour round trip, forced keyframe, bitrate change, lifecycle; tone round
// trip, concealment, frame sizes, arbitrary payloads), plus the Bench functions for its benchmarks. Its
// own file keeps only what is particular to the codec: bitstream details, options and its own errors.
//
// The package imports package codec and the standard library only (and gonum's FFT for the spectrum), so
// the tests of any package, including a codec's internal tests (package g711), can use it without an
// import cycle and without linking another codec's C library.
//
// Nothing here is meant for production code paths; the helpers favour clarity over speed and allocate
// freely, except where a doc comment says otherwise.
package codectest
