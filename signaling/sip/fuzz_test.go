package sip_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/openmcu/mcu/signaling/chat"
	sipsig "github.com/openmcu/mcu/signaling/sip"
	"github.com/openmcu/mcu/signaling/sip/siptest"
)

// The fuzz target drives raw messages through the server's real request handlers, as sipgo's transport
// and router would: the size check of the read filter, sipgo's parser (the transport's), then the handler
// of the request's method with a fake server transaction that records the responses. Each input runs
// against three fresh servers in front of a fake conference, each with a call already established from
// 127.0.0.1:
//   - open: the defaults (anyone may call, new rooms allowed), the fuzzed requests from 127.0.0.1;
//   - closed: digest users, RequireAuth and a trusted network (the established call's), the fuzzed
//     requests from outside it;
//   - limited: new rooms not allowed, a tight INVITE rate and call limits, the fuzzed requests from an
//     untrusted address.
//
// An input holds up to fuzzMaxMessages messages separated by fuzzSep. In them "$TOTAG$" stands for our
// tag of the established dialog, "$LASTTAG$" for our tag in the last 2xx the input got (to ACK it or
// continue its dialog). The target fails on any panic, recovered by the handler wrapper or not (Stats.
// Panics), on a handler that neither answers nor returns, and on anything left once the server closed: a
// session, a dialog, a per-source count, a participant that did not leave, a goroutine that did not end.
//
// Run it with
//
//	go test -run '^$' -fuzz FuzzServerRequest -fuzztime 3m ./signaling/sip/
//
// Crashers it finds go to testdata/fuzz/FuzzServerRequest and stay there as seeds.

const (
	fuzzSep         = "\x00\x00"
	fuzzMaxMessages = 8
	fuzzDialogID    = "fuzz-dialog@127.0.0.1"
	fuzzFromTag     = "fuzzfrom"
)

// fuzzTx is a fake sip.ServerTransaction: it records responses and signals the first final one.
type fuzzTx struct {
	mu        sync.Mutex
	responses []*sip.Response
	final     chan struct{}
	finalOnce sync.Once
	done      chan struct{}
	doneOnce  sync.Once
}

func newFuzzTx() *fuzzTx { return &fuzzTx{final: make(chan struct{}), done: make(chan struct{})} }

func (tx *fuzzTx) Respond(res *sip.Response) error {
	tx.mu.Lock()
	tx.responses = append(tx.responses, res)
	tx.mu.Unlock()
	if res.StatusCode >= 200 {
		tx.finalOnce.Do(func() { close(tx.final) })
	}
	return nil
}

func (tx *fuzzTx) last() *sip.Response {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if len(tx.responses) == 0 {
		return nil
	}
	return tx.responses[len(tx.responses)-1]
}

func (tx *fuzzTx) Acks() <-chan *sip.Request          { return nil }
func (tx *fuzzTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (tx *fuzzTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *fuzzTx) Done() <-chan struct{}              { return tx.done }
func (tx *fuzzTx) Err() error                         { return nil }
func (tx *fuzzTx) Terminate()                         { tx.doneOnce.Do(func() { close(tx.done) }) }

// wait waits up to d for the first final response or for ended to close; false if neither came.
func (tx *fuzzTx) wait(d time.Duration, ended <-chan struct{}) bool {
	select {
	case <-tx.final:
		return true
	case <-ended:
		return true
	case <-time.After(d):
		return false
	}
}

var _ sip.ServerTransaction = (*fuzzTx)(nil)

// fuzzServer is one server of the fuzz target and what runs on it.
type fuzzServer struct {
	t       *testing.T
	srv     *sipsig.Server
	conf    *siptest.Conference
	chat    *chat.Hub
	source  string // the fuzzed requests' source
	toTag   string // our tag of the established dialog
	lastTag string // our tag in the last 2xx
	running sync.WaitGroup
}

// The servers of the fuzz target.
const (
	fuzzOpen = iota
	fuzzClosed
	fuzzLimited
)

func newFuzzServer(t *testing.T, mode int) *fuzzServer {
	cfg := sipsig.DefaultConfig()
	cfg.PublicHost = "127.0.0.1"
	f := &fuzzServer{t: t, conf: &siptest.Conference{}, source: "127.0.0.1:5071"}
	switch mode {
	case fuzzClosed:
		cfg.Users = map[string]string{"alice": "secret"}
		cfg.RequireAuth = true
		cfg.Trusted = []string{"127.0.0.0/8"}
		f.source = "192.0.2.7:5060"
	case fuzzLimited:
		cfg.AllowNewRooms = false
		cfg.InviteRate, cfg.InviteBurst = 0.001, 3
		cfg.MaxCalls, cfg.MaxCallsPerIP = 4, 2
		f.source = "192.0.2.7:5060"
		f.conf.OpenRoom("r")
	}
	hub, err := chat.New(chat.DefaultConfig(), chat.Params{})
	if err != nil {
		t.Fatal(err)
	}
	f.chat = hub
	s, err := sipsig.New(cfg, sipsig.Params{Conference: f.conf, Logger: slog.New(slog.DiscardHandler), Chat: hub})
	if err != nil {
		t.Fatal(err)
	}
	s.SetTransact(func(_ context.Context, req *sip.Request) (*sip.Response, error) {
		return sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil), nil
	})
	f.srv = s
	// The established call, from 127.0.0.1 (trusted in the closed server).
	tx := f.route([]byte(fuzzInvite("r", fuzzDialogID, fuzzFromTag, 1, pcmuOnly)), "127.0.0.1:5070")
	res := tx.last()
	if res == nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("the established call was answered %v", res)
	}
	f.toTag, _ = res.To().Params.Get("tag")
	f.route([]byte(fuzzAck(fuzzDialogID, fuzzFromTag, f.toTag, 1, "")), "127.0.0.1:5070")
	return f
}

// route parses data as the transport would and hands a request to the server from source; it waits
// until the handler has answered finally or returned, and returns the transaction (nil if data was not
// routed).
func (f *fuzzServer) route(data []byte, source string) *fuzzTx {
	f.t.Helper()
	data = bytes.ReplaceAll(data, []byte("$TOTAG$"), []byte(f.toTag))
	data = bytes.ReplaceAll(data, []byte("$LASTTAG$"), []byte(f.lastTag))
	if len(bytes.Trim(data, "\x00")) == 0 || len(bytes.Trim(data, "\r\n")) == 0 {
		return nil // sipgo skips these (keep-alives)
	}
	transport := "UDP"
	if bytes.Contains(data, []byte("SIP/2.0/TCP")) {
		transport = "TCP"
	}
	if f.srv.TooLarge("UDP", data) && transport == "UDP" {
		return nil // readFilter drops it
	}
	msg, err := f.srv.Parser().ParseSIP(data)
	if err != nil {
		return nil
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil
	}
	req.SetTransport(transport)
	req.SetSource(source)
	tx := newFuzzTx()
	ended := make(chan struct{})
	f.running.Add(1)
	go func() {
		defer f.running.Done()
		defer close(ended)
		f.srv.Route(req, tx)
	}()
	if !tx.wait(5*time.Second, ended) {
		f.t.Fatalf("a %s handler neither answered nor returned in 5 s:\n%s", req.Method, data)
	}
	if res := tx.last(); res != nil && res.IsSuccess() && req.IsInvite() {
		f.lastTag, _ = res.To().Params.Get("tag")
	}
	return tx
}

// close closes the server and checks that nothing is left of what the input did.
func (f *fuzzServer) close(input []byte) {
	f.t.Helper()
	if err := f.srv.Close(); err != nil {
		f.t.Errorf("Close: %v", err)
	}
	if err := f.chat.Close(); err != nil {
		f.t.Errorf("chat Close: %v", err)
	}
	ended := make(chan struct{})
	go func() { f.running.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		f.t.Fatalf("a handler still runs 10 s after Close; input %q", input)
	}
	if st := f.srv.Stats(); st.Panics != 0 {
		f.t.Fatalf("%d handler panics (recovered); input %q", st.Panics, input)
	}
	if calls := f.srv.Calls(); len(calls) != 0 {
		f.t.Errorf("calls left after Close: %+v; input %q", calls, input)
	}
	if a, b, c, d := f.srv.Tables(); a+b+c+d != 0 {
		f.t.Errorf("tables left after Close: %d sessions, %d dialogs, %d per-IP counts, %d TCP counts; input %q",
			a, b, c, d, input)
	}
	for _, c := range f.conf.Calls() {
		if !c.Left() {
			f.t.Errorf("participant %s in room %q did not leave; input %q", c.ID(), c.Room, input)
		}
	}
}

// fuzz budget: 20000x (each input runs through three servers: 60000 took 9 min 18 s of a 29-minute CI run)
func FuzzServerRequest(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := bytes.SplitN(data, []byte(fuzzSep), fuzzMaxMessages+1)
		if len(msgs) > fuzzMaxMessages {
			msgs = msgs[:fuzzMaxMessages]
		}
		for _, mode := range []int{fuzzOpen, fuzzClosed, fuzzLimited} {
			fs := newFuzzServer(t, mode)
			for _, m := range msgs {
				fs.route(m, fs.source)
			}
			fs.close(data)
		}
	})
}

// fuzzInvite is an INVITE to room with a body (SDP if not empty) from 127.0.0.1.
func fuzzInvite(room, callID, fromTag string, cseq int, body string) string {
	return fuzzRequest("INVITE", "sip:"+room+"@127.0.0.1", callID, fromTag, "", cseq, "INVITE",
		[]string{"Contact: <sip:alice@127.0.0.1:5070>", "Content-Type: application/sdp"}, body)
}

// fuzzAck is the ACK of a 2xx in a dialog.
func fuzzAck(callID, fromTag, toTag string, cseq int, body string) string {
	return fuzzRequest("ACK", "sip:r@127.0.0.1", callID, fromTag, toTag, cseq, "ACK", nil, body)
}

// fuzzRequest writes a request with the mandatory headers, the extra ones and a body with its
// Content-Length.
func fuzzRequest(method, uri, callID, fromTag, toTag string, cseq int, cseqMethod string, extra []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%s-%d-%s\r\n", callID, cseq, method)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: \"Fuzz\" <sip:fuzz@127.0.0.1>;tag=%s\r\n", fromTag)
	if toTag != "" {
		fmt.Fprintf(&b, "To: <sip:r@127.0.0.1>;tag=%s\r\n", toTag)
	} else {
		fmt.Fprintf(&b, "To: <sip:r@127.0.0.1>\r\n")
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, cseqMethod)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// fuzzSeeds are the seed corpus: calls, dialogs, and the malformed, the unknown and the huge.
func fuzzSeeds() []string {
	sep := fuzzSep
	inDialog := func(method string, cseq int, extra []string, body string) string {
		return fuzzRequest(method, "sip:r@127.0.0.1", fuzzDialogID, fuzzFromTag, "$TOTAG$", cseq, method, extra, body)
	}
	g722Video := offerSDP("m=audio 4000 RTP/AVP 9 0 8 101", "a=rtpmap:9 G722/8000",
		"a=rtpmap:101 telephone-event/8000", "m=video 4002 RTP/AVP 96", "b=AS:384", "a=rtpmap:96 H264/90000",
		"a=fmtp:96 profile-level-id=42801f;packetization-mode=0")
	hold := offerSDP("m=audio 4000 RTP/AVP 0", "a=inactive")
	newCall := fuzzInvite("r", "new@127.0.0.1", "n1", 1, pcmuOnly)
	ackNew := fuzzRequest("ACK", "sip:r@127.0.0.1", "new@127.0.0.1", "n1", "$LASTTAG$", 1, "ACK", nil, "")
	byeNew := fuzzRequest("BYE", "sip:r@127.0.0.1", "new@127.0.0.1", "n1", "$LASTTAG$", 2, "BYE", nil, "")
	huge := strings.Repeat("a", 20000)
	var flood []string
	for i := range 5 {
		flood = append(flood, fuzzInvite("r", fmt.Sprintf("flood%d@127.0.0.1", i), "f", 1, pcmuOnly))
	}
	return []string{
		strings.Join(flood, sep),
		newCall,
		newCall + sep + ackNew,
		newCall + sep + ackNew + sep + byeNew,
		fuzzInvite("r", "video@127.0.0.1", "v1", 1, g722Video),
		fuzzInvite("room%20one", "delayed@127.0.0.1", "d1", 1, "") + sep +
			fuzzRequest("ACK", "sip:r@127.0.0.1", "delayed@127.0.0.1", "d1", "$LASTTAG$", 1, "ACK",
				[]string{"Content-Type: application/sdp"}, pcmuOnly),
		fuzzInvite("r", "garbage@127.0.0.1", "g1", 1, "this is not SDP"),
		fuzzInvite("r", "nomedia@127.0.0.1", "m1", 1, offerSDP("m=audio 4000 RTP/AVP 3 18", "a=rtpmap:18 G729/8000")),
		fuzzInvite("", "noroom@127.0.0.1", "r1", 1, pcmuOnly),
		fuzzInvite("nosuchroom", "other@127.0.0.1", "o1", 1, pcmuOnly),
		fuzzInvite("r", "many@127.0.0.1", "x1", 1, offerSDP(strings.Repeat("m=audio 4000 RTP/AVP 0\r\n", 100))),
		fuzzInvite("r", "weird@127.0.0.1", "w1", 1, "v=0\r\no=- 0 0 IN IP6 ::1\r\ns=-\r\nc=IN IP4 999.1.1.1\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\nm=video 0 RTP/AVP\r\n"),
		inDialog("BYE", 2, nil, ""),
		inDialog("INFO", 2, []string{"Content-Type: application/dtmf-relay"}, "Signal=*\r\nDuration=160\r\n") + sep +
			inDialog("INFO", 3, []string{"Content-Type: application/dtmf-relay"}, "Signal=6\r\nDuration=160\r\n"),
		inDialog("INFO", 2, []string{"Content-Type: application/dtmf"}, "10"),
		inDialog("INFO", 2, []string{"Content-Type: text/plain"}, "hello"),
		inDialog("MESSAGE", 2, []string{"Content-Type: text/plain;charset=UTF-8"}, "hello room") + sep +
			inDialog("MESSAGE", 3, []string{"Content-Type: text/plain"}, "\xff\xfe not UTF-8") + sep +
			inDialog("MESSAGE", 4, []string{"Content-Type: text/html"}, "<b>hi</b>") + sep +
			inDialog("MESSAGE", 5, []string{"Content-Type: text/plain"}, strings.Repeat("long ", 600)),
		fuzzRequest("MESSAGE", "sip:r@127.0.0.1", "fuzz@127.0.0.1", "s2", "", 1, "MESSAGE", []string{"Content-Type: text/plain"}, "outside the dialog"),
		inDialog("INVITE", 2, []string{"Contact: <sip:alice@127.0.0.1:5070>", "Content-Type: application/sdp"}, hold) + sep +
			fuzzAck(fuzzDialogID, fuzzFromTag, "$TOTAG$", 2, ""),
		inDialog("INVITE", 2, []string{"Contact: <sip:alice@127.0.0.1:5070>"}, "") + sep +
			fuzzRequest("ACK", "sip:r@127.0.0.1", fuzzDialogID, fuzzFromTag, "$TOTAG$", 2, "ACK",
				[]string{"Content-Type: application/sdp"}, offerSDP("m=audio 4020 RTP/AVP 9 101", "a=rtpmap:101 telephone-event/8000")),
		inDialog("INVITE", 1, []string{"Contact: <sip:alice@127.0.0.1:5070>"}, hold), // CSeq out of order
		inDialog("INVITE", 2, []string{"Contact: <sip:alice@127.0.0.1:5070>"}, hold) + sep +
			inDialog("INVITE", 3, []string{"Contact: <sip:alice@127.0.0.1:5070>"}, pcmuOnly), // overtakes the ACK
		inDialog("CANCEL", 1, nil, ""),
		fuzzRequest("OPTIONS", "sip:r@127.0.0.1", "opt@127.0.0.1", "o1", "", 1, "OPTIONS", nil, ""),
		fuzzRequest("SUBSCRIBE", "sip:r@127.0.0.1", "sub@127.0.0.1", "s1", "", 1, "SUBSCRIBE", nil, ""),
		fuzzRequest("MESSAGE", "sip:r@127.0.0.1", "msg@127.0.0.1", "s1", "", 1, "MESSAGE", []string{"Content-Type: text/plain"}, "hi"),
		fuzzRequest("REGISTER", "sip:127.0.0.1", "reg@127.0.0.1", "s1", "", 1, "REGISTER", nil, ""),
		fuzzRequest("FOOBAR", "sip:r@127.0.0.1", "foo@127.0.0.1", "s1", "", 1, "FOOBAR", nil, ""),
		// Missing, repeated and inconsistent headers.
		strings.Replace(newCall, "To: <sip:r@127.0.0.1>\r\n", "", 1),
		strings.Replace(newCall, "To: <sip:r@127.0.0.1>\r\n", "To: <sip:r@127.0.0.1>\r\nTo: <sip:s@127.0.0.1>\r\n", 1),
		strings.Replace(newCall, ";tag=n1", "", 1),
		strings.Replace(newCall, "CSeq: 1 INVITE", "CSeq: 1 BYE", 1),
		strings.Replace(newCall, "Contact: <sip:alice@127.0.0.1:5070>\r\n", "", 1),
		strings.Replace(newCall, "Call-ID: new@127.0.0.1\r\n", "", 1),
		strings.Replace(newCall, "Call-ID: new@127.0.0.1\r\n", "Call-ID: a\r\nCall-ID: b\r\n", 1),
		strings.Replace(inDialog("BYE", 2, nil, ""), "From: \"Fuzz\" <sip:fuzz@127.0.0.1>;tag=fuzzfrom\r\n", "", 1),
		// Content-Length that lies.
		strings.Replace(newCall, fmt.Sprintf("Content-Length: %d", len(pcmuOnly)), "Content-Length: 99999", 1),
		strings.Replace(newCall, fmt.Sprintf("Content-Length: %d", len(pcmuOnly)), "Content-Length: 10", 1),
		strings.Replace(newCall, fmt.Sprintf("Content-Length: %d", len(pcmuOnly)), "Content-Length: -1", 1),
		strings.Replace(newCall, fmt.Sprintf("Content-Length: %d", len(pcmuOnly)), "Content-Length: 99999999999999999999", 1),
		// Authentication.
		strings.Replace(newCall, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nAuthorization: Digest username=\"alice\", realm=\"openmcu\", nonce=\"00\", uri=\"sip:r@127.0.0.1\", response=\"00\"\r\n", 1),
		strings.Replace(newCall, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nAuthorization: Digest ,,,=\"\r\n", 1),
		// Routes and many Vias.
		strings.Replace(newCall, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRecord-Route: <sip:proxy.example.org;lr>\r\n"+
			strings.Repeat("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKvv\r\n", 50), 1),
		strings.Replace(newCall, "SIP/2.0/UDP", "SIP/2.0/TCP", 1),
		// Huge: over the limit (dropped), and a large one under it.
		strings.Replace(newCall, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nX-Huge: "+huge+"\r\n", 1),
		strings.Replace(newCall, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nX-Large: "+huge[:12000]+"\r\n", 1),
		fuzzInvite("r", "bigsdp@127.0.0.1", "b1", 1, pcmuOnly+"a="+huge[:10000]+"\r\n"),
		// Not requests, not SIP.
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKnope\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
		"hello",
		"\r\n\r\n",
	}
}

// FuzzDialAPI posts arbitrary bodies to the real dial-out API (POST /sip/calls). The server is not
// started, so no request reaches the network: what runs is the body's decoding, the URI and room checks
// (parseDialURI) and the mapping of errors to statuses. It never panics, answers JSON, and never 201.
func FuzzDialAPI(f *testing.F) {
	for _, s := range []string{`{"uri":"sip:alice@127.0.0.1","room":"r"}`, `{"uri":"sip:bob@[::1]:5070;transport=tcp","room":"r"}`,
		`{"uri":"tel:+1","room":"r"}`, `{"uri":"","room":""}`, `{"uri":"sip:a@b","room":"r","x":1}`, `[]`, `{`, ``,
		`{"uri":"sip:` + strings.Repeat("a", 5000) + `@h","room":"r"}`} {
		f.Add([]byte(s))
	}
	s, err := sipsig.New(sipsig.DefaultConfig(), sipsig.Params{Conference: &siptest.Conference{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/sip/calls", bytes.NewReader(body)))
		if rec.Code == http.StatusCreated || rec.Code < 400 {
			t.Fatalf("%q: status %d", body, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%q: %s %q", body, ct, rec.Body.String())
		}
	})
}
