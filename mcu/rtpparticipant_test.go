package mcu_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/mcu"
)

// rtpEndpoint is a plain-RTP endpoint for tests, like a SIP phone with a camera: it sends a PCMU tone and
// H.264 pictures of one colour, and decodes what it receives.
type rtpEndpoint struct {
	audio, video *net.UDPConn
	alaw         atomic.Bool  // send and expect PCMA (payload type 8) instead of PCMU (0)
	maxVideo     atomic.Int64 // the largest video datagram received since the last reset
	// Since the last reset: video packets that carry a fragment or an aggregate (FU-A, STAP-A: mode 1
	// only), and those that carry one whole NAL unit.
	fragments, singleNALs atomic.Int64
	audioSSRCs            sync.Map // SSRCs of the audio received
	done                  chan struct{}
	closeOnce             sync.Once
	wg                    sync.WaitGroup

	mu      sync.Mutex
	pcm     []int16 // received audio, 48 kHz
	picture *codec.VideoFrame
	frames  int
}

func newRTPEndpoint(t *testing.T) *rtpEndpoint {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	a, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	v, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	return &rtpEndpoint{audio: a, video: v, done: make(chan struct{})}
}

func (e *rtpEndpoint) addr(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// start sends tone Hz (PCMU, payload type 0) and colour (H.264 320x180, payload type 96) to local, and
// receives.
func (e *rtpEndpoint) start(t *testing.T, local mcu.RTPLocal, tone float64, colour codec.YUV) {
	t.Helper()
	enc, err := g711.NewEncoder(g711.MuLaw)
	if err != nil {
		t.Fatal(err)
	}
	aenc, err := g711.NewEncoder(g711.ALaw)
	if err != nil {
		t.Fatal(err)
	}
	venc, err := h264.NewEncoder(h264.Config{Width: 320, Height: 180, FrameRate: 25, Bitrate: 200_000})
	if err != nil {
		t.Fatal(err)
	}
	e.wg.Add(3)
	go func() { // sender
		defer e.wg.Done()
		defer enc.Close()
		defer aenc.Close()
		defer venc.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var phase float64
		payload := make([]byte, g711.FrameBytes)
		var seq, vseq uint16
		var ts, vts uint32
		pay := &codecs.H264Payloader{}
		frame := venc.Frame()
		for i := 0; ; i++ {
			select {
			case <-e.done:
				return
			case <-tick.C:
			}
			e2, pt := enc, uint8(0)
			if e.alaw.Load() {
				e2, pt = aenc, 8
			}
			n, _ := e2.Encode(codectest.Tone(tone, 8000, codec.FrameSamples, codec.SampleRate, &phase), payload)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 11},
				Payload: payload[:n]}
			b, _ := pkt.Marshal()
			_, _ = e.audio.WriteToUDPAddrPort(b, local.Audio)
			seq, ts = seq+1, ts+160
			if i%2 == 0 { // 25 fps
				frame.Fill(colour)
				au, _, err := venc.Encode(frame)
				if err != nil || len(au) == 0 {
					continue
				}
				ps := pay.Payload(1200, au)
				for j, p := range ps {
					pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: vseq, Timestamp: vts,
						SSRC: 22, Marker: j == len(ps)-1}, Payload: p}
					b, _ := pkt.Marshal()
					_, _ = e.video.WriteToUDPAddrPort(b, local.Video)
					vseq++
				}
				vts += 3600
			}
		}
	}()
	go func() { // audio receiver
		defer e.wg.Done()
		dec, _ := g711.NewDecoder(g711.MuLaw)
		defer dec.Close()
		adec, _ := g711.NewDecoder(g711.ALaw)
		defer adec.Close()
		buf := make([]byte, 1500)
		pcm := make([]int16, codec.FrameSamples)
		var pkt rtp.Packet
		for {
			n, err := e.audio.Read(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			e.audioSSRCs.Store(pkt.SSRC, true)
			d, pt := dec, uint8(0)
			if e.alaw.Load() {
				d, pt = adec, 8
			}
			if pkt.PayloadType != pt || d.Decode(pkt.Payload, pcm) != nil {
				continue
			}
			e.mu.Lock()
			e.pcm = append(e.pcm, pcm...)
			if len(e.pcm) > 2*codec.SampleRate {
				e.pcm = slices.Delete(e.pcm, 0, len(e.pcm)-2*codec.SampleRate)
			}
			e.mu.Unlock()
		}
	}()
	go func() { // video receiver
		defer e.wg.Done()
		dec, err := av.NewVideoDecoder(codec.H264)
		if err != nil {
			return
		}
		defer dec.Close()
		sb := samplebuilder.New(256, &codecs.H264Packet{}, 90000)
		for {
			buf := make([]byte, 1500)
			n, err := e.video.Read(buf)
			if err != nil {
				return
			}
			pkt := &rtp.Packet{}
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			if int64(n) > e.maxVideo.Load() {
				e.maxVideo.Store(int64(n))
			}
			if len(pkt.Payload) > 0 {
				if typ := pkt.Payload[0] & 0x1f; typ >= 24 {
					e.fragments.Add(1)
				} else if typ >= 1 {
					e.singleNALs.Add(1)
				}
			}
			sb.Push(pkt)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				pic, err := dec.Decode(s.Data)
				if err != nil || pic == nil {
					continue
				}
				e.mu.Lock()
				if e.picture == nil {
					e.picture = codec.NewVideoFrame(pic.Width, pic.Height)
				}
				if e.picture.Width == pic.Width && e.picture.Height == pic.Height {
					_ = e.picture.CopyFrom(pic)
				}
				e.frames++
				e.mu.Unlock()
			}
		}
	}()
}

// close stops the endpoint; it is idempotent.
func (e *rtpEndpoint) close() {
	e.closeOnce.Do(func() {
		close(e.done)
		e.audio.Close()
		e.video.Close()
	})
	e.wg.Wait()
}

// TestRTPParticipant checks a plain-RTP participant (a SIP call's media) in a room with two WebRTC
// participants: it hears their mix (and not itself), they hear its PCMU tone, its H.264 video is a tile in
// their grid, and it receives the composite in H.264 with their colours. Packets from a wrong address
// are dropped without disturbing it; a hold stops what it is sent; no RTP for the timeout removes it.
func TestRTPParticipant(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height = 640, 360
	cfg.RTPAddress = "127.0.0.1"
	cfg.RTPTimeout = 2 * time.Second
	m := newMCU(t, cfg)
	a := join(t, m, "room", "A", 0, 430)
	b := join(t, m, "room", "B", 1, 650)
	defer a.client.Close()
	defer b.client.Close()

	ep := newRTPEndpoint(t)
	l := newListener()
	media := mcu.RTPMedia{
		Audio: &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: ep.addr(ep.audio), Send: true, Receive: true},
		Video: &mcu.RTPVideo{PayloadType: 96, PacketizationMode: 1, Remote: ep.addr(ep.video), Send: true, Receive: true},
	}
	p, local, err := m.JoinRTP("room", "Phone", l, media)
	if err != nil {
		t.Fatal(err)
	}
	if !local.Audio.IsValid() || !local.Video.IsValid() || local.Audio.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("local addresses %+v", local)
	}
	blue := palette[2].YUV()
	ep.start(t, local, 1230, blue)
	defer ep.close()

	hear := func(pcm []int16, f float64) float64 { return codectest.LevelDB(pcm, codec.SampleRate, f) }
	if err := codectest.Poll(20*time.Second, func() error {
		var errs []error
		ep.mu.Lock()
		pcm := slices.Clone(ep.pcm[max(0, len(ep.pcm)-codec.SampleRate/2):])
		var pic *codec.VideoFrame
		if ep.picture != nil {
			pic = codec.NewVideoFrame(ep.picture.Width, ep.picture.Height)
			_ = pic.CopyFrom(ep.picture)
		}
		ep.mu.Unlock()
		if la, lb, own := hear(pcm, 430), hear(pcm, 650), hear(pcm, 1230); la < -30 || lb < -30 || own > la-30 {
			errs = append(errs, fmt.Errorf("the phone hears A at %.1f dB, B at %.1f dB, itself at %.1f dB", la, lb, own))
		}
		if pic == nil {
			errs = append(errs, errors.New("the phone has no picture"))
		} else if got := tileNames(pic, 2, false); !slices.Equal(got, []string{palette[0].Name, palette[1].Name}) {
			errs = append(errs, fmt.Errorf("the phone sees %v", got))
		}
		for _, q := range []*party{a, b} {
			if l := hear(q.client.Audio(500*time.Millisecond), 1230); l < -30 {
				errs = append(errs, fmt.Errorf("%s hears the phone at %.1f dB", q.name, l))
			}
			pic := q.client.Picture()
			if pic == nil {
				errs = append(errs, fmt.Errorf("%s has no picture", q.name))
				continue
			}
			other := b
			if q == b {
				other = a
			}
			if got := tileNames(pic, 2, false); !slices.Equal(got, []string{palette[other.colour].Name, palette[2].Name}) {
				errs = append(errs, fmt.Errorf("%s sees %v", q.name, got))
			}
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatal(err)
	}
	// Garbage and RTP from another address: dropped, the call goes on.
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	junk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 99}, Payload: make([]byte, 160)}
	jb, _ := junk.Marshal()
	for range 50 {
		_, _ = stranger.WriteToUDPAddrPort(jb, local.Audio)
		_, _ = stranger.WriteToUDPAddrPort([]byte("INVITE sip:garbage"), local.Audio)
		_, _ = stranger.WriteToUDPAddrPort([]byte{0x80}, local.Video)
	}
	time.Sleep(300 * time.Millisecond)
	if l := hear(a.client.Audio(300*time.Millisecond), 1230); l < -30 {
		t.Errorf("after the stranger's packets A hears the phone at %.1f dB", l)
	}
	if st := m.Stats(); st.RTPPacketsDropped < 150 || st.RTPPacketsReceived == 0 || st.RTPPacketsSent == 0 {
		t.Errorf("rtp packets: %d received, %d dropped, %d sent; want the stranger's 150 dropped", st.RTPPacketsReceived,
			st.RTPPacketsDropped, st.RTPPacketsSent)
	}
	// A re-INVITE to PCMA: both ways switch codec.
	pcma := media
	pa := *media.Audio
	pa.Codec, pa.PayloadType = mcu.PCMA, 8
	pcma.Audio = &pa
	if _, err := p.UpdateRTP(pcma); err != nil {
		t.Fatal(err)
	}
	ep.alaw.Store(true)
	time.Sleep(time.Second) // what A heard before the switch is out of its last 500 ms
	ep.mu.Lock()
	ep.pcm = nil
	ep.mu.Unlock()
	if err := codectest.Poll(10*time.Second, func() error {
		ep.mu.Lock()
		pcm := slices.Clone(ep.pcm[max(0, len(ep.pcm)-codec.SampleRate/2):])
		ep.mu.Unlock()
		if len(pcm) < codec.SampleRate/2 {
			return fmt.Errorf("the phone received %d samples of PCMA", len(pcm))
		}
		if la := hear(pcm, 430); la < -30 {
			return fmt.Errorf("in PCMA the phone hears A at %.1f dB", la)
		}
		if l := hear(a.client.Audio(500*time.Millisecond), 1230); l < -30 {
			return fmt.Errorf("in PCMA A hears the phone at %.1f dB", l)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ssrcs := 0
	ep.audioSSRCs.Range(func(any, any) bool { ssrcs++; return true })
	if ssrcs != 1 {
		t.Errorf("the phone received audio from %d SSRCs across the codec change, want 1", ssrcs)
	}
	// A re-INVITE to packetization-mode 0: every NAL unit comes in a packet of its own, none too large,
	// and the pictures still decode.
	mode0 := pcma
	m0 := *media.Video
	m0.PacketizationMode = 0
	mode0.Video = &m0
	if _, err := p.UpdateRTP(mode0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the mode-1 frames in flight
	ep.mu.Lock()
	framesBefore := ep.frames
	ep.mu.Unlock()
	ep.maxVideo.Store(0)
	ep.fragments.Store(0)
	ep.singleNALs.Store(0)
	time.Sleep(1500 * time.Millisecond)
	ep.mu.Lock()
	framesAfter := ep.frames
	ep.mu.Unlock()
	if n := ep.maxVideo.Load(); n == 0 || n > 1200+12 {
		t.Errorf("packetization-mode 0: largest video packet %d bytes, want 1..1212", n)
	}
	// The size bound alone would pass mode 1's FU-A fragments too: every packet must be one NAL unit.
	if f, s := ep.fragments.Load(), ep.singleNALs.Load(); f != 0 || s < 10 {
		t.Errorf("packetization-mode 0: %d FU-A/STAP-A packets and %d single NAL units in 1.5 s, want 0 and many", f, s)
	}
	if framesAfter-framesBefore < 10 {
		t.Errorf("packetization-mode 0: %d pictures decoded in 1.5 s", framesAfter-framesBefore)
	}
	// Hold: the phone is sent nothing.
	held := mode0
	ha, hv := *mode0.Audio, *mode0.Video
	ha.Send, hv.Send = false, false
	held.Audio, held.Video = &ha, &hv
	if _, err := p.UpdateRTP(held); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	ep.mu.Lock()
	before := ep.frames
	ep.mu.Unlock()
	time.Sleep(time.Second)
	ep.mu.Lock()
	after := ep.frames
	ep.mu.Unlock()
	if after != before {
		t.Errorf("on hold the phone received %d pictures", after-before)
	}
	// Silence on the wire: removed after the RTP timeout.
	ep.close()
	select {
	case err := <-l.closed:
		if !errors.Is(err, mcu.ErrRTPTimeout) {
			t.Errorf("closed with %v, want ErrRTPTimeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the silent phone was not removed")
	}
}

// udpPair binds an even UDP port and the next one on ip (an RTP/RTCP pair), closed when the test ends.
func udpPair(t *testing.T, ip net.IP) (rtpConn, rtcpConn *net.UDPConn) {
	t.Helper()
	for range 100 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 1 {
			c.Close()
			continue
		}
		d, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			c.Close()
			continue
		}
		t.Cleanup(func() { c.Close(); d.Close() })
		return c, d
	}
	t.Fatal("no free UDP port pair")
	return nil, nil
}

// countDatagrams counts what arrives on each of conns until deadline; it returns the counts.
func countDatagrams(deadline time.Time, conns ...*net.UDPConn) []int {
	counts := make([]int, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(deadline)
			buf := make([]byte, 1<<16)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				counts[i]++
			}
		}()
	}
	wg.Wait()
	return counts
}

// TestRTPStrictSources checks that a plain-RTP participant cannot turn the MCU against a third party: a
// recvonly participant whose SDP names someone else's ports gets nothing sent there (no RTP, no RTCP),
// packets from an address that is neither the SDP's nor the signalling's (127.0.0.2) are dropped and
// latch nothing, and it is removed after the RTP timeout although it expects to send nothing. A phone
// behind NAT (SDP address unreachable, packets from the signalling IP) that only sends RTCP is sent the
// room's audio at the port before its RTCP's, is kept while its RTCP flows, and removed once it stops.
func TestRTPStrictSources(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2 on the loopback: %v", err)
	}
	defer stranger.Close()
	cfg := loopbackConfig()
	cfg.Width, cfg.Height, cfg.FrameRate, cfg.LowerTiers = 320, 180, 15, nil
	cfg.RTPAddress = "127.0.0.1"
	const timeout = 3 * time.Second
	cfg.RTPTimeout = timeout
	m := newMCU(t, cfg)
	a := join(t, m, "room", "A", 0, 430) // the room has sound and pictures to send
	defer a.client.Close()
	lo := net.IPv4(127, 0, 0, 1)
	signaling := netip.MustParseAddr("127.0.0.1")

	// The victim: the SDP of a recvonly participant names its ports.
	victimAudio, victimAudioRTCP := udpPair(t, lo)
	victimVideo, victimVideoRTCP := udpPair(t, lo)
	addr := func(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
	lv := newListener()
	joined := time.Now()
	_, localV, err := m.JoinRTP("room", "Recvonly", lv, mcu.RTPMedia{
		Audio:         &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: addr(victimAudio), Send: true},
		Video:         &mcu.RTPVideo{PayloadType: 96, PacketizationMode: 1, Remote: addr(victimVideo), Send: true},
		SignalingAddr: signaling,
	})
	if err != nil {
		t.Fatal(err)
	}

	// The NATed phone: its SDP names an address that cannot be reached; it sends RTCP only, from the
	// signalling IP.
	phoneRTP, phoneRTCP := udpPair(t, lo)
	lp := newListener()
	_, localP, err := m.JoinRTP("room", "Phone", lp, mcu.RTPMedia{
		Audio:         &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: netip.MustParseAddrPort("192.0.2.10:4000"), Send: true},
		SignalingAddr: signaling,
	})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 77}})
	if err != nil {
		t.Fatal(err)
	}
	rtcpPort := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr(), a.Port()+1) }
	stopRTCP := make(chan struct{})
	rtcpDone := make(chan struct{})
	go func() {
		defer close(rtcpDone)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = phoneRTCP.WriteToUDPAddrPort(rr, rtcpPort(localP.Audio))
			select {
			case <-stopRTCP:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() {
		select {
		case <-stopRTCP:
		default:
			close(stopRTCP)
		}
		<-rtcpDone
	}()

	// The stranger at 127.0.0.2 sends RTP and RTCP to the recvonly participant's ports: dropped.
	dropped := m.Stats().RTPPacketsDropped
	junk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 99}, Payload: make([]byte, 160)}
	jb, _ := junk.Marshal()
	for range 20 {
		_, _ = stranger.WriteToUDPAddrPort(jb, localV.Audio)
		_, _ = stranger.WriteToUDPAddrPort(rr, rtcpPort(localV.Audio))
		_, _ = stranger.WriteToUDPAddrPort(jb, localV.Video)
	}

	// For 2 s: the victim and the stranger get nothing; the phone gets the room's audio.
	var phoneGot int
	counts := make(chan []int, 1)
	go func() {
		counts <- countDatagrams(time.Now().Add(2*time.Second), victimAudio, victimAudioRTCP, victimVideo, victimVideoRTCP,
			stranger)
	}()
	phoneGot = countDatagrams(time.Now().Add(2*time.Second), phoneRTP)[0]
	got := <-counts
	for i, name := range []string{"audio RTP", "audio RTCP", "video RTP", "video RTCP", "stranger"} {
		if got[i] != 0 {
			t.Errorf("the %s port got %d datagrams", name, got[i])
		}
	}
	if phoneGot < 20 {
		t.Errorf("the phone behind NAT got %d RTP packets in 2 s, want the room's audio", phoneGot)
	}
	if d := m.Stats().RTPPacketsDropped - dropped; d < 40 {
		t.Errorf("%d RTP packets dropped, want the stranger's 40", d)
	}

	// The recvonly participant sent nothing: removed after the timeout.
	select {
	case err := <-lv.closed:
		if !errors.Is(err, mcu.ErrRTPTimeout) {
			t.Errorf("recvonly participant closed with %v, want ErrRTPTimeout", err)
		}
		if d := time.Since(joined); d < timeout-100*time.Millisecond {
			t.Errorf("recvonly participant removed after %v, before the timeout %v", d, timeout)
		}
	case <-time.After(2 * timeout):
		t.Fatal("the silent recvonly participant was not removed")
	}
	// The phone's RTCP kept it; without it, it goes too.
	select {
	case err := <-lp.closed:
		t.Fatalf("the phone sending RTCP was removed: %v", err)
	case <-time.After(timeout - time.Since(joined) + 500*time.Millisecond):
	}
	close(stopRTCP)
	stopped := time.Now()
	select {
	case err := <-lp.closed:
		if !errors.Is(err, mcu.ErrRTPTimeout) {
			t.Errorf("phone closed with %v, want ErrRTPTimeout", err)
		}
		if d := time.Since(stopped); d < timeout-500*time.Millisecond {
			t.Errorf("phone removed %v after its last RTCP, before the timeout %v", d, timeout)
		}
	case <-time.After(2 * timeout):
		t.Fatal("the phone that stopped its RTCP was not removed")
	}
}

// TestAudioOnlyPhonesComposeNothing: a room of phones without video (audio-only SIP calls) has no
// compositor receiver, so no picture is composed or encoded for it: audio-only calls cost what their
// audio costs (composing 1280x720 placeholders for them was 90 % of such a room's CPU).
func TestAudioOnlyPhonesComposeNothing(t *testing.T) {
	cfg := loopbackConfig()
	cfg.RTPAddress = "127.0.0.1"
	m := newMCU(t, cfg)
	for i := range 3 {
		c, _ := udpPair(t, net.IPv4(127, 0, 0, 1))
		_, _, err := m.JoinRTP("room", fmt.Sprintf("phone%d", i), newListener(), mcu.RTPMedia{
			Audio:         &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: c.LocalAddr().(*net.UDPAddr).AddrPort(), Send: true, Receive: true},
			SignalingAddr: netip.MustParseAddr("127.0.0.1"),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	s := m.Stats()
	t.Logf("%+v", s)
	if s.VideoFramesComposed != 0 || s.VideoFramesOut != 0 || s.VideoEncoders != 0 {
		t.Errorf("audio-only phones: %d pictures composed, %d encoded, %d video encoders; want none",
			s.VideoFramesComposed, s.VideoFramesOut, s.VideoEncoders)
	}
}

// TestRTPRenegotiationRacingLeave: a re-INVITE that adds a video stream while the participant leaves
// either fails with ErrClosed or adds a stream that the leave closes: no socket stays open, and nothing
// races (under -race).
func TestRTPRenegotiationRacingLeave(t *testing.T) {
	cfg := smallConfig()
	cfg.RTPAddress = "127.0.0.1"
	m := newMCU(t, cfg)
	lo := net.IPv4(127, 0, 0, 1)
	for i := range 20 {
		c, _ := udpPair(t, lo)
		remote := c.LocalAddr().(*net.UDPAddr).AddrPort()
		audio := &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: remote, Send: true, Receive: true}
		p, _, err := m.JoinRTP("room", fmt.Sprintf("phone%d", i), newListener(), mcu.RTPMedia{Audio: audio,
			SignalingAddr: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		var local mcu.RTPLocal
		var updErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			local, updErr = p.UpdateRTP(mcu.RTPMedia{Audio: audio, Video: &mcu.RTPVideo{PayloadType: 96, PacketizationMode: 1,
				Remote: remote, Send: true}, SignalingAddr: netip.MustParseAddr("127.0.0.1")})
		}()
		go func() {
			defer wg.Done()
			p.Leave()
		}()
		wg.Wait()
		if updErr != nil {
			if !errors.Is(updErr, mcu.ErrClosed) {
				t.Fatalf("UpdateRTP racing Leave: %v, want nil or ErrClosed", updErr)
			}
			continue
		}
		// The stream was added before the leave: the leave closed it, so its port is free again.
		if !local.Video.IsValid() {
			t.Fatalf("UpdateRTP added no video stream: %+v", local)
		}
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local.Video))
		if err != nil {
			t.Fatalf("the added video stream's socket %v is still open after the leave: %v", local.Video, err)
		}
		conn.Close()
	}
}
