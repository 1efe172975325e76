package sip_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	sipsig "github.com/openmcu/mcu/signaling/sip"
)

// g722Answer is a phone's answer to the MCU's offer: G.722 audio, video refused.
var g722Answer = offerSDP("m=audio 5000 RTP/AVP 9 101", "a=rtpmap:9 G722/8000", "a=rtpmap:101 telephone-event/8000",
	"a=sendrecv", "m=video 0 RTP/AVP 96")

// answering makes the phone answer calls with answer after a 180; each answered call's INVITE goes to
// the returned channel.
func (p *phone) answering(answer string) <-chan *sip.Request {
	invites := make(chan *sip.Request, 4)
	p.setOnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		invites <- req
		dlg, err := p.dialogs.ReadInvite(req, tx)
		if err != nil {
			p.t.Errorf("ReadInvite: %v", err)
			return
		}
		defer dlg.Close()
		dlg.Respond(sip.StatusRinging, "Ringing", nil)
		if err := dlg.RespondSDP([]byte(answer)); err != nil {
			p.t.Errorf("RespondSDP: %v", err)
		}
	})
	return invites
}

func (p *phone) dialURI() string {
	u := "sip:bob@127.0.0.1:" + strconv.Itoa(p.port)
	if p.transport == "tcp" {
		u += ";transport=tcp"
	}
	return u
}

func TestDialOut(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			h := newHarness(t, nil)
			p := h.phone(t, transport)
			invites := p.answering(g722Answer)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			id, err := h.srv.Dial(ctx, p.dialURI(), "r")
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			var inv *sip.Request
			select {
			case inv = <-invites:
			case <-ctx.Done():
				t.Fatal("the phone got no INVITE")
			}
			offer := string(inv.Body())
			for _, want := range []string{"m=audio 40000 RTP/AVP 111 9 0 8 101", "m=video 40002 RTP/AVP 96 97", "c=IN IP4 127.0.0.1"} {
				if !hasLine(offer, want) {
					t.Errorf("offer lacks %q:\n%s", want, offer)
				}
			}
			if from := inv.From(); from == nil || from.Address.User != "r" {
				t.Errorf("INVITE From = %v, want the room", from)
			}
			call := recvBounded(t, h.conf.Joined(), "a participant to join")
			media := call.Media()
			if call.Room != "r" || call.Name != "bob" || len(media) != 2 {
				t.Fatalf("joined %q as %q with %d media, want r, bob, join and update", call.Room, call.Name, len(media))
			}
			if a := media[0].Audio; a == nil || a.Send || a.Receive {
				t.Errorf("joined with audio %+v before the answer, want inactive", a)
			}
			if a, v := media[1].Audio, media[1].Video; a == nil || a.Codec != mcu.G722 || a.DTMFPayloadType != 101 ||
				a.Remote.String() != "127.0.0.1:5000" || !a.Send || !a.Receive || v != nil {
				t.Errorf("updated with %+v / %+v, want G722 to 127.0.0.1:5000 sendrecv and no video", a, v)
			}
			calls := h.srv.Calls()
			if len(calls) != 1 || calls[0].ID != id || calls[0].Direction != "outbound" || calls[0].State != "active" {
				t.Errorf("Calls() = %+v, want the active outbound call %s", calls, id)
			}
			if err := h.srv.Hangup(id); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			p.expectBye("after Hangup")
			if !call.Left() {
				t.Error("the participant did not leave")
			}
			if err := h.srv.Hangup(id); !errors.Is(err, sipsig.ErrNoSuchCall) {
				t.Errorf("second Hangup: %v, want ErrNoSuchCall", err)
			}
		})
	}
}

func TestDialOutRemoteBye(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	var dlg *sipgo.DialogServerSession
	got := make(chan *sipgo.DialogServerSession, 1)
	p.setOnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		d, err := p.dialogs.ReadInvite(req, tx)
		if err != nil {
			t.Errorf("ReadInvite: %v", err)
			return
		}
		if err := d.RespondSDP([]byte(g722Answer)); err != nil {
			t.Errorf("RespondSDP: %v", err)
			return
		}
		got <- d
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.srv.Dial(ctx, p.dialURI(), "r"); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	dlg = <-got
	defer dlg.Close()
	call := recvBounded(t, h.conf.Joined(), "a participant to join")
	if err := dlg.Bye(ctx); err != nil {
		t.Fatalf("callee's BYE: %v", err)
	}
	codectest.Eventually(t, 5*time.Second, "the participant left", call.Left)
	codectest.Eventually(t, 5*time.Second, "the call is gone", func() bool { return len(h.srv.Calls()) == 0 })
}

func TestDialOutFailures(t *testing.T) {
	h := newHarness(t, func(c *sipsig.Config) { c.RingTimeout = 300 * time.Millisecond })
	p := h.phone(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Refused: no answering handler means 486.
	_, err := h.srv.Dial(ctx, p.dialURI(), "r")
	var se *sipsig.StatusError
	if !errors.As(err, &se) || se.Code != sip.StatusBusyHere {
		t.Errorf("Dial to a busy phone: %v, want StatusError 486", err)
	}

	// Ringing until the ring timeout: the MCU cancels.
	cancelled := make(chan struct{}, 4)
	p.setOnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		// sipgo answers the CANCEL with 200 and the INVITE with 487.
		tx.OnCancel(func(*sip.Request) { cancelled <- struct{}{} })
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRinging, "Ringing", nil))
		<-tx.Done()
	})
	if _, err := h.srv.Dial(ctx, p.dialURI(), "r"); !errors.Is(err, sipsig.ErrNoAnswer) {
		t.Errorf("Dial without answer: %v, want ErrNoAnswer", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the phone saw no CANCEL")
	}

	// Hung up while ringing.
	h2 := newHarness(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := h2.srv.Dial(ctx, p.dialURI(), "r")
		done <- err
	}()
	codectest.Eventually(t, 5*time.Second, "the dial-out rings", func() bool { return len(h2.srv.Calls()) == 1 })
	time.Sleep(50 * time.Millisecond) // the 180 arrives
	if err := h2.srv.Hangup(h2.srv.Calls()[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := recvBounded(t, done, "Dial to return"); !errors.Is(err, sipsig.ErrCallEnded) {
		t.Errorf("Dial hung up while ringing: %v, want ErrCallEnded", err)
	}
	recvBounded(t, cancelled, "the phone to see a CANCEL")

	for _, uri := range []string{"tel:+123", "sip:", "bob@example.org", "sip:bob@127.0.0.1;transport=sctp"} {
		if _, err := h.srv.Dial(ctx, uri, "r"); !errors.Is(err, sipsig.ErrBadURI) {
			t.Errorf("Dial(%q): %v, want ErrBadURI", uri, err)
		}
	}
	calls := append(h.conf.Calls(), h2.conf.Calls()...)
	if len(calls) != 3 { // a dial-out joins the room while it rings: busy, no answer, hung up
		t.Errorf("%d participants joined for the 3 failed dial-outs, want 3", len(calls))
	}
	for _, c := range calls {
		if !c.Left() {
			t.Errorf("participant %s of a failed dial-out is still in the room", c.ID())
		}
	}
	codectest.Eventually(t, 5*time.Second, "no calls left", func() bool { return len(h.srv.Calls())+len(h2.srv.Calls()) == 0 })
}

func TestHTTPDialOut(t *testing.T) {
	h := newHarness(t, nil)
	p := h.phone(t, "udp")
	ts := httptest.NewServer(h.srv.Handler())
	defer ts.Close()
	do := func(method, path, body string) (int, map[string]any, string) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return res.StatusCode, m, string(raw)
	}

	if code, _, raw := do("POST", "/sip/calls", `{"uri": "`+p.dialURI()+`", "room": "r"}`); code != http.StatusBadGateway ||
		!strings.Contains(raw, `"sip_status":486`) {
		t.Errorf("POST to a busy phone: %d %s, want 502 with sip_status 486", code, raw)
	}
	for _, body := range []string{`{"uri": "tel:1", "room": "r"}`, `{"room": "r"}`, `not json`, `{"uri": "sip:a@b", "room": "r", "x": 1}`} {
		if code, _, raw := do("POST", "/sip/calls", body); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", body, code, raw)
		}
	}
	p.answering(g722Answer)
	code, m, raw := do("POST", "/sip/calls", `{"uri": "`+p.dialURI()+`", "room": "r"}`)
	id, _ := m["id"].(string)
	if code != http.StatusCreated || id == "" {
		t.Fatalf("POST: %d %s, want 201 with an id", code, raw)
	}
	if code, _, raw := do("GET", "/sip/calls", ""); code != http.StatusOK || !strings.Contains(raw, `"id":"`+id+`"`) ||
		!strings.Contains(raw, `"direction":"outbound"`) {
		t.Errorf("GET: %d %s, want the call listed", code, raw)
	}
	if code, _, raw := do("DELETE", "/sip/calls/"+id, ""); code != http.StatusNoContent {
		t.Errorf("DELETE: %d %s, want 204", code, raw)
	}
	p.expectBye("after DELETE")
	if code, _, _ := do("DELETE", "/sip/calls/"+id, ""); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
}
