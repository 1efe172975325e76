package main

import (
	"io"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-n", "25", "-canvas", "320x180", "-fps", "15", "-codec", "vp8", "-duration", "10s"}, true},
		{[]string{"-canvas", "320"}, false},
		{[]string{"-canvas", "321x180"}, false},
		{[]string{"-n", "0"}, false},
		{[]string{"-codec", "av1"}, false},
		{[]string{"-duration", "-1s"}, false},
		{[]string{"extra"}, false},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) = %+v, %v; want ok %t", tt.args, o, err, tt.ok)
		}
	}
	o, _ := parseFlags([]string{"-n", "25", "-canvas", "320x180", "-duration", "10s", "-interfaces", "lo,eth0"}, io.Discard)
	if o.n != 25 || o.width != 320 || o.height != 180 || o.duration != 10*time.Second || len(o.interfaces) != 2 {
		t.Errorf("parsed %+v", o)
	}
}
