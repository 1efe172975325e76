package mcu

import "testing"

func TestMDNSCandidates(t *testing.T) {
	for _, tc := range []struct {
		cand string
		want bool
	}{
		{"candidate:1 1 udp 2122260223 3f9a0b1c-5e2d-4c1e-9d7a-000000000001.local 54321 typ host", true},
		{"candidate:1 1 UDP 2122260223 ABC.LOCAL 54321 typ host", true},
		{"a=candidate:1 1 udp 2122260223 x.local 9 typ host tcptype active\r\n", true},
		{"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", false},
		{"candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr x.local rport 54321", false},
		{"candidate:1 1 udp .local", false},
		{"", false},
	} {
		if got := isMDNSCandidate(tc.cand); got != tc.want {
			t.Errorf("isMDNSCandidate(%q) = %t, want %t", tc.cand, got, tc.want)
		}
	}
	desc := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
		"a=candidate:1 1 udp 2122260223 a.local 5000 typ host\r\n" +
		"a=candidate:2 1 udp 2122260223 192.0.2.1 5000 typ host\r\n" +
		"a=candidate:3 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr b.local rport 5000\r\n" +
		"a=candidate:4 1 tcp 1518280447 c.local 9 typ host tcptype active\r\n" +
		"a=end-of-candidates"
	want := "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" +
		"a=candidate:2 1 udp 2122260223 192.0.2.1 5000 typ host\r\n" +
		"a=candidate:3 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr b.local rport 5000\r\n" +
		"a=end-of-candidates"
	if got, n := withoutMDNSCandidates(desc); got != want || n != 2 {
		t.Errorf("withoutMDNSCandidates dropped %d:\n%q\nwant 2:\n%q", n, got, want)
	}
	if got, n := withoutMDNSCandidates(want); got != want || n != 0 {
		t.Errorf("a description without .local candidates changed (%d dropped): %q", n, got)
	}
}
