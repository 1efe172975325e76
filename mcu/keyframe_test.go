package mcu_test

import (
	"errors"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// TestKeyframeRequestsCoalesced checks that one receiver asking for keyframes 20 times a second cannot
// flood the receivers who share its encoder: its requests force at most one IDR per
// Config.KeyframeInterval (1 s here), and the others' pictures keep coming.
func TestKeyframeRequestsCoalesced(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height = 320, 180
	cfg.VisibleTiles = 1 // L and Q both look at S: one shared encoder
	cfg.KeyframeInterval = time.Second
	m := newMCU(t, cfg)
	s := join(t, m, "room", "S", 0, 430)
	l := joinConfig(t, m, "room", "L", 1, 0, mcutest.Config{NoVideo: true, NoAudio: true})
	q := joinConfig(t, m, "room", "Q", 2, 0, mcutest.Config{NoVideo: true, NoAudio: true})
	defer func() {
		for _, p := range []*party{s, l, q} {
			p.client.Close()
		}
	}()
	if err := codectest.Poll(20*time.Second, func() error {
		if err := l.client.RequestKeyframe(); err != nil {
			return err
		}
		return q.client.RequestKeyframe()
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the last request above is served
	before, lq, qPics := m.Stats().KeyframesForced, l.p.Quality(), q.client.PicturesReceived()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); <-tick.C {
		if err := l.client.RequestKeyframe(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	forced, lq2 := m.Stats().KeyframesForced-before, l.p.Quality()
	asked := lq2.KeyframeRequests - lq.KeyframeRequests
	t.Logf("L asked %d times in 3 s; IDRs forced: %d (L's: %d); Q received %d pictures", asked, forced,
		lq2.KeyframesForced-lq.KeyframesForced, q.client.PicturesReceived()-qPics)
	if asked < 50 {
		t.Errorf("the server counted %d of L's 60 keyframe requests", asked)
	}
	if forced < 2 || forced > 4 {
		t.Errorf("%d IDRs forced in 3 s of requests every 50 ms, want 2 to 4 (one per second)", forced)
	}
	if n := lq2.KeyframesForced - lq.KeyframesForced; n != forced {
		t.Errorf("L's keyframes forced: %d, want all %d", n, forced)
	}
	if n := q.client.PicturesReceived() - qPics; n < 10 {
		t.Errorf("Q received %d pictures in 3 s, want them to keep coming (about 90 when idle)", n)
	}
}

// TestTierSwitchNoFreeze checks that a receiver moved between tiers (by its caps, here) keeps decoding
// pictures: the new tier's encoder starts it on a keyframe, and no gap between two decoded pictures
// reaches a second.
func TestTierSwitchNoFreeze(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.Width, cfg.Height, cfg.VideoBitrate = 640, 360, 600_000
	cfg.LowerTiers = []mcu.Tier{{Name: "ld", Width: 320, Height: 180, FrameRate: 15, VideoBitrate: 150_000}}
	cfg.VisibleTiles = 1
	m := newMCU(t, cfg)
	s := join(t, m, "room", "S", 0, 430)
	r := joinConfig(t, m, "room", "R", 1, 0, mcutest.Config{NoVideo: true, NoAudio: true})
	defer s.client.Close()
	defer r.client.Close()
	if err := codectest.Poll(20*time.Second, func() error {
		if r.client.PicturesReceived() < 10 {
			return errors.New("R has no pictures yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Watch the pictures through hd -> ld -> hd -> ld -> hd, one switch a second.
	var longest time.Duration
	widths := map[int]bool{} // picture widths seen: both tiers must have been received
	last, lastAt := r.client.PicturesReceived(), time.Now()
	caps := []mcu.Caps{{MaxBitrate: 250_000}, {}, {MaxBitrate: 250_000}, {}}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for next := 0; time.Since(start) < 5*time.Second; <-tick.C {
		if next < len(caps) && time.Since(start) >= time.Duration(next+1)*time.Second {
			if err := r.p.SetCaps(caps[next]); err != nil {
				t.Fatal(err)
			}
			next++
		}
		if n := r.client.PicturesReceived(); n != last {
			last, lastAt = n, time.Now()
			widths[r.client.Picture().Width] = true
		}
		longest = max(longest, time.Since(lastAt))
	}
	t.Logf("longest time without a new picture over 4 tier switches: %v", longest.Round(time.Millisecond))
	if longest >= time.Second {
		t.Errorf("the picture froze for %v during tier switches", longest)
	}
	if !widths[640] || !widths[320] {
		t.Errorf("picture widths received %v: want both tiers, 640 and 320", widths)
	}
	if w := r.client.Picture().Width; w != 640 {
		t.Errorf("R's picture is %d wide after the last switch, want 640 (hd)", w)
	}
}
