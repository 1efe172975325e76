package main

import (
	"encoding/xml"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/g711"
)

func TestToneFile(t *testing.T) {
	b := toneFile()
	if len(b) != 8000 || len(b)%160 != 0 {
		t.Fatalf("tone: %d bytes, want 8000 (whole 20 ms packets)", len(b))
	}
	// Decoded, it is a 1 kHz sine at about -10 dBFS: RMS and zero crossings.
	pcm := make([]int16, len(b))
	g711.MuLaw.Decode(pcm, b)
	var sum float64
	crossings := 0
	prev := pcm[len(pcm)-1]
	for _, v := range pcm {
		sum += float64(v) * float64(v)
		if (prev < 0) != (v < 0) {
			crossings++
		}
		prev = v
	}
	rms := math.Sqrt(sum/float64(len(b))) / 32768
	if want := toneLevel / math.Sqrt2; math.Abs(rms-want) > 0.02 {
		t.Errorf("tone RMS %.3f of full scale, want %.3f", rms, want)
	}
	if crossings < 1990 || crossings > 2010 { // 2 per period, 1000 periods, and the loop seam is clean
		t.Errorf("tone: %d zero crossings in 1 s, want 2000", crossings)
	}
}

func TestSIPScenario(t *testing.T) {
	s := sipScenario(`/tmp/a&b/tone.ulaw`, 17500*time.Millisecond)
	// Well-formed XML (the DOCTYPE is skipped by a non-strict decoder).
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil } // ASCII only
	var sc struct {
		Name  string `xml:"name,attr"`
		Steps []struct {
			XMLName xml.Name
			Resp    string `xml:"response,attr"`
			Ms      string `xml:"milliseconds,attr"`
			Rrs     string `xml:"rrs,attr"`
			Body    string `xml:",chardata"`
			Exec    []struct {
				RTPStream string `xml:"rtp_stream,attr"`
			} `xml:"action>exec"`
		} `xml:",any"`
	}
	if err := d.Decode(&sc); err != nil {
		t.Fatalf("scenario is not XML: %v\n%s", err, s)
	}
	var order []string
	for _, st := range sc.Steps {
		k := st.XMLName.Local
		switch k {
		case "send":
			k += " " + strings.Fields(strings.TrimSpace(st.Body))[0]
		case "recv":
			k += " " + st.Resp
			if st.Resp == "200" && !slices.Contains(order, "recv 200") && st.Rrs != "true" {
				t.Error("the 200 must be received with rrs=true, for [next_url] in the ACK and BYE")
			}
		case "nop":
			if len(st.Exec) != 1 || st.Exec[0].RTPStream != "/tmp/a&b/tone.ulaw,-1,0" {
				t.Errorf("rtp_stream = %+v, want the tone looped as PCMU", st.Exec)
			}
		case "pause":
			if st.Ms != "17500" {
				t.Errorf("pause %s ms, want 17500", st.Ms)
			}
		}
		order = append(order, k)
	}
	want := "send INVITE,recv 100,recv 180,recv 183,recv 200,send ACK,nop,pause,send BYE,recv 200"
	if got := strings.Join(order, ","); got != want {
		t.Errorf("steps %s\nwant  %s", got, want)
	}
	for _, w := range []string{"m=audio [rtpstream_audio_port] RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "ACK [next_url] SIP/2.0",
		"BYE [next_url] SIP/2.0", "[peer_tag_param]", "Content-Length: [len]"} {
		if !strings.Contains(s, w) {
			t.Errorf("scenario lacks %q", w)
		}
	}
}

func TestSippArgs(t *testing.T) {
	a := strings.Join(sippArgs("/d/s.xml", "127.0.0.1:5070", "bench", "/d/e.log", 20, 40000, 61500*time.Millisecond), " ")
	for _, w := range []string{"127.0.0.1:5070 -sf /d/s.xml -s bench", "-m 20 -l 20 -r 20 -rp 1000", "-p 40000",
		"-mi 127.0.0.1", "-timeout 62s", "-nostdin"} {
		if !strings.Contains(a, w) {
			t.Errorf("sipp args %q lack %q", a, w)
		}
	}
}

func TestCountSIP(t *testing.T) {
	n, err := countSIP([]byte(`{"name":"bench","participants":[{"id":"p1","kind":"sip"},{"id":"p2","kind":"webrtc"},{"id":"p3","kind":"sip"}]}`))
	if err != nil || n != 2 {
		t.Errorf("countSIP = %d, %v; want 2", n, err)
	}
	if _, err := countSIP([]byte(`<html>`)); err == nil {
		t.Error("countSIP of HTML: no error")
	}
}

func TestFillSIP(t *testing.T) {
	at := time.Unix(1000, 0)
	before := sipSample{sample: sample{at: at, serverCPU: time.Second, selfCPU: 0, busyCPU: 10 * time.Second,
		metrics: Scrape{Participants: 20, RTPReceived: 1000, RTPSent: 900}}, sippCPU: time.Second, sip: 20}
	after := sipSample{sample: sample{at: at.Add(10 * time.Second), serverCPU: 1600 * time.Millisecond,
		busyCPU: 11 * time.Second, metrics: Scrape{Participants: 20, RTPReceived: 11000, RTPSent: 10900, RTPDropped: 10}},
		sippCPU: 1200 * time.Millisecond, sip: 20}
	run := SIPRun{Calls: 20}
	if err := fillSIP(&run, before, after, 30); err != nil {
		t.Fatal(err)
	}
	if math.Abs(run.ServerCores-0.06) > 1e-9 || math.Abs(run.PerCallPercent-0.3) > 1e-9 || math.Abs(run.SippCores-0.02) > 1e-9 {
		t.Errorf("cores %v, per call %v %%, sipp %v", run.ServerCores, run.PerCallPercent, run.SippCores)
	}
	if run.RTPInPerSec != 1000 || run.RTPOutPerSec != 1000 || run.RTPDroppedPerSec != 1 || !run.AllUp {
		t.Errorf("rtp %v / %v / %v, all up %v", run.RTPInPerSec, run.RTPOutPerSec, run.RTPDroppedPerSec, run.AllUp)
	}
	// A call that left, and RTP short of 50/s per call: not all up.
	after.sip = 19
	after.metrics.RTPSent = 5000
	run = SIPRun{Calls: 20}
	if err := fillSIP(&run, before, after, 30); err == nil || run.AllUp {
		t.Errorf("a missing call: err %v, all up %v", err, run.AllUp)
	}
}

func TestParseFlagsSIP(t *testing.T) {
	o, err := parseFlags([]string{"-sip", "20"})
	if err != nil || o.sip != 20 || o.sipVideo != 0 || !o.skipFFmpeg {
		t.Errorf("-sip 20: %+v, %v", o, err)
	}
	if o, err = parseFlags([]string{"-sip", "20", "-n", "3"}); err != nil || o.sipVideo != 3 {
		t.Errorf("-sip 20 -n 3: video %d, %v", o.sipVideo, err)
	}
	for _, bad := range [][]string{{"-sip", "20", "-n", "2,4"}, {"-sip", "-1"}, {"-sip", "4", "-cascade"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSIPMarkdown(t *testing.T) {
	rep := &Report{Settings: Settings{Window: 10 * time.Second, Warmup: 3 * time.Second, SIPCalls: 20, Sipp: "SIPp v3.6.1"},
		SIP: []SIPRun{{Calls: 20, Window: 10 * time.Second, ServerCores: 0.06, PerCallPercent: 0.3, SippCores: 0.02,
			RTPInPerSec: 1000, RTPOutPerSec: 1000, SIPAtStart: 20, SIPAtEnd: 20, AllUp: true, SippExit: "ok"},
			{Calls: 40, Error: "sipp: boom | bad", SippExit: "exit 1 (some calls failed)"}}}
	var b strings.Builder
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, w := range []string{"SIPp v3.6.1", "| 20 | - | 0.060 | 0.30 | 0.020 |", "1000 / 1000", "| 20 / 20 | yes | ok |",
		"**no**: sipp: boom / bad"} {
		if !strings.Contains(s, w) {
			t.Errorf("markdown lacks %q:\n%s", w, s)
		}
	}
}

// TestSippWaitAfterExit: once sipp has ended, wait(0) reports how it ended, never a kill (the timer of
// zero and the closed done channel used to race, and half the reports said "killed after 0s").
func TestSippWaitAfterExit(t *testing.T) {
	for _, c := range []struct {
		script string
		want   string
	}{{"exit 0", "ok"}, {"exit 3", "exit status 3"}} {
		s, err := startSipp("sh", []string{"-c", c.script}, filepath.Join(t.TempDir(), "sipp.log"))
		if err != nil {
			t.Fatal(err)
		}
		<-s.done
		for range 50 {
			if got := s.wait(0); !strings.Contains(got, c.want) {
				t.Fatalf("%s: wait(0) after the exit = %q, want %q", c.script, got, c.want)
			}
		}
	}
}
