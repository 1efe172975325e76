package rtmp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu/internal/mediatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// asc is the AudioSpecificConfig of codec/aac's encoder: AAC-LC, 48 kHz, mono.
var asc = []byte{0x11, 0x88}

// colours gives red, green, blue and grey, a new one every second; tone is 440 Hz.
func colours(t time.Duration) codec.YUV {
	c := codectest.Colors()
	palette := []codectest.NamedColor{c[0], c[1], c[2], c[4]}
	return palette[int(t/time.Second)%len(palette)].YUV()
}

func tone(i int64) int16 {
	return int16(8000 * math.Sin(2*math.Pi*440*float64(i)/codec.SampleRate))
}

// publish sends d of coloured video and a tone through p, as fast as they are encoded.
func publish(t *testing.T, p *Publisher, d time.Duration) {
	t.Helper()
	mediatest.Source{Color: colours, Sample: tone}.Run(t, d, func(e mediatest.Event) error {
		if e.Video {
			return p.WriteVideo(e.Time, e.Data, e.Key)
		}
		return p.WriteAudio(e.Time, e.Data)
	}, nil)
}

// checkFLV checks what the receiver wrote: H.264 and AAC streams of about d, every frame of the colour
// that was sent at its time, and the tone.
func checkFLV(t *testing.T, path string, d time.Duration) {
	t.Helper()
	p := mediatest.FFprobe(t, path)
	v, okV := p.Stream("video")
	a, okA := p.Stream("audio")
	if !okV || !okA || v.CodecName != "h264" || a.CodecName != "aac" {
		t.Fatalf("streams %+v, want h264 and aac", p.Streams)
	}
	if v.Width != 320 || v.Height != 180 || a.SampleRate != "48000" || a.Channels != 1 {
		t.Errorf("video %+v, audio %+v", v, a)
	}
	frames, problems := mediatest.VideoFrames(t, path)
	if problems != "" {
		t.Errorf("ffmpeg reported errors decoding the video:\n%s", problems)
	}
	want := int(d * 30 / time.Second)
	if len(frames) != want {
		t.Errorf("%d frames, want %d", len(frames), want)
	}
	for i, f := range frames {
		c := colours(time.Duration(i) * time.Second / 30)
		if i%30 != 0 && !codectest.Near(f.Mean, c, 12) {
			t.Errorf("frame %d at %v: mean %v, want %v", i, f.Time, f.Mean, c)
		}
	}
	pcm := mediatest.AudioPCM(t, path)
	if got := time.Duration(len(pcm)) * time.Second / codec.SampleRate; got < d-100*time.Millisecond || got > d+100*time.Millisecond {
		t.Errorf("decoded audio lasts %v, want about %v", got, d)
	}
	spec := codectest.NewSpectrum(pcm[codec.SampleRate/2:2*codec.SampleRate], codec.SampleRate)
	if peak := spec.Peak(); math.Abs(peak-440) > 2*spec.BinHz() {
		t.Errorf("tone decoded with its peak at %.1f Hz, want 440 Hz", peak)
	}
}

// TestPublish publishes 4 s of coloured video and a 440 Hz tone to ffmpeg's RTMP receiver and checks the
// FLV file it wrote by content.
func TestPublish(t *testing.T) {
	r := mediatest.StartRTMPReceiver(t)
	p, err := Dial(dialCtx(t), Config{URL: r.URL, Video: true, Audio: true, AudioConfig: asc}, Params{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	publish(t, p, 4*time.Second)
	st := p.Stats()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("Err after Close = %v, want ErrClosed", err)
	}
	if err := p.WriteAudio(5*time.Second, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteAudio after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	t.Logf("sent %d bytes; dropped %d video, %d audio access units", st.BytesSent, st.VideoDropped, st.AudioDropped)
	if st.VideoDropped != 0 || st.AudioDropped > 3 {
		t.Errorf("dropped %+v", st)
	}
	r.Wait(t)
	checkFLV(t, r.Out, 4*time.Second)
}

// TestPublishRTMPS publishes over TLS, through a TLS terminator (with a certificate made for the test)
// in front of ffmpeg's RTMP receiver, and checks the result by content.
func TestPublishRTMPS(t *testing.T) {
	r := mediatest.StartRTMPReceiver(t)
	cert, pool := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				proxy(in.(*tls.Conn), strings.TrimSuffix(strings.TrimPrefix(r.URL, "rtmp://"), "/app/key"))
			}()
		}
	}()
	url := "rtmps://localhost:" + portOf(l.Addr()) + "/app/key"
	p, err := Dial(dialCtx(t), Config{URL: url, Video: true, Audio: true, AudioConfig: asc}, Params{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	publish(t, p, 3*time.Second)
	p.Close()
	r.Wait(t)
	checkFLV(t, r.Out, 3*time.Second)

	// Without the test's root the certificate is refused.
	untrusting, err := Dial(dialCtx(t), Config{URL: url, Audio: true, AudioConfig: asc}, Params{})
	if err == nil {
		untrusting.Close()
		t.Fatal("Dial trusted a self-signed certificate")
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("Dial with an untrusted certificate: %v, want x509.UnknownAuthorityError", err)
	}
}

// proxy terminates TLS on in and passes the bytes both ways to the plain RTMP server at address.
func proxy(in *tls.Conn, address string) {
	defer in.Close()
	if err := in.Handshake(); err != nil {
		return
	}
	out, err := net.Dial("tcp", address)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(out, in)
		out.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(in, out)
	<-done
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

// selfSigned makes a certificate for localhost and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestReceiverKilled kills the receiver in the middle of the stream: the publisher's writes fail soon
// after (no hang), Done closes and Err says the connection was lost.
func TestReceiverKilled(t *testing.T) {
	r := mediatest.StartRTMPReceiver(t)
	p, err := Dial(dialCtx(t), Config{URL: r.URL, Video: true, Audio: true, AudioConfig: asc}, Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var failed error
	killed := false
	mediatest.Source{Color: colours, Sample: tone}.Run(t, 20*time.Second, func(e mediatest.Event) error {
		if failed != nil {
			return nil
		}
		if !killed && e.Time >= time.Second {
			killed = true
			r.Kill()
		}
		if e.Video {
			failed = p.WriteVideo(e.Time, e.Data, e.Key)
		} else {
			failed = p.WriteAudio(e.Time, e.Data)
		}
		return nil
	}, func(time.Duration) bool { return failed != nil })
	if failed == nil {
		t.Fatal("19 s of media written after the receiver was killed, and no error")
	}
	t.Logf("write after the kill: %v", failed)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed 10 s after a write failed")
	}
	if err := p.Err(); err == nil || errors.Is(err, ErrClosed) {
		t.Errorf("Err() = %v, want the connection's failure", err)
	}
}

// TestReceiverStalls stops the receiver (SIGSTOP) in the middle of the stream: it neither reads nor
// closes, so the socket buffers fill and a write can no longer progress; it must fail after
// WriteTimeout instead of blocking the caller.
func TestReceiverStalls(t *testing.T) {
	r := mediatest.StartRTMPReceiver(t)
	cfg := Config{URL: r.URL, Video: true, AudioConfig: asc, WriteTimeout: 500 * time.Millisecond}
	p, err := Dial(dialCtx(t), cfg, Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var key []byte
	var last time.Duration
	mediatest.Source{Color: colours}.Run(t, 500*time.Millisecond, func(e mediatest.Event) error {
		if key == nil {
			key = append([]byte(nil), e.Data...)
		}
		last = e.Time
		return p.WriteVideo(e.Time, e.Data, e.Key)
	}, nil)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	// A quarter-megabyte non-IDR slice of filler, sent until the buffers are full.
	big := append([]byte{0, 0, 0, 1, 0x41}, make([]byte, 256<<10)...)
	for i := 5; i < len(big); i++ {
		big[i] = 0xaa
	}
	watchdog := time.AfterFunc(30*time.Second, func() { p.Close() })
	defer watchdog.Stop()
	var failed error
	start := time.Now()
	for i := 1; i <= 400 && failed == nil; i++ { // 100 MB: far more than any socket buffer
		failed = p.WriteVideo(last+time.Duration(i)*time.Second/30, big, false)
	}
	if failed == nil || errors.Is(failed, ErrClosed) {
		t.Fatalf("writes to a stalled receiver: %v, want a timeout", failed)
	}
	t.Logf("write to the stalled receiver failed after %v: %v", time.Since(start).Round(time.Millisecond), failed)
	var ne net.Error
	if !errors.As(failed, &ne) || !ne.Timeout() {
		t.Errorf("error %v is not a timeout", failed)
	}
}
