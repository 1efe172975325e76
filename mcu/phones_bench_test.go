package mcu_test

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/g711"
	"github.com/openmcu/mcu/mcu"
)

// BenchmarkAudioOnlyCalls measures what audio-only phones cost: 20 plain-RTP participants (PCMU, as SIP
// calls negotiate them) each stream a tone into one room over loopback UDP and read what the room sends
// them. It reports the process's CPU (user and system, from getrusage) per call in % of a core over the
// benchmark's time after a 2 s warm-up, the phones' own senders and readers included (they write and read
// a datagram every 20 ms, their voice encoded beforehand: a small part). Run it with a -benchtime of a few
// seconds: `go test -run '^$' -bench AudioOnlyCalls -benchtime 10x ./mcu/` (each iteration is 1 s).
func BenchmarkAudioOnlyCalls(b *testing.B) {
	const calls = 20
	cfg := mcu.DefaultConfig()
	cfg.RTPAddress = "127.0.0.1"
	cfg.MaxParticipants, cfg.MaxTotalParticipants = 2*calls, 2*calls
	m, err := mcu.New(cfg, mcu.Params{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(done)
		wg.Wait()
	}()
	for i := range calls {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		_, local, err := m.JoinRTP("room", fmt.Sprintf("phone%d", i), newListener(), mcu.RTPMedia{
			Audio: &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
				Send: true, Receive: true},
			SignalingAddr: netip.MustParseAddr("127.0.0.1"),
		})
		if err != nil {
			b.Fatal(err)
		}
		voice := toneFrames(b, 300+97*float64(i)) // encoded once: the phones cost little
		wg.Add(2)
		go func() { // what the room sends the phone
			defer wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
		go func() { // the phone's voice: a tone of its own
			defer wg.Done()
			defer conn.Close() // ends the reader
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: uint32(100 + i)}}
			buf := make([]byte, 0, 1500)
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				pkt.Payload = voice[k%len(voice)]
				out, _ := pkt.MarshalTo(buf[:cap(buf)])
				_, _ = conn.WriteToUDPAddrPort(buf[:out], local.Audio)
				pkt.SequenceNumber++
				pkt.Timestamp += 160
			}
		}()
	}
	time.Sleep(2 * time.Second)
	sent := m.Stats().RTPPacketsSent
	c0, w0 := cpuTime(), time.Now()
	for b.Loop() {
		time.Sleep(time.Second)
	}
	cores := (cpuTime() - c0).Seconds() / time.Since(w0).Seconds()
	if m.Stats().RTPPacketsSent == sent {
		b.Fatal("the room sent the phones nothing")
	}
	b.ReportMetric(100*cores/calls, "%core/call")
}

// toneFrames is one second of a tone of hz in PCMU frames of 20 ms (a whole number of periods for the
// tones used here is not needed: a click a second costs the server nothing more).
func toneFrames(b *testing.B, hz float64) [][]byte {
	enc, err := g711.NewEncoder(g711.MuLaw)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	var phase float64
	frames := make([][]byte, 50)
	for k := range frames {
		frames[k] = make([]byte, g711.FrameBytes)
		n, err := enc.Encode(codectest.Tone(hz, 8000, codec.FrameSamples, codec.SampleRate, &phase), frames[k])
		if err != nil {
			b.Fatal(err)
		}
		frames[k] = frames[k][:n]
	}
	return frames
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
