package mcu_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// tierWatch polls receivers' tiers every 100 ms and records every change with its time.
type tierWatch struct {
	t     *testing.T
	start time.Time
	ps    map[string]*mcu.Participant
	last  map[string]string
}

func tierOf(p *mcu.Participant) string {
	if tier, ok := p.Tier(); ok {
		return tier.Name
	}
	return "audio-only"
}

// until polls until cond holds or timeout passes (which fails the test); with a nil cond it just watches
// for timeout. It fails the test if bad reports an error meanwhile.
func (w *tierWatch) until(timeout time.Duration, what string, cond func() bool, bad func() error) time.Duration {
	w.t.Helper()
	start := time.Now()
	for {
		now := time.Now()
		for name, p := range w.ps {
			if tier := tierOf(p); tier != w.last[name] {
				q := p.Quality()
				w.t.Logf("%6.1fs %s: %s -> %s (estimate %d kbit/s, sent %d kbit/s, loss %.0f%%)", now.Sub(w.start).Seconds(),
					name, w.last[name], tier, q.EstimatedBitrate/1000, q.SentBitrate/1000, 100*q.Loss)
				w.last[name] = tier
			}
		}
		if bad != nil {
			if err := bad(); err != nil {
				w.t.Fatalf("while waiting for %s: %v", what, err)
			}
		}
		if cond != nil && cond() {
			return now.Sub(start)
		}
		if now.Sub(start) > timeout {
			if cond == nil {
				return now.Sub(start)
			}
			w.t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAutomaticTiers is the must-show of automatic tier choice: a receiver T behind a UDP relay whose
// server-to-client direction the test throttles (a drop-tail bottleneck with a 200 ms queue). At 400
// kbit/s T settles on a lower tier whose bitrate fits, with video at 10 fps or more and continuous audio;
// at 60 kbit/s it drops to audio only and its audio then goes on without gaps; with the limit lifted it
// climbs back to the top tier. G, on a good link in the same room, stays on the top tier throughout. Both
// run pion's interceptors (NACK, reports, TWCC feedback), as a browser does.
//
// The transition itself is logged, not checked: when the link drops from 400 to 60 kbit/s, the
// bottleneck's queue is full of video before any feedback can tell the server, and audio packets are lost
// with it for 150-500 ms (a drop-tail FIFO does not favour audio). The climb back takes about 28 s: three
// steps up, each by the estimate (slow: GCC grows by about 8 % a second) or a trial after 10 s clean.
// maxAudioGap bounds the longest gap between audio packets through the throttled relay: 20 ms packets
// arrive 35-55 ms apart at worst on an idle machine; the bound leaves room for a starved CPU under the
// race detector, and still catches the 275 ms gaps that endless retransmissions once caused.
const maxAudioGap = 200 * time.Millisecond

func TestAutomaticTiers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height, cfg.VideoBitrate = 640, 360, 450_000
	cfg.LowerTiers = []mcu.Tier{
		{Name: "sd", Width: 320, Height: 180, FrameRate: 30, VideoBitrate: 180_000},
		{Name: "ld", Width: 160, Height: 90, FrameRate: 15, VideoBitrate: 70_000},
	}
	cfg.VisibleTiles = 1 // G and T both look at S
	m := newMCU(t, cfg)

	// S sends noisy video (so the encoders reach their bitrates) and a tone.
	clip, err := mcutest.NewClip(mcutest.ClipConfig{Colour: palette[0].YUV(), ToneHz: 440, Width: 320, Height: 180,
		VideoBitrate: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	s := joinConfig(t, m, "room", "S", 0, 440, mcutest.Config{Clip: clip, NoDecode: true})
	defer s.client.Close()
	g := joinConfig(t, m, "room", "G", 1, 0, mcutest.Config{NoVideo: true, NoAudio: true, NoDecode: true,
		Interceptors: true})
	defer g.client.Close()

	relay, err := mcutest.NewRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	relay.SetRate(400_000)
	tc, err := mcutest.New(mcutest.Config{NoVideo: true, NoAudio: true, NoDecode: true, Interceptors: true,
		IncludeLoopback: true, Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tp, err := m.Join("room", "T", newListener()) // no client: trickled candidates would bypass the relay
	if err != nil {
		t.Fatal(err)
	}
	offer, err := tc.Offer()
	if err != nil {
		t.Fatal(err)
	}
	if offer, err = relay.RewriteOffer(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := tp.HandleOffer(offer)
	if err != nil {
		t.Fatal(err)
	}
	if answer, err = relay.RewriteAnswer(answer); err != nil {
		t.Fatal(err)
	}
	if err := tc.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}

	w := &tierWatch{t: t, start: time.Now(), ps: map[string]*mcu.Participant{"T": tp, "G": g.p},
		last: map[string]string{"T": "hd", "G": "hd"}}
	gOnTop := func() error {
		if tier := tierOf(g.p); tier != "hd" {
			return fmt.Errorf("G, on a good link, is on %s (%+v)", tier, g.p.Quality())
		}
		return nil
	}
	logQuality := func(phase string, st mcutest.RelayStats, rs mcutest.ReceiveStats) {
		t.Logf("%s over %v: T on %s %+v; relay offered %d kbit/s, delivered %d kbit/s, dropped %d of %d packets, "+
			"audio %d packets, max audio gap %v; T received %.1f fps; G %+v", phase, st.Window.Round(time.Millisecond),
			tierOf(tp), tp.Quality(), st.OfferedBitrate()/1000, st.DeliveredBitrate()/1000, st.DroppedPackets,
			st.OfferedPackets, st.AudioPackets, st.MaxAudioGap.Round(time.Millisecond),
			float64(rs.VideoFrames)/st.Window.Seconds(), g.p.Quality())
	}
	onlyTier := func(name string) func() error {
		return func() error {
			if err := gOnTop(); err != nil {
				return err
			}
			if tier := tierOf(tp); tier != name {
				return fmt.Errorf("T left %s for %s (%+v)", name, tier, tp.Quality())
			}
			return nil
		}
	}

	lower := func() error { // sd or ld: a video tier that fits 400 kbit/s
		if err := gOnTop(); err != nil {
			return err
		}
		if tier := tierOf(tp); tier == "hd" || tier == "audio-only" {
			return fmt.Errorf("T at 400 kbit/s is on %s (%+v)", tier, tp.Quality())
		}
		return nil
	}

	// 400 kbit/s: T starts on hd (its estimate starts above hd's need), which does not fit, and steps
	// down to sd (or ld, if GCC's estimate overshot downwards).
	d := w.until(15*time.Second, "T below hd at 400 kbit/s", func() bool {
		return lower() == nil && tc.ReceiveStats().VideoFrames > 0
	}, gOnTop)
	t.Logf("400 kbit/s: T on %s %v after answering", tierOf(tp), d.Round(100*time.Millisecond))
	w.until(1500*time.Millisecond, "settling", nil, lower)
	relay.TakeStats()
	rs0 := tc.ReceiveStats()
	w.until(4*time.Second, "4 s below hd", nil, lower)
	st, rs := relay.TakeStats(), tc.ReceiveStats().Sub(rs0)
	logQuality("400 kbit/s", st, rs)
	if st.OfferedBitrate() > 400_000 {
		t.Errorf("at 400 kbit/s the server sent T %d kbit/s", st.OfferedBitrate()/1000)
	}
	fps := float64(rs.VideoFrames) / st.Window.Seconds()
	check(fps >= 10, "at 400 kbit/s T received %.1f fps, want at least 10", fps)
	check(st.MaxAudioGap <= maxAudioGap, "at 400 kbit/s T's audio had a gap of %v", st.MaxAudioGap)

	// 60 kbit/s: audio only, and the audio goes on.
	relay.SetRate(60_000)
	d = w.until(10*time.Second, "T audio only at 60 kbit/s", func() bool { return tierOf(tp) == "audio-only" }, gOnTop)
	st = relay.TakeStats()
	t.Logf("60 kbit/s: T audio only %v after the limit; the transition's longest audio gap %v", d.Round(100*time.Millisecond),
		st.MaxAudioGap.Round(time.Millisecond))
	// The video already queued at the bottleneck, and retransmissions of what it dropped, drain first.
	w.until(1500*time.Millisecond, "the queue to drain", nil, onlyTier("audio-only"))
	relay.TakeStats()
	rs0 = tc.ReceiveStats()
	w.until(3*time.Second, "3 s audio only", nil, onlyTier("audio-only"))
	st, rs = relay.TakeStats(), tc.ReceiveStats().Sub(rs0)
	logQuality("60 kbit/s", st, rs)
	check(st.MaxAudioGap <= maxAudioGap && st.AudioPackets >= 140, "audio only at 60 kbit/s: %d audio packets in %v, longest gap %v; want 50 a second, no gap over %v",
		st.AudioPackets, st.Window, st.MaxAudioGap, maxAudioGap)
	if rs.VideoFrames > 0 {
		t.Errorf("audio only at 60 kbit/s: T received %d video frames", rs.VideoFrames)
	}

	// Unlimited: back to the top.
	relay.SetRate(0)
	lastLog := time.Now()
	climbing := func() error { // G stays on top; T's link is logged every 5 s, to see a slow climb's cause
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			t.Logf("climbing: T on %s %+v", tierOf(tp), tp.Quality())
		}
		return gOnTop()
	}
	d = w.until(75*time.Second, "T back on hd", func() bool { return tierOf(tp) == "hd" }, climbing)
	t.Logf("unlimited: T back on hd %v after the limit was lifted", d.Round(100*time.Millisecond))
	relay.TakeStats()
	rs0 = tc.ReceiveStats()
	w.until(2*time.Second, "2 s on hd", nil, onlyTier("hd"))
	st, rs = relay.TakeStats(), tc.ReceiveStats().Sub(rs0)
	logQuality("unlimited", st, rs)
	if st.MaxAudioGap > maxAudioGap {
		t.Errorf("unlimited: T's audio had a gap of %v", st.MaxAudioGap)
	}
	if stats := m.Stats(); stats.TierChanges < 3 || stats.ReceiversByTier["hd"] != 3 {
		t.Errorf("stats: %d tier changes, receivers by tier %v; want at least 3 and all on hd", stats.TierChanges,
			stats.ReceiversByTier)
	}
	tp.Leave()
}
