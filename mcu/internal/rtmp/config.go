package rtmp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Defaults applied to zero fields of Config.
const (
	// DefaultConnectTimeout bounds Dial: TCP connect, TLS, RTMP handshake, connect and publish.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds each write of one message.
	DefaultWriteTimeout = 5 * time.Second
)

// Config describes one stream: where to publish it and what it carries. It is plain data, safe to copy.
type Config struct {
	// URL is the server's address with the application and the stream key:
	// rtmp://host[:port]/app/key or rtmps://host[:port]/app/key (ports 1935 and 443 by default). The last
	// path segment (with any query) is the stream key, the rest the application; a key may also be
	// given as the fragment (rtmp://host/app#key). A single segment is the application, with an empty
	// key (how mediamtx names paths).
	URL string
	// Video and Audio select the tracks. At least one is needed.
	Video, Audio bool
	// AudioConfig is the AAC AudioSpecificConfig (e.g. from aac.Encoder.AudioSpecificConfig).
	AudioConfig []byte
	// ConnectTimeout bounds Dial; zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// WriteTimeout bounds each message write; zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// Params holds what a Config cannot: run-time objects.
type Params struct {
	// TLSConfig is used for rtmps URLs; nil means the system's roots and the URL's host name.
	TLSConfig *tls.Config
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	if _, err := parseTarget(c.URL); err != nil {
		return err
	}
	if !c.Video && !c.Audio {
		return errors.New("rtmp: config has neither video nor audio")
	}
	if c.Audio {
		if _, err := parseAudioConfig(c.AudioConfig); err != nil {
			return err
		}
	}
	if c.ConnectTimeout < 0 || c.WriteTimeout < 0 {
		return fmt.Errorf("rtmp: negative timeout (connect %v, write %v)", c.ConnectTimeout, c.WriteTimeout)
	}
	return nil
}

func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout == 0 {
		return DefaultConnectTimeout
	}
	return c.ConnectTimeout
}

func (c Config) writeTimeout() time.Duration {
	if c.WriteTimeout == 0 {
		return DefaultWriteTimeout
	}
	return c.WriteTimeout
}

// target is a parsed stream URL.
type target struct {
	tls     bool
	address string // host:port
	host    string // for TLS server name checks
	app     string
	tcURL   string
	key     string
}

// String returns the URL without the stream key, which is a secret, for logs and errors.
func (t target) String() string { return t.tcURL }

// parseTarget splits a stream URL into what the connect and publish commands need.
func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("rtmp: stream URL: %w", redact(err))
	}
	var t target
	port := "1935"
	switch u.Scheme {
	case "rtmp":
	case "rtmps":
		t.tls, port = true, "443"
	default:
		return target{}, fmt.Errorf("rtmp: stream URL scheme %q, want rtmp or rtmps", u.Scheme)
	}
	if u.User != nil {
		return target{}, errors.New("rtmp: stream URL with credentials: not supported (put the key in the path)")
	}
	t.host = u.Hostname()
	if t.host == "" {
		return target{}, fmt.Errorf("rtmp: stream URL %s://%s has no host", u.Scheme, u.Host)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	t.address = net.JoinHostPort(t.host, port)
	path := strings.Trim(u.EscapedPath(), "/")
	if path == "" {
		return target{}, fmt.Errorf("rtmp: stream URL %s://%s has no application", u.Scheme, u.Host)
	}
	t.app, t.key = path, ""
	if u.Fragment != "" {
		t.key = u.Fragment
	} else if i := strings.LastIndexByte(path, '/'); i >= 0 {
		t.app, t.key = path[:i], path[i+1:]
	}
	if u.RawQuery != "" {
		if t.key == "" {
			return target{}, errors.New("rtmp: stream URL has a query but no stream key")
		}
		t.key += "?" + u.RawQuery
	}
	t.tcURL = u.Scheme + "://" + u.Host + "/" + t.app
	return t, nil
}

// redact drops the URL from a url.Error, since it may hold a stream key.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseAudioConfig parses and checks an AudioSpecificConfig.
func parseAudioConfig(b []byte) (*mpeg4audio.AudioSpecificConfig, error) {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("rtmp: audio config % x: %w", b, err)
	}
	if asc.Type != mpeg4audio.ObjectTypeAACLC || asc.ExtensionType != 0 || asc.SampleRate <= 0 || asc.ChannelConfig == 0 {
		return nil, fmt.Errorf("rtmp: audio config % x: type %d, %d Hz, channel configuration %d: want AAC-LC",
			b, asc.Type, asc.SampleRate, asc.ChannelConfig)
	}
	return &asc, nil
}
