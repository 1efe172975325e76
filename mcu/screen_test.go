package mcu_test

import (
	"errors"
	"fmt"
	"image"
	"slices"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/signaling/bot/peer"
)

// presenterOf returns the presenter of the last RosterRoom a party got.
func presenterOf(p *party) mcu.ParticipantID {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	for i := len(p.l.roster) - 1; i >= 0; i-- {
		if e := p.l.roster[i]; e.Type == mcu.RosterRoom {
			return e.Room.Presenter
		}
	}
	return ""
}

// colourAt is the palette name of the mean colour of the middle of r in the party's last picture.
func colourAt(p *party, r image.Rectangle) (string, error) {
	pic := p.client.Picture()
	if pic == nil {
		return "", fmt.Errorf("%s: no picture", p.name)
	}
	c := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
	d := max(r.Dx()/8, 4)
	return colourName(nearest(pic.Mean(image.Rect(c.X-d, c.Y-d/2, c.X+d, c.Y+d/2)))), nil
}

// TestScreenShare: A shares a (yellow) screen besides its (red) camera. B and C see it large, with the
// others' cameras in the strip and never their own; A sees the others' cameras, not its screen; everyone
// is told who presents. B pins C and sees C large. When A stops, B and C are back on their grid.
func TestScreenShare(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	m := newMCU(t, cfg)
	yellow := palette[3].YUV()
	a := joinConfig(t, m, "room", "A", 0, 430, mcutest.Config{Screen: &yellow})
	b := join(t, m, "room", "B", 1, 650)
	c := join(t, m, "room", "C", 2, 880)
	defer func() {
		for _, p := range []*party{a, b, c} {
			p.client.Close()
		}
	}()
	all := []*party{a, b, c}
	codectest.Require(t, 20*time.Second, func() error { return checkAll(all, nil, cfg.Width, cfg.Height, steadyMarginDB) })

	if err := a.p.ShareScreen(peer.ScreenStreamID); err != nil {
		t.Fatal(err)
	}
	// B and C: the screen (16:9) in the presentation's first rectangle, the other two cameras in the strip.
	rects := mixer.PresentationRects(2, cfg.Width, cfg.Height, 16, 9)
	codectest.Require(t, 20*time.Second, func() error {
		for _, p := range []*party{b, c} {
			var got []string
			for _, r := range rects {
				name, err := colourAt(p, r)
				if err != nil {
					return err
				}
				got = append(got, name)
			}
			others := []string{"red", "blue"}
			if p == c {
				others = []string{"red", "green"}
			}
			if got[0] != "yellow" || !slices.Contains(others, got[1]) || !slices.Contains(others, got[2]) || got[1] == got[2] {
				return fmt.Errorf("%s sees %v (screen, strip), want yellow and %v", p.name, got, others)
			}
		}
		// A, the presenter, sees B and C (green, blue) in its grid, and nowhere its screen.
		if tiles, err := partyTiles(a, 2, false); err != nil || !slices.Equal(tiles, []string{"green", "blue"}) {
			return fmt.Errorf("A sees %v (%v), want green and blue", tiles, err)
		}
		return nil
	})
	for _, p := range all {
		if got := presenterOf(p); got != a.p.ID() {
			t.Errorf("%s was told the presenter is %q, want A (%s)", p.name, got, a.p.ID())
		}
	}
	if d, _ := m.Room("room"); d.Presenter != a.p.ID() || d.PresenterName != "A" {
		t.Errorf("room detail: presenter %q %q, want A", d.Presenter, d.PresenterName)
	}

	// B pins C: C large for B, whatever the presentation; C keeps the presentation.
	if err := b.p.SetPin(c.p.ID()); err != nil {
		t.Fatal(err)
	}
	main := mixer.Speaker.Rects(3, cfg.Width, cfg.Height)[0]
	codectest.Require(t, 20*time.Second, func() error {
		if got, err := colourAt(b, main); err != nil || got != "blue" {
			return fmt.Errorf("B pinned C and sees %s (%v) large, want blue", got, err)
		}
		if got, err := colourAt(c, rects[0]); err != nil || got != "yellow" {
			return fmt.Errorf("C sees %s (%v) in the screen's place, want yellow", got, err)
		}
		return nil
	})
	if err := b.p.SetPin(""); err != nil {
		t.Fatal(err)
	}

	a.p.StopScreen()
	codectest.Require(t, 20*time.Second, func() error { return checkAll(all, nil, cfg.Width, cfg.Height, steadyMarginDB) })
	for _, p := range all {
		if got := presenterOf(p); got != "" {
			t.Errorf("%s was told the presenter is %q after the stop, want nobody", p.name, got)
		}
	}
	if err := b.p.ShareScreen(""); !errors.Is(err, mcu.ErrBadName) {
		t.Errorf("ShareScreen without a stream id: %v, want ErrBadName", err)
	}
}

// TestSendOnlyPublisher: a publisher that receives nothing (OBS over WHIP: sendonly sections, so the
// server's own video transceiver is not the one its camera arrives on) is shown as a camera; once it
// presents with ScreenAny (WHIP ?screen=1) its only video is the room's presentation.
func TestSendOnlyPublisher(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	m := newMCU(t, cfg)
	a := join(t, m, "room", "A", 0, 430)
	pub := joinConfig(t, m, "room", "OBS", 3, 650, mcutest.Config{SendOnly: true})
	defer a.client.Close()
	defer pub.client.Close()
	codectest.Require(t, 20*time.Second, func() error {
		if tiles, err := partyTiles(a, 1, false); err != nil || !slices.Equal(tiles, []string{"yellow"}) {
			return fmt.Errorf("A sees %v (%v), want the publisher's yellow camera", tiles, err)
		}
		return nil
	})
	if err := pub.p.ShareScreen(mcu.ScreenAny); err != nil {
		t.Fatal(err)
	}
	rects := mixer.PresentationRects(0, cfg.Width, cfg.Height, 16, 9)
	codectest.Require(t, 20*time.Second, func() error {
		if got, err := colourAt(a, rects[0]); err != nil || got != "yellow" {
			return fmt.Errorf("A sees %s (%v) where the presentation goes, want the publisher's yellow", got, err)
		}
		if got := presenterOf(a); got != pub.p.ID() {
			return fmt.Errorf("A was told the presenter is %q, want OBS", got)
		}
		return nil
	})
}

// TestPhoneSeesPresentation: a plain-RTP participant (a SIP phone's media) gets the presentation like
// everyone else: while A shares its yellow screen, the phone's decoded picture has it in the
// presentation's large rectangle and A's red camera in the strip.
func TestPhoneSeesPresentation(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := smallConfig()
	cfg.RTPAddress = "127.0.0.1"
	m := newMCU(t, cfg)
	yellow := palette[3].YUV()
	a := joinConfig(t, m, "room", "A", 0, 430, mcutest.Config{Screen: &yellow})
	defer a.client.Close()
	ep := newRTPEndpoint(t)
	media := mcu.RTPMedia{
		Audio: &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, Remote: ep.addr(ep.audio), Send: true, Receive: true},
		Video: &mcu.RTPVideo{PayloadType: 96, PacketizationMode: 1, Remote: ep.addr(ep.video), Send: true, Receive: true},
	}
	p, local, err := m.JoinRTP("room", "Phone", newListener(), media)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Leave()
	ep.start(t, local, 1230, palette[2].YUV())
	defer ep.close()
	if err := a.p.ShareScreen(peer.ScreenStreamID); err != nil {
		t.Fatal(err)
	}
	rects := mixer.PresentationRects(1, cfg.Width, cfg.Height, 16, 9)
	codectest.Require(t, 20*time.Second, func() error {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		if ep.picture == nil {
			return errors.New("the phone has no picture")
		}
		var got []string
		for _, r := range rects {
			c := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
			d := max(r.Dx()/8, 4)
			got = append(got, colourName(nearest(ep.picture.Mean(image.Rect(c.X-d, c.Y-d/2, c.X+d, c.Y+d/2)))))
		}
		if !slices.Equal(got, []string{"yellow", "red"}) {
			return fmt.Errorf("the phone sees %v (screen, strip), want yellow and A's red", got)
		}
		return nil
	})
}
