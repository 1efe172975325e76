package rtmp

import (
	"bytes"

	"github.com/abema/go-mp4"

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

// splitAU appends the NAL units of the Annex-B access unit au to dst (views of au) and returns dst.
// Access unit delimiters are left out, and so are parameter sets equal to those of the current sequence
// header (sps, pps).
func splitAU(dst [][]byte, au, sps, pps []byte) [][]byte {
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
		dst = append(dst, nal)
	})
	return dst
}

// avcConfig is the AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1) of one SPS and one PPS, with
// four-byte NAL unit lengths, as gortmplib's Writer builds it for the first sequence header.
func avcConfig(sps, pps []byte) *mp4.AVCDecoderConfiguration {
	var profile, compat, level uint8
	if len(sps) >= 4 {
		profile, compat, level = sps[1], sps[2], sps[3]
	}
	return &mp4.AVCDecoderConfiguration{
		AnyTypeBox:                 mp4.AnyTypeBox{Type: mp4.BoxTypeAvcC()},
		ConfigurationVersion:       1,
		Profile:                    profile,
		ProfileCompatibility:       compat,
		Level:                      level,
		Reserved:                   0b111111,
		LengthSizeMinusOne:         3,
		Reserved2:                  0b111,
		NumOfSequenceParameterSets: 1,
		SequenceParameterSets:      []mp4.AVCParameterSet{{Length: uint16(len(sps)), NALUnit: sps}},
		NumOfPictureParameterSets:  1,
		PictureParameterSets:       []mp4.AVCParameterSet{{Length: uint16(len(pps)), NALUnit: pps}},
	}
}
