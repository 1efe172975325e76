package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRateLimiterBounded(t *testing.T) {
	l := newRateLimiter(1, 2)
	now := time.Unix(1000, 0)
	a := netip.MustParseAddr("192.0.2.1")
	var got []bool
	for range 3 {
		ok, _ := l.allow(a, now)
		got = append(got, ok)
	}
	if fmt.Sprint(got) != "[true true false]" {
		t.Errorf("3 at once with a burst of 2: %v", got)
	}
	if ok, wait := l.allow(a, now); ok || wait != time.Second {
		t.Errorf("over the limit: %v, wait %v; want refused, 1 s to wait", ok, wait)
	}
	if ok, _ := l.allow(a, now.Add(time.Second)); !ok {
		t.Error("refused after a second at 1/s")
	}

	// A flood from more sources than the table holds: the table stays bounded, the sources beyond it
	// share one bucket, and buckets that refilled are forgotten to make room.
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	allowed := 0
	for i := range 3 * maxRateBuckets {
		if ok, _ := l.allow(ip(i), now); ok {
			allowed++
		}
	}
	if n := l.size(); n != maxRateBuckets {
		t.Errorf("%d buckets after a flood from %d sources, want %d", n, 3*maxRateBuckets, maxRateBuckets)
	}
	if want := maxRateBuckets - 1 + 2; allowed != want { // a's bucket is in the table; the overflow's burst
		t.Errorf("%d INVITEs of the flood allowed, want %d", allowed, want)
	}
	later := now.Add(10 * time.Second) // every bucket has refilled
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.99"), later); !ok {
		t.Error("a new source refused once the flood's buckets refilled")
	}
	if n := l.size(); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (the new source)", n)
	}
	if newRateLimiter(0, 10) != nil {
		t.Error("rate 0 made a limiter")
	}
}

func TestTCPFramer(t *testing.T) {
	msg := func(body int, extra string) string {
		return "INVITE sip:r@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n" + extra +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", body) + strings.Repeat("b", body)
	}
	const max = 1000
	for _, tc := range []struct {
		name   string
		stream string
		ok     bool
	}{
		{"one small message", msg(10, ""), true},
		{"keep-alives and pipelined messages", "\r\n\r\n" + msg(300, "") + "\r\n" + msg(300, "") + msg(0, ""), true},
		{"compact form l", strings.Replace(msg(0, ""), "Content-Length: 0", "l: 2000", 1), false},
		{"body over the limit", msg(950, ""), false},
		{"headers over the limit", msg(0, "X-A: "+strings.Repeat("a", 1000)+"\r\n"), false},
		{"a line that never ends", "INVITE sip:r@h SIP/2.0\r\nX: " + strings.Repeat("a", 2000), false},
		{"a huge Content-Length", strings.Replace(msg(0, ""), "Content-Length: 0", "Content-Length: 99999999999999", 1), false},
		{"leading zeros", strings.Replace(msg(5, ""), "Content-Length: 5", "Content-Length: 0000000000005", 1), true},
		{"the last Content-Length counts", msg(5, "Content-Length: 5000\r\n"), true},
		{"a body holding what looks like headers", msg(100, "") + msg(0, ""), true},
	} {
		for _, chunk := range []int{1, 7, 4096} { // how TCP cuts the stream does not matter
			var f tcpFramer
			ok := true
			for b := []byte(tc.stream); len(b) > 0 && ok; {
				n := min(chunk, len(b))
				ok = f.feed(b[:n], max)
				b = b[n:]
			}
			if ok != tc.ok {
				t.Errorf("%s in chunks of %d: %v, want %v", tc.name, chunk, ok, tc.ok)
			}
			if len(f.line) > max {
				t.Errorf("%s in chunks of %d: a line buffer of %d bytes", tc.name, chunk, len(f.line))
			}
		}
	}
}

func TestTrusted(t *testing.T) {
	prefixes, err := parsePrefixes([]string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{trusted: prefixes}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "11.0.0.1": false, "192.0.2.7": true, "192.0.2.8": false, "2001:db8::5": true,
		"2001:db9::5": false, "198.51.100.9": true, "::ffff:198.51.100.9": true, "::ffff:10.9.9.9": true,
	} {
		if got := s.isTrusted(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isTrusted(%s) = %v, want %v", addr, got, want)
		}
	}
	if _, err := parsePrefixes([]string{"pbx.example.org"}); err == nil {
		t.Error("a host name parsed as a network")
	}
}
