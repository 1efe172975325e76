package h264

import "bytes"

// NAL unit types (ITU-T H.264 table 7-1) that the server looks at.
const (
	NALSlice = 1 // coded slice of a non-IDR picture
	NALIDR   = 5 // coded slice of an IDR picture
	NALSEI   = 6 // supplemental enhancement information
	NALSPS   = 7 // sequence parameter set
	NALPPS   = 8 // picture parameter set
	NALAUD   = 9 // access unit delimiter
)

// SplitNALs calls fn for each NAL unit of the Annex-B byte stream b, in order, with the start code and any
// trailing zero bytes removed. Bytes before the first start code (00 00 01 or 00 00 00 01) are skipped, and
// empty NAL units are not reported. nal views b: it is valid as long as b is. SplitNALs allocates nothing
// and is safe for concurrent use.
func SplitNALs(b []byte, fn func(nal []byte)) {
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i+2] > 1 {
			i += 3 // no start code can begin at i, i+1 or i+2
			continue
		}
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			i++
			continue
		}
		if start >= 0 {
			emitNAL(b[start:i], fn)
		}
		i += 3
		start = i
	}
	if start >= 0 {
		emitNAL(b[start:], fn)
	}
}

// emitNAL drops the trailing zero bytes (the first byte of a four-byte start code, or trailing_zero_8bits;
// a NAL unit never ends in a zero byte) and reports what is left.
func emitNAL(nal []byte, fn func(nal []byte)) {
	for len(nal) > 0 && nal[len(nal)-1] == 0 {
		nal = nal[:len(nal)-1]
	}
	if len(nal) > 0 {
		fn(nal)
	}
}

// NALType returns the nal_unit_type of a NAL unit (without start code), or 0 if nal is empty.
func NALType(nal []byte) int {
	if len(nal) == 0 {
		return 0
	}
	return int(nal[0] & 0x1f)
}

// IsKeyframe reports whether the Annex-B access unit au contains a slice of an IDR picture (NAL type 5),
// from which a decoder can start. It allocates nothing and is safe for concurrent use.
func IsKeyframe(au []byte) bool {
	key := false
	SplitNALs(au, func(nal []byte) {
		if NALType(nal) == NALIDR {
			key = true
		}
	})
	return key
}

// ParameterSets returns the first SPS and PPS of the Annex-B access unit au (views of au), or nil for
// one it lacks. It allocates nothing and is safe for concurrent use.
func ParameterSets(au []byte) (sps, pps []byte) {
	SplitNALs(au, func(nal []byte) {
		switch NALType(nal) {
		case NALSPS:
			if sps == nil {
				sps = nal
			}
		case NALPPS:
			if pps == nil {
				pps = nal
			}
		}
	})
	return sps, pps
}

// SampleNALs calls fn for each NAL unit of the Annex-B access unit au that a container's sample carries
// (an MP4 sample, an RTMP video tag): access unit delimiters are left out, and so are an SPS and a PPS
// equal to sps and pps, which the container's header holds already; a parameter set that differs is kept,
// where decoders pick it up. nal views au.
func SampleNALs(au, sps, pps []byte, fn func(nal []byte)) {
	SplitNALs(au, func(nal []byte) {
		switch NALType(nal) {
		case NALAUD:
			return
		case NALSPS:
			if bytes.Equal(nal, sps) {
				return
			}
		case NALPPS:
			if bytes.Equal(nal, pps) {
				return
			}
		}
		fn(nal)
	})
}
