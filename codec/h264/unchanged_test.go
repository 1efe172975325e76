package h264

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// paddedFrame returns a w x h frame whose planes have 7 bytes of stride beyond their width, filled with
// pad, and whose samples come from r.
func paddedFrame(w, h int, r *rand.Rand, pad byte) *codec.VideoFrame {
	cw, ch := (w+1)/2, (h+1)/2
	f := &codec.VideoFrame{Width: w, Height: h, StrideY: w + 7, StrideU: cw + 7, StrideV: cw + 7}
	f.Y = bytes.Repeat([]byte{pad}, f.StrideY*h)
	f.U = bytes.Repeat([]byte{pad}, f.StrideU*ch)
	f.V = bytes.Repeat([]byte{pad}, f.StrideV*ch)
	for y := range h {
		for x := range w {
			f.Y[y*f.StrideY+x] = byte(r.IntN(256))
		}
	}
	for y := range ch {
		for x := range cw {
			f.U[y*f.StrideU+x] = byte(r.IntN(256))
			f.V[y*f.StrideV+x] = byte(r.IntN(256))
		}
	}
	return f
}

// TestCopyMarkUnchanged changes one sample at a time, in each plane, in whole and in partial macroblocks
// at the right and bottom edges of a picture whose size is not a multiple of 16, and checks that exactly
// that macroblock loses its flag, that dst then equals src, and that nothing beyond the width is written.
func TestCopyMarkUnchanged(t *testing.T) {
	const w, h = 70, 38 // 5 x 3 macroblocks, the last column 6 and the last row 6 pixels wide
	const mbw, mbh = 5, 3
	r := rand.New(rand.NewPCG(1, 2))
	src := paddedFrame(w, h, r, 0)
	dst := paddedFrame(w, h, r, 0xee)
	flags := make([]byte, mbw*mbh)

	// A first copy marks every macroblock changed (the pictures are unrelated), a second none.
	copyMarkUnchanged(dst, src, flags, mbw)
	if !bytes.Equal(flags, make([]byte, mbw*mbh)) {
		t.Fatalf("unrelated pictures: flags %v, want all 0", flags)
	}
	copyMarkUnchanged(dst, src, flags, mbw)
	if !bytes.Equal(flags, bytes.Repeat([]byte{mbConstant}, mbw*mbh)) {
		t.Fatalf("same picture: flags %v, want all %d", flags, mbConstant)
	}

	type change struct {
		plane  string
		x, y   int // in the plane's samples
		mx, my int // the macroblock it lies in
	}
	for _, c := range []change{
		{"Y", 0, 0, 0, 0}, {"Y", 15, 15, 0, 0}, {"Y", 16, 15, 1, 0}, {"Y", 69, 37, 4, 2}, {"Y", 64, 32, 4, 2},
		{"Y", 40, 20, 2, 1}, {"U", 0, 0, 0, 0}, {"U", 8, 7, 1, 0}, {"U", 34, 18, 4, 2}, {"V", 7, 8, 0, 1},
		{"V", 34, 0, 4, 0}, {"V", 20, 18, 2, 2},
	} {
		p, stride := src.Y, src.StrideY
		switch c.plane {
		case "U":
			p, stride = src.U, src.StrideU
		case "V":
			p, stride = src.V, src.StrideV
		}
		p[c.y*stride+c.x]++
		copyMarkUnchanged(dst, src, flags, mbw)
		for i, f := range flags {
			want := byte(mbConstant)
			if i == c.my*mbw+c.mx {
				want = 0
			}
			if f != want {
				t.Errorf("%s sample (%d,%d) changed: macroblock (%d,%d) flag %d, want %d",
					c.plane, c.x, c.y, i%mbw, i/mbw, f, want)
			}
		}
	}
	cw, ch := (w+1)/2, (h+1)/2
	for _, pl := range []struct {
		name   string
		d, s   []byte
		ds, ss int
		pw, ph int
	}{{"Y", dst.Y, src.Y, dst.StrideY, src.StrideY, w, h}, {"U", dst.U, src.U, dst.StrideU, src.StrideU, cw, ch},
		{"V", dst.V, src.V, dst.StrideV, src.StrideV, cw, ch}} {
		for y := range pl.ph {
			if !bytes.Equal(pl.d[y*pl.ds:][:pl.pw], pl.s[y*pl.ss:][:pl.pw]) {
				t.Fatalf("plane %s line %d differs from the source after the copy", pl.name, y)
			}
			if pad := pl.d[y*pl.ds+pl.pw : (y+1)*pl.ds]; !bytes.Equal(pad, bytes.Repeat([]byte{0xee}, len(pad))) {
				t.Fatalf("plane %s line %d: stride padding overwritten: %v", pl.name, y, pad)
			}
		}
	}
}

// BenchmarkCopyMarkUnchanged compares a 1280x720 picture a quarter of which changed with plain copying.
func BenchmarkCopyMarkUnchanged(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	src, dst := paddedFrame(1280, 720, r, 0), paddedFrame(1280, 720, r, 0)
	_ = dst.CopyFrom(src)
	flags := make([]byte, 80*45)
	b.Run("mark", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			src.Y[(i%360)*src.StrideY+i%640]++ // a sample in the top-left quarter changes each time
			for y := range 180 {
				src.U[y*src.StrideU+(i%320)]++
			}
			copyMarkUnchanged(dst, src, flags, 80)
		}
	})
	// A camera's picture: a still background and a subject (a 400x480 box) that moves every picture.
	scene := [2]*codec.VideoFrame{paddedFrame(1280, 720, r, 0), nil}
	scene[1] = paddedFrame(1280, 720, r, 0)
	_ = scene[1].CopyFrom(scene[0])
	for y := 120; y < 600; y++ {
		for x := 440; x < 840; x++ {
			scene[1].Y[y*scene[1].StrideY+x] ^= 0x55
		}
	}
	for y := 60; y < 300; y++ {
		for x := 220; x < 420; x++ {
			scene[1].U[y*scene[1].StrideU+x] ^= 0x55
			scene[1].V[y*scene[1].StrideV+x] ^= 0x55
		}
	}
	b.Run("mark-camera", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			copyMarkUnchanged(dst, scene[i%2], flags, 80)
		}
	})
	b.Run("copy", func(b *testing.B) {
		for b.Loop() {
			_ = dst.CopyFrom(src)
		}
	})
}
