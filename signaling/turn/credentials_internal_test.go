package turn

import "testing"

func TestParseUsername(t *testing.T) {
	for _, tc := range []struct {
		in       string
		expiry   int64
		identity string
		ok       bool
	}{
		{"1700000000:alice", 1700000000, "alice", true},
		{"1700000000", 1700000000, "", true},
		{"1700000000:", 1700000000, "", true},
		{"1700000000:a:b", 1700000000, "a:b", true},
		{"9223372036854775807:x", 9223372036854775807, "x", true},
		{"", 0, "", false},
		{":alice", 0, "", false},
		{"alice", 0, "", false},
		{"alice:1700000000", 0, "", false},
		{"+1700000000:alice", 0, "", false},
		{"-1:alice", 0, "", false},
		{"17000 0000:alice", 0, "", false},
		{"9223372036854775808:x", 0, "", false}, // overflows int64
		{"12345678901234567890:x", 0, "", false},
	} {
		expiry, identity, err := parseUsername(tc.in)
		if (err == nil) != tc.ok || tc.ok && (expiry != tc.expiry || identity != tc.identity) {
			t.Errorf("parseUsername(%q) = %d, %q, %v; want %d, %q, ok %v", tc.in, expiry, identity, err, tc.expiry, tc.identity, tc.ok)
		}
	}
}
