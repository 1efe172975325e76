package av

import (
	"fmt"

	"github.com/openmcu/mcu/codec"
)

// inspectH264 reports whether the Annex-B access unit au holds an IDR slice (key) and whether it holds
// any slice at all (pictures). It is a copy of the few lines of h264.SplitNALs this package needs, so that
// decoding does not link libx264.
func inspectH264(au []byte) (key, pictures bool) {
	zeros := 0
	for i, b := range au {
		if b == 1 && zeros >= 2 && i+1 < len(au) {
			switch au[i+1] & 0x1f {
			case 5:
				key, pictures = true, true
			case 1, 2, 3, 4:
				pictures = true
			}
		}
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return key, pictures
}

// checkVP8Key checks the uncompressed header of a VP8 key frame (RFC 6386 section 9.1): the start code and
// a picture size within codec.MaxWidth x codec.MaxHeight.
func checkVP8Key(f []byte) error {
	if len(f) < 10 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return fmt.Errorf("av: decode VP8: %d-byte key frame without start code: %w", len(f), codec.ErrCorrupt)
	}
	w := int(f[6]) | int(f[7]&0x3f)<<8
	h := int(f[8]) | int(f[9]&0x3f)<<8
	if w == 0 || h == 0 || w > codec.MaxWidth || h > codec.MaxHeight {
		return fmt.Errorf("av: decode VP8: key frame of %dx%d: %w", w, h, codec.ErrFrameSize)
	}
	return nil
}
