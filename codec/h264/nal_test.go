package h264_test

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/openmcu/mcu/codec/h264"
)

func TestSplitNALs(t *testing.T) {
	tests := []struct {
		name, in string // hex
		want     []string
	}{
		{"empty", "", nil},
		{"no start code", "6742c01f", nil},
		{"three-byte start codes", "000001 6742 000001 68ce", []string{"6742", "68ce"}},
		{"four-byte start codes", "00000001 6742 00000001 68ce 00000001 6588", []string{"6742", "68ce", "6588"}},
		{"leading garbage skipped", "ff00 000001 41aa", []string{"41aa"}},
		{"trailing zeros trimmed", "000001 41aa0000 000001 41bb00", []string{"41aa", "41bb"}},
		{"empty units dropped", "000001 000001 41aa 000001", []string{"41aa"}},
		{"emulation prevention kept", "000001 41 000003 01", []string{"4100000301"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := hex.DecodeString(strings.ReplaceAll(tt.in, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			h264.SplitNALs(in, func(nal []byte) { got = append(got, hex.EncodeToString(nal)) })
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("SplitNALs(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsKeyframe(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"00000001 6742c01f 00000001 68ce3c80 00000001 6588", true},
		{"00000001 4188", false},
		{"000001 06 05 000001 6588", true},
		{"6588", false},       // no start code
		{"000001 2588", true}, // nal_ref_idc 1, type 5
	}
	for _, tt := range tests {
		in, _ := hex.DecodeString(strings.ReplaceAll(tt.in, " ", ""))
		if got := h264.IsKeyframe(in); got != tt.want {
			t.Errorf("IsKeyframe(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSplitNALsAllocs(t *testing.T) {
	in, _ := hex.DecodeString("000000016742c01f0000000168ce3c80000000016588")
	n := 0
	if a := testing.AllocsPerRun(100, func() { h264.SplitNALs(in, func([]byte) { n++ }) }); a != 0 {
		t.Errorf("SplitNALs allocates %v times per call", a)
	}
}

func TestParameterSetsAndSampleNALs(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84}
	au := slices.Concat([]byte{0, 0, 0, 1, 0x09, 0xf0}, // an access unit delimiter
		[]byte{0, 0, 0, 1}, sps, []byte{0, 0, 1}, pps, []byte{0, 0, 1}, idr)
	if s, p := h264.ParameterSets(au); !bytes.Equal(s, sps) || !bytes.Equal(p, pps) {
		t.Errorf("ParameterSets = % x, % x", s, p)
	}
	if s, p := h264.ParameterSets(idr); s != nil || p != nil {
		t.Errorf("ParameterSets of a slice alone = % x, % x, want nil", s, p)
	}
	collect := func(s, p []byte) [][]byte {
		var out [][]byte
		h264.SampleNALs(au, s, p, func(nal []byte) { out = append(out, nal) })
		return out
	}
	if got := collect(sps, pps); len(got) != 1 || !bytes.Equal(got[0], idr) {
		t.Errorf("SampleNALs with the header's sets = % x, want only the slice", got)
	}
	if got := collect([]byte{0x67, 1}, pps); len(got) != 2 || !bytes.Equal(got[0], sps) {
		t.Errorf("SampleNALs with another SPS = % x, want the new SPS and the slice", got)
	}
}
