package rtmp

import (
	"github.com/abema/go-mp4"

	"github.com/openmcu/mcu/codec/h264"
)

// splitAU appends the NAL units of the Annex-B access unit au that a video tag carries
// (h264.SampleNALs: no delimiters, no parameter sets equal to the current sequence header's sps and pps)
// to dst (views of au) and returns dst.
func splitAU(dst [][]byte, au, sps, pps []byte) [][]byte {
	h264.SampleNALs(au, sps, pps, func(nal []byte) { dst = append(dst, nal) })
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
