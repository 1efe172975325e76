package fmp4

import (
	"bytes"
	"encoding/binary"

	"github.com/openmcu/mcu/codec/h264"
)

// parameterSets returns the first SPS and PPS of the Annex-B access unit au (views of au), or nil.
func parameterSets(au []byte) (sps, pps []byte) {
	h264.SplitNALs(au, func(nal []byte) {
		switch h264.NALType(nal) {
		case h264.NALSPS:
			if sps == nil {
				sps = nal
			}
		case h264.NALPPS:
			if pps == nil {
				pps = nal
			}
		}
	})
	return sps, pps
}

// appendAVCC appends the NAL units of the Annex-B access unit au to dst in MP4's form, each behind its
// four-byte length, and returns dst and the number of bytes appended. Access unit delimiters are left
// out, and so are parameter sets equal to those of the init segment (sps, pps): a parameter set that
// differs stays in the sample, where decoders pick it up.
func appendAVCC(dst, au, sps, pps []byte) ([]byte, int) {
	start := len(dst)
	h264.SplitNALs(au, func(nal []byte) {
		switch h264.NALType(nal) {
		case h264.NALAUD:
			return
		case h264.NALSPS:
			if bytes.Equal(nal, sps) {
				return
			}
		case h264.NALPPS:
			if bytes.Equal(nal, pps) {
				return
			}
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
		dst = append(dst, nal...)
	})
	return dst, len(dst) - start
}
