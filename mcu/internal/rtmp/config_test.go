package rtmp

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		url                      string
		tls                      bool
		address, app, tcURL, key string
	}{
		{"rtmp://a.rtmp.youtube.com/live2/abcd-efgh", false, "a.rtmp.youtube.com:1935", "live2", "rtmp://a.rtmp.youtube.com/live2", "abcd-efgh"},
		{"rtmps://a.rtmps.youtube.com:443/live2/k", true, "a.rtmps.youtube.com:443", "live2", "rtmps://a.rtmps.youtube.com:443/live2", "k"},
		{"rtmps://live.twitch.tv/app/live_123_abc", true, "live.twitch.tv:443", "app", "rtmps://live.twitch.tv/app", "live_123_abc"},
		{"rtmp://127.0.0.1:19350/live/room?token=x", false, "127.0.0.1:19350", "live", "rtmp://127.0.0.1:19350/live", "room?token=x"},
		{"rtmp://nginx/app/inst/key", false, "nginx:1935", "app/inst", "rtmp://nginx/app/inst", "key"},
		{"rtmp://mediamtx:1935/mystream", false, "mediamtx:1935", "mystream", "rtmp://mediamtx:1935/mystream", ""},
		{"rtmp://host/app#se/cret", false, "host:1935", "app", "rtmp://host/app", "se/cret"},
		{"rtmp://[::1]:1935/app/key", false, "[::1]:1935", "app", "rtmp://[::1]:1935/app", "key"},
	} {
		got, err := parseTarget(c.url)
		if err != nil {
			t.Errorf("parseTarget(%q): %v", c.url, err)
			continue
		}
		if got.tls != c.tls || got.address != c.address || got.app != c.app || got.tcURL != c.tcURL || got.key != c.key {
			t.Errorf("parseTarget(%q) = %+v", c.url, got)
		}
		if c.key != "" && strings.Contains(got.String(), c.key) {
			t.Errorf("target %q prints its key: %s", c.url, got)
		}
	}
	for _, bad := range []string{"", "http://host/app/key", "rtmp:///app/key", "rtmp://host", "rtmp://host/", "rtmp://u:p@host/app/key", "rtmp://host/app?x=1", "rtmp://host:xx/app/key"} {
		if got, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "rtmp://host/app/key", Video: true, Audio: true, AudioConfig: asc}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
	}{
		{"bad URL", func(c *Config) { c.URL = "udp://host/app/key" }},
		{"no tracks", func(c *Config) { c.Video, c.Audio = false, false }},
		{"no audio config", func(c *Config) { c.AudioConfig = nil }},
		{"HE-AAC", func(c *Config) { c.AudioConfig = []byte{0x2b, 0x8a, 0x08, 0x00} }},
		{"AAC Main", func(c *Config) { c.AudioConfig = []byte{0x09, 0x88} }},
		{"negative timeout", func(c *Config) { c.WriteTimeout = -time.Second }},
	} {
		cfg := ok
		c.change(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate() accepted %+v", c.name, cfg)
		}
		if p, err := Dial(context.Background(), cfg, Params{}); err == nil {
			p.Close()
			t.Errorf("%s: Dial accepted %+v", c.name, cfg)
		}
	}
}

// TestDialRefused dials a port nobody listens on: an error at once.
func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), Config{URL: "rtmp://" + addr + "/app/secret", Audio: true, AudioConfig: asc}, Params{})
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows the stream key: %v", err)
	}
}

// TestDialSilentServer dials a server that accepts the connection and then says nothing: Dial gives up
// after ConnectTimeout, and when its context ends.
func TestDialSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	defer func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	}()
	cfg := Config{URL: "rtmp://" + l.Addr().String() + "/app/key", Audio: true, AudioConfig: asc, ConnectTimeout: 300 * time.Millisecond}
	if _, err := Dial(context.Background(), cfg, Params{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial to a silent server with ConnectTimeout: %v, want context.DeadlineExceeded", err)
	}
	cfg.ConnectTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, err := Dial(ctx, cfg, Params{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial to a silent server, cancelled: %v, want context.Canceled", err)
	}
}

func TestBackoff(t *testing.T) {
	var b Backoff
	now := time.Unix(1000, 0)
	var got []time.Duration
	for range 8 {
		got = append(got, b.Failed(now))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	// Up, but not for long: the delays go on growing from where they were.
	b.Connected(now)
	if d := b.Failed(now.Add(59 * time.Second)); d != 30*time.Second {
		t.Errorf("after 59 s up: %v, want 30s", d)
	}
	// Up for the stable period: back to the start.
	b.Connected(now)
	if d := b.Failed(now.Add(time.Minute)); d != time.Second {
		t.Errorf("after a minute up: %v, want 1s", d)
	}
	if d := b.Failed(now.Add(time.Minute)); d != 2*time.Second {
		t.Errorf("next: %v, want 2s", d)
	}
	b.Reset()
	if d := b.Failed(now); d != time.Second {
		t.Errorf("after Reset: %v, want 1s", d)
	}

	custom := Backoff{Min: 100 * time.Millisecond, Max: 250 * time.Millisecond, Stable: time.Second}
	for i, w := range []time.Duration{100, 200, 250, 250} {
		if d := custom.Failed(now); d != w*time.Millisecond {
			t.Errorf("custom delay %d: %v, want %vms", i, d, w)
		}
	}
}
