package sip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	sipsig "github.com/openmcu/mcu/signaling/sip"
)

// The real-UA test: Debian's baresip (package baresip-core) calls into a room of the real MCU where two
// pion participants send 430 Hz and 650 Hz. baresip offers one codec only (PCMU, then G.722), sends a
// 1230 Hz sine (its ausine module) and dumps the audio it decodes to a WAV file (its sndfile module). The
// test finds 430 and 650 Hz, and not 1230 Hz (mix-minus), in what baresip received, and 1230 Hz in what
// the pion participants hear. Run it alone with
//
//	go test -run TestRealUA -v ./signaling/sip/
//
// It skips only when baresip is not installed.

// Tones of the test, in Hz.
const (
	toneA  = 430.0
	toneB  = 650.0
	toneUA = 1230.0
)

// A tone counts as heard when it stands presentDB above the spectrum's median and above audibleDB (dB
// full scale; the tones are sent about -12 dBFS); an absent one (the caller's own) stays absentDB below
// the heard ones (measured: -81 dBFS against -12; G.711's distortion products stay far under it).
const (
	presentDB = 20.0
	audibleDB = -30.0
	absentDB  = 45.0
)

func TestRealUA(t *testing.T) {
	baresip, err := exec.LookPath("baresip")
	if err != nil {
		t.Skip("baresip is not installed (Debian package baresip-core)")
	}
	for _, tc := range []struct {
		name, codec string
		rate        int  // the sample rate of baresip's decoded audio
		dialOut     bool // the MCU calls baresip (POST /sip/calls) instead
	}{
		{"PCMU", "PCMU", 8000, false},
		{"G722", "G722", 16000, false},
		{"dial-out", "PCMU", 8000, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testRealUA(t, baresip, tc.codec, tc.rate, tc.dialOut) })
	}
}

func testRealUA(t *testing.T, baresip, audioCodec string, rate int, dialOut bool) {
	m := newRealMCU(t)
	s, err := sipsig.New(func() sipsig.Config {
		c := sipsig.DefaultConfig()
		c.Host, c.Port = "127.0.0.1", 0
		return c
	}(), sipsig.Params{Conference: sipsig.MCUConference(m), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sip Close: %v", err)
		}
	})
	a := joinPion(t, m, "r", "A", toneA)
	b := joinPion(t, m, "r", "B", toneB)

	var ua *baresipUA
	callID := ""
	if dialOut {
		ua = startBaresip(t, baresip, audioCodec, "")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if callID, err = s.Dial(ctx, "sip:tester@"+ua.listen, "r"); err != nil {
			t.Fatalf("Dial baresip: %v\nbaresip:\n%s", err, ua.output())
		}
	} else {
		ua = startBaresip(t, baresip, audioCodec, "sip:r@127.0.0.1:"+strconv.Itoa(s.Port()))
	}
	defer ua.stop()

	// The room hears the UA: both pion participants find 1230 Hz (and each other's tone).
	for _, c := range []struct {
		name   string
		client *mcutest.Client
		other  float64
	}{{"A", a, toneB}, {"B", b, toneA}} {
		if err := codectest.Poll(20*time.Second, func() error {
			return tonesIn(c.client.Audio(time.Second), codec.SampleRate, []float64{toneUA, c.other}, nil)
		}); err != nil {
			t.Fatalf("%s does not hear the SIP user agent: %v\nbaresip:\n%s", c.name, err, ua.output())
		}
	}
	time.Sleep(time.Second) // a whole second of the call in what they heard
	for _, c := range []struct {
		name   string
		client *mcutest.Client
		other  float64
	}{{"A", a, toneB}, {"B", b, toneA}} {
		pcm := c.client.Audio(time.Second)
		if err := tonesIn(pcm, codec.SampleRate, []float64{toneUA, c.other}, nil); err != nil {
			t.Errorf("%s does not hear the SIP user agent steadily: %v", c.name, err)
		}
		sp := codectest.NewSpectrum(pcm, codec.SampleRate)
		t.Logf("%s hears 1230 Hz at %.1f dB and %.0f Hz at %.1f dB, median %.1f dB", c.name, sp.Level(toneUA),
			c.other, sp.Level(c.other), sp.Median())
	}
	calls := s.Calls()
	if len(calls) != 1 || calls[0].State != "active" || calls[0].Room != "r" || (callID != "" && calls[0].ID != callID) {
		t.Errorf("Calls() = %+v, want the SIP user agent in room r", calls)
	}

	// baresip's SIP trace (-s): the offer and the answer have the one codec (and telephone-event).
	pt := map[string]string{"PCMU": "0", "G722": "9"}[audioCodec]
	var mlines []string
	for l := range strings.SplitSeq(ua.output(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "m=audio ") {
			mlines = append(mlines, l)
		}
	}
	switch {
	case len(mlines) < 2:
		t.Errorf("no offer and answer in baresip's trace:\n%s", ua.output())
	case dialOut:
		// Ours offers everything; baresip (with G.711 only) answers PCMU.
		if !strings.HasSuffix(mlines[0], " RTP/AVP 111 9 0 8 101") || !strings.HasSuffix(mlines[1], " RTP/AVP 0 101") {
			t.Errorf("m=audio lines of the offer and the answer: %q", mlines)
		}
	default:
		if !strings.HasSuffix(mlines[0], " RTP/AVP "+pt+" 101") || !strings.HasSuffix(mlines[1], " RTP/AVP "+pt+" 101") {
			t.Errorf("m=audio lines of the offer and the answer: %q, want both %s and telephone-event", mlines, audioCodec)
		}
	}

	// RTP from another address to the MCU's port of the call (the answer's, or our offer's for dial-out)
	// does not reach the room: a 3000 Hz intruder stays unheard, and the caller still is.
	if audioCodec == "PCMU" && len(mlines) >= 2 {
		ours := mlines[1]
		if dialOut {
			ours = mlines[0]
		}
		f := strings.Fields(ours)
		if port, err := strconv.Atoi(f[1]); err == nil {
			before := m.Stats().RTPPacketsDropped
			stop := sendIntruder(t, port, 3000)
			// 50 packets (a second of the stranger's) dropped, however long a loaded machine takes to send them.
			if err := codectest.Poll(15*time.Second, func() error {
				if dropped := m.Stats().RTPPacketsDropped - before; dropped < 50 {
					return fmt.Errorf("the MCU dropped %d of the stranger's packets, want 50", dropped)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			for _, c := range []*mcutest.Client{a, b} {
				if err := tonesIn(c.Audio(time.Second), codec.SampleRate, []float64{toneUA}, []float64{3000}); err != nil {
					t.Errorf("with RTP from a stranger: %v", err)
				}
			}
			stop()
		}
	}

	// Let baresip record a few seconds of the mix, then hang up and read what it decoded.
	time.Sleep(3 * time.Second)
	if dialOut {
		if err := s.Hangup(callID); err != nil {
			t.Errorf("Hangup: %v", err)
		}
		codectest.Eventually(t, 5*time.Second, "baresip sees the BYE", func() bool { return strings.Contains(ua.output(), "terminated") })
	}
	ua.stop()
	pcm, gotRate, err := ua.received()
	if err != nil {
		t.Fatalf("baresip's recording: %v\nbaresip:\n%s", err, ua.output())
	}
	if gotRate != rate {
		t.Errorf("baresip decoded %d Hz audio, want %d Hz (%s)", gotRate, rate, audioCodec)
	}
	if len(pcm) > 3*gotRate {
		pcm = pcm[len(pcm)-3*gotRate : len(pcm)-gotRate/2] // the last seconds before the hangup
	}
	sp := codectest.NewSpectrum(pcm, gotRate)
	t.Logf("baresip received %.1f s of %d Hz audio: 430 Hz %.1f dB, 650 Hz %.1f dB, 1230 Hz %.1f dB, median %.1f dB",
		float64(len(pcm))/float64(gotRate), gotRate, sp.Level(toneA), sp.Level(toneB), sp.Level(toneUA), sp.Median())
	if os.Getenv("SIP_TEST_LOG") != "" {
		t.Logf("baresip:\n%s", ua.output())
	}
	if err := tonesIn(pcm, gotRate, []float64{toneA, toneB}, []float64{toneUA}); err != nil {
		t.Errorf("baresip did not receive the room's mix-minus: %v\nbaresip:\n%s", err, ua.output())
	}
	codectest.Eventually(t, 5*time.Second, "the call is over", func() bool { return len(s.Calls()) == 0 })
}

// sendIntruder sends a PCMU tone of hz to 127.0.0.1:port from a socket of its own every 20 ms, until
// the returned stop is called.
func sendIntruder(t *testing.T, port int, hz float64) (stop func()) {
	t.Helper()
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var phase float64
		payload := make([]byte, g711.FrameBytes)
		for i := 0; ; i++ {
			g711.MuLaw.Encode(payload, codectest.Tone(hz, 16000, g711.FrameBytes, g711.ClockRate, &phase))
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i),
				Timestamp: uint32(i * g711.FrameBytes), SSRC: 0x1bad}, Payload: payload}
			if b, err := pkt.Marshal(); err == nil {
				c.Write(b)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// newRealMCU starts a real MCU on the loopback interface with a small canvas.
func newRealMCU(t *testing.T) *mcu.MCU {
	t.Helper()
	cfg := mcu.DefaultConfig()
	cfg.Width, cfg.Height, cfg.FrameRate, cfg.VideoBitrate, cfg.LowerTiers = 320, 180, 15, 200_000, nil
	cfg.IncludeLoopback, cfg.Interfaces = true, []string{"lo"}
	cfg.RTPAddress = "127.0.0.1"
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("SIP_TEST_LOG") != "" {
		log = testLogger()
	}
	m, err := mcu.New(cfg, mcu.Params{Logger: log})
	if err != nil {
		t.Fatalf("mcu.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("mcu Close: %v", err)
		}
	})
	return m
}

// pionListener trickles the MCU's candidates to its pion client (set before Join, never changed).
type pionListener struct{ client *mcutest.Client }

func (l *pionListener) OnICECandidate(c mcu.ICECandidate) {
	l.client.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment})
}

func (l *pionListener) OnRoster(mcu.RosterEvent) {}
func (l *pionListener) OnClosed(error)           {}

// joinPion joins a pion participant sending a tone (no video) and waits until it is connected.
func joinPion(t *testing.T, m *mcu.MCU, room, name string, tone float64) *mcutest.Client {
	t.Helper()
	client, err := mcutest.New(mcutest.Config{ToneHz: tone, NoVideo: true, IncludeLoopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	l := &pionListener{client: client}
	p, err := m.Join(room, name, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Leave)
	if err := mcutest.Negotiate(client, p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := codectest.Poll(10*time.Second, func() error {
		if s := client.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
			return fmt.Errorf("%s is %s", name, s)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return client
}

// tonesIn checks that every frequency of want is heard in pcm (presentDB above the median of its spectrum
// and above audibleDB), and every one of absent stays at least absentDB below the quietest wanted one.
func tonesIn(pcm []int16, rate int, want, absent []float64) error {
	if len(pcm) < rate/2 {
		return fmt.Errorf("only %d samples", len(pcm))
	}
	s := codectest.NewSpectrum(pcm, rate)
	floor, quietest := s.Median(), 1e9
	var errs []error
	for _, f := range want {
		l := s.Level(f)
		quietest = min(quietest, l)
		if l < floor+presentDB || l < audibleDB {
			errs = append(errs, fmt.Errorf("%.0f Hz at %.1f dB, noise floor %.1f dB", f, l, floor))
		}
	}
	for _, f := range absent {
		if l := s.Level(f); l > quietest-absentDB {
			errs = append(errs, fmt.Errorf("%.0f Hz present at %.1f dB (wanted tones from %.1f dB)", f, l, quietest))
		}
	}
	return errors.Join(errs...)
}

// baresipUA is a running baresip process.
type baresipUA struct {
	cmd     *exec.Cmd
	dir     string
	listen  string // its SIP address, host:port
	out     *lockedBuffer
	done    chan struct{}
	stopped sync.Once
}

// startBaresip writes a configuration that offers only audioCodec, sends a 1230 Hz sine, dumps the
// decoded audio and answers calls at once; it calls target at once unless target is empty (which is also
// its contact, for the contact module's /message). extra are more configuration lines (modules).
func startBaresip(t *testing.T, bin, audioCodec, target string, extra ...string) *baresipUA {
	t.Helper()
	dir := t.TempDir()
	codecModule := map[string]string{"PCMU": "g711.so", "G722": "g722.so"}[audioCodec]
	listen := "127.0.0.1:" + strconv.Itoa(freeSIPPort(t))
	config := strings.Join([]string{
		"poll_method epoll",
		"sip_listen " + listen,
		"audio_player aubridge,nil",
		"audio_source ausine," + strconv.Itoa(int(toneUA)),
		"audio_alert aubridge,nil",
		"ausrc_srate 48000",
		"ausrc_channels 2",
		"audio_buffer 20-160",
		"rtp_ports 30000-39998",
		"rtcp_mux no",
		"jitter_buffer_delay 1-10",
		"snd_path " + dir,
		"module_path /usr/lib/baresip/modules",
		"module " + codecModule,
		"module ausine.so",
		"module aubridge.so",
		"module sndfile.so",
		"module_tmp uuid.so",
		"module_tmp account.so",
		"module_app menu.so",
		strings.Join(extra, "\n"),
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	account := `"SIP Tester" <sip:tester@127.0.0.1>;regint=0;answermode=auto;audio_codecs=` + map[string]string{"PCMU": "PCMU/8000/1", "G722": "G722/16000/1"}[audioCodec] + "\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
	if target != "" { // the contact module's current contact: /message goes there
		if err := os.WriteFile(filepath.Join(dir, "contacts"), []byte(`"Room" <`+target+">\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ua := &baresipUA{dir: dir, listen: listen, out: &lockedBuffer{}, done: make(chan struct{})}
	args := []string{"-s", "-f", dir, "-t", "60"}
	if target != "" {
		args = append(args, "-e", "/dial "+target)
	}
	ua.cmd = exec.Command(bin, args...)
	ua.cmd.Stdout, ua.cmd.Stderr = ua.out, ua.out
	ua.cmd.Stdin = nil
	if err := ua.cmd.Start(); err != nil {
		t.Fatalf("start baresip: %v", err)
	}
	go func() {
		ua.cmd.Wait()
		close(ua.done)
	}()
	t.Cleanup(ua.stop)
	return ua
}

// stop hangs up and ends baresip (SIGTERM: it sends BYE and closes its files), killing it if it lingers.
func (u *baresipUA) stop() {
	u.stopped.Do(func() {
		u.cmd.Process.Signal(os.Interrupt)
		select {
		case <-u.done:
		case <-time.After(5 * time.Second):
			u.cmd.Process.Kill()
			<-u.done
		}
	})
}

func (u *baresipUA) output() string { return u.out.String() }

// received reads the audio baresip decoded (sndfile's dump-*-dec.wav) as mono samples.
func (u *baresipUA) received() ([]int16, int, error) {
	files, _ := filepath.Glob(filepath.Join(u.dir, "dump-*-dec.wav"))
	if len(files) == 0 {
		entries, _ := os.ReadDir(u.dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return nil, 0, fmt.Errorf("no dump-*-dec.wav in %s (%v)", u.dir, names)
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		return nil, 0, err
	}
	return readWAV(b)
}

// readWAV decodes 16-bit PCM WAV to mono (the first channel). A data size the writer never filled in
// (zero or too large) means "to the end".
func readWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a WAV file")
	}
	var rate, channels, bits int
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, 0, errors.New("short fmt chunk")
			}
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
		case "data":
			if bits != 16 || channels < 1 {
				return nil, 0, fmt.Errorf("unsupported WAV: %d bits, %d channels", bits, channels)
			}
			if size == 0 || size > len(body) {
				size = len(body)
			}
			frame := 2 * channels
			pcm := make([]int16, 0, size/frame)
			for i := 0; i+frame <= size; i += frame {
				pcm = append(pcm, int16(binary.LittleEndian.Uint16(body[i:i+2])))
			}
			return pcm, rate, nil
		}
		p += 8 + size + size%2
	}
	return nil, 0, errors.New("no data chunk")
}

// freeSIPPort returns a port for a baresip to listen on: baresip binds UDP and TCP on it and TLS on the
// next port. It is taken below Linux's ephemeral range (32768-60999), where no outgoing connection of
// another test can take it between this check and baresip's bind, and all three are checked free.
func freeSIPPort(t *testing.T) int {
	t.Helper()
	free := func(network string, port int) bool {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if network == "udp" {
			c, err := net.ListenPacket("udp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
		}
		return err == nil
	}
	for range 200 {
		port := 20000 + 2*rand.IntN(5000)
		if free("udp", port) && free("tcp", port) && free("tcp", port+1) {
			return port
		}
	}
	t.Fatal("no free port pair for baresip")
	return 0
}

// lockedBuffer is a bytes.Buffer safe for a process's output and the test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
