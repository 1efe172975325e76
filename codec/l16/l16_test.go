package l16_test

import (
	"errors"
	"testing"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/l16"
)

func TestRoundTrip(t *testing.T) {
	pcm := make([]int16, codec.FrameSamples)
	for i := range pcm {
		pcm[i] = int16(i*73 - 30000)
	}
	pcm[0], pcm[1] = -32768, 32767
	e := l16.NewEncoder()
	buf := make([]byte, l16.FrameBytes)
	n, err := e.Encode(pcm, buf)
	if err != nil || n != l16.FrameBytes {
		t.Fatalf("Encode = %d, %v; want %d", n, err, l16.FrameBytes)
	}
	if buf[0] != 0x80 || buf[1] != 0x00 || buf[2] != 0x7f || buf[3] != 0xff {
		t.Errorf("first bytes % x, want big-endian 80 00 7f ff", buf[:4])
	}
	got := make([]int16, codec.FrameSamples)
	if n := l16.Decode(got, buf[:n]); n != codec.FrameSamples {
		t.Fatalf("Decode wrote %d samples", n)
	}
	for i := range pcm {
		if got[i] != pcm[i] {
			t.Fatalf("sample %d: %d, want %d", i, got[i], pcm[i])
		}
	}
	if n := l16.Decode(got[:4], buf[:5]); n != 2 {
		t.Errorf("Decode of 5 bytes wrote %d samples, want 2", n)
	}
	if _, err := e.Encode(pcm[:10], buf); !errors.Is(err, codec.ErrFrameSize) {
		t.Errorf("short frame: %v, want ErrFrameSize", err)
	}
	e.Close()
	if _, err := e.Encode(pcm, buf); !errors.Is(err, codec.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
