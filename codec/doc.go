// Package codec holds the media types every other package speaks: 20 ms frames of 48 kHz mono PCM, pooled
// I420 video frames, the encoder and decoder interfaces, and the errors they return.
//
// It imports the standard library only. Each subpackage wraps one library: codec/opus (libopus),
// codec/g711 (pure Go), codec/g722 (libavcodec), codec/av (libavcodec video decoding), codec/h264 (x264),
// codec/vp8 (libvpx encoding), codec/scale (libyuv) and codec/resample (pure Go). All cgo of the project
// lives under codec/; nothing here knows about RTP, rooms or networks.
package codec
