package fmp4

import (
	"encoding/binary"

	"github.com/openmcu/mcu/codec/h264"
)

// appendAVCC appends the NAL units of the Annex-B access unit au that a sample carries
// (h264.SampleNALs: no delimiters, no parameter sets equal to the init segment's sps and pps) to dst in
// MP4's form, each behind its four-byte length, and returns dst and the number of bytes appended.
func appendAVCC(dst, au, sps, pps []byte) ([]byte, int) {
	start := len(dst)
	h264.SampleNALs(au, sps, pps, func(nal []byte) {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
		dst = append(dst, nal...)
	})
	return dst, len(dst) - start
}
