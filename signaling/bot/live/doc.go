// Package live gives a synthetic participant live media through pion/mediadevices: a test pattern
// (Pattern: the participant's colour, its name, a clock and a moving bar) and a tone (Tone) as
// mediadevices sources, this project's own encoders behind mediadevices' codec adapter interfaces
// (VideoEncoder over codec/vp8 or codec/h264, OpusEncoder over codec/opus), and Source, which turns a
// mediadevices track (from NewVideoTrack, NewAudioTrack or GetUserMedia) into a peer.Source.
//
// The pipeline of one source: reader (Pattern, Tone, camera, microphone) → mediadevices track →
// encoder built by the track's codec selector (an adapter here) → Source.ReadSample → peer.Client's
// sender → pion's TrackLocalStaticSample. mediadevices' own codec packages are not used: pkg/codec/opus
// bundles a static libopus beside the system one that codec/opus links, and pkg/codec/vpx and x264 would
// bring cgo outside codec/. This package has no cgo of its own (mediadevices' picture conversion has
// some).
//
// Goroutines: none. Each source is read by the goroutine that calls ReadSample, and its clock is a
// ticker read there.
//
// Cost of a pattern at 640x360@30 and a tone: about 0.7 ms of CPU per frame with VP8 (0.5 ms with H.264)
// of which drawing is 50 µs (BenchmarkLiveVideoFrame, BenchmarkPatternFrame), plus the Opus encode; a
// whole bot with this media measured 5.6-6.4 % of a core (see cmd/mcubot).
package live
