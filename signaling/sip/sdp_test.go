package sip

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/openmcu/mcu/mcu"
)

// sdpOf joins SDP lines with CRLF, after a standard session header with c= at session level.
func sdpOf(lines ...string) string {
	head := []string{"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0"}
	return strings.Join(append(head, lines...), "\r\n") + "\r\n"
}

var testLocal = mcu.RTPLocal{
	Audio: netip.MustParseAddrPort("198.51.100.1:40000"),
	Video: netip.MustParseAddrPort("198.51.100.1:40002"),
}

var testOrigin = origin{sessID: 7, version: 1, host: netip.MustParseAddr("198.51.100.1")}

func TestNegotiate(t *testing.T) {
	remote := netip.MustParseAddrPort("192.0.2.10:4000")
	remoteV := netip.MustParseAddrPort("192.0.2.10:4002")
	tests := []struct {
		name  string
		offer string
		want  mcu.RTPMedia
		err   error
		// answer must contain these lines (and, for lines starting with "!", must not)
		answer []string
	}{
		{
			name: "pcmu only with dtmf",
			offer: sdpOf("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-15", "a=sendrecv"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, PayloadType: 0, DTMFPayloadType: 101, Remote: remote, Send: true, Receive: true}},
			answer: []string{"m=audio 40000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv", "c=IN IP4 198.51.100.1"},
		},
		{
			name:   "static pcmu without rtpmap",
			offer:  sdpOf("m=audio 4000 RTP/AVP 0"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote, Send: true, Receive: true}},
			answer: []string{"m=audio 40000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "!telephone-event"},
		},
		{
			name:   "g722 first wins",
			offer:  sdpOf("m=audio 4000 RTP/AVP 9 0 8 101", "a=rtpmap:101 telephone-event/8000"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.G722, PayloadType: 9, DTMFPayloadType: 101, Remote: remote, Send: true, Receive: true}},
			answer: []string{"m=audio 40000 RTP/AVP 9 101", "a=rtpmap:9 G722/8000"},
		},
		{
			name:  "caller preference: pcmu before g722",
			offer: sdpOf("m=audio 4000 RTP/AVP 0 9"),
			want:  mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote, Send: true, Receive: true}},
		},
		{
			name:  "pcma after an unknown codec",
			offer: sdpOf("m=audio 4000 RTP/AVP 18 3 8", "a=rtpmap:18 G729/8000"),
			want:  mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMA, PayloadType: 8, Remote: remote, Send: true, Receive: true}},
		},
		{
			name:   "opus dynamic",
			offer:  sdpOf("m=audio 4000 RTP/AVP 96 0", "a=rtpmap:96 OPUS/48000/2", "a=fmtp:96 useinbandfec=1"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.Opus, PayloadType: 96, Remote: remote, Send: true, Receive: true}},
			answer: []string{"m=audio 40000 RTP/AVP 96", "a=rtpmap:96 OPUS/48000/2", "a=fmtp:96 useinbandfec=1"},
		},
		{
			name:  "opus with a 48 kHz telephone-event only: no dtmf",
			offer: sdpOf("m=audio 4000 RTP/AVP 96 97", "a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/48000"),
			want:  mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.Opus, PayloadType: 96, Remote: remote, Send: true, Receive: true}},
		},
		{
			name:  "rtpmap overrides a static number",
			offer: sdpOf("m=audio 4000 RTP/AVP 0 8", "a=rtpmap:0 L16/8000"),
			want:  mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMA, PayloadType: 8, Remote: remote, Send: true, Receive: true}},
		},
		{name: "gsm only", offer: sdpOf("m=audio 4000 RTP/AVP 3"), err: errNoMedia},
		{name: "srtp only", offer: sdpOf("m=audio 4000 RTP/SAVP 0"), err: errNoMedia},
		{name: "audio disabled", offer: sdpOf("m=audio 0 RTP/AVP 0"), err: errNoMedia},
		{name: "vp8 video only", offer: sdpOf("m=video 4002 RTP/AVP 100", "a=rtpmap:100 VP8/90000"), err: errNoMedia},
		{
			name: "audio and h264 mode 1 with b=AS",
			offer: sdpOf("m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 99 100", "b=AS:512",
				"a=rtpmap:99 H264/90000", "a=fmtp:99 profile-level-id=42801F; packetization-mode=1; max-mbps=108000",
				"a=rtcp-fb:99 ccm fir", "a=rtcp-fb:99 goog-remb", "a=rtpmap:100 VP8/90000"),
			want: mcu.RTPMedia{
				Audio:      &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote, Send: true, Receive: true},
				Video:      &mcu.RTPVideo{PayloadType: 99, PacketizationMode: 1, ProfileLevelID: "42801f", Remote: remoteV, Send: true, Receive: true},
				MaxBitrate: 512000,
			},
			answer: []string{"m=video 40002 RTP/AVP 99", "a=rtpmap:99 H264/90000",
				"a=fmtp:99 profile-level-id=42801f;packetization-mode=1", "a=rtcp-fb:99 ccm fir", "!goog-remb", "!max-mbps"},
		},
		{
			name: "h264 mode 0 by default, tias beats as, session b=",
			offer: strings.Replace(sdpOf("m=audio 4000 RTP/AVP 8", "m=video 4002 RTP/AVP 34 98", "a=rtpmap:98 H264/90000"),
				"t=0 0", "b=AS:2000\r\nb=TIAS:300000\r\nt=0 0", 1),
			want: mcu.RTPMedia{
				Audio:      &mcu.RTPAudio{Codec: mcu.PCMA, PayloadType: 8, Remote: remote, Send: true, Receive: true},
				Video:      &mcu.RTPVideo{PayloadType: 98, PacketizationMode: 0, Remote: remoteV, Send: true, Receive: true},
				MaxBitrate: 300000,
			},
			answer: []string{"m=video 40002 RTP/AVP 98", "a=fmtp:98 packetization-mode=0"},
		},
		{
			name: "h264 mode 2 refused with port 0",
			offer: sdpOf("m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 97", "a=rtpmap:97 H264/90000",
				"a=fmtp:97 packetization-mode=2"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote, Send: true, Receive: true}},
			answer: []string{"m=video 0 RTP/AVP 97"},
		},
		{
			name:   "sendonly (hold)",
			offer:  sdpOf("m=audio 4000 RTP/AVP 0", "a=sendonly"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote, Send: false, Receive: true}},
			answer: []string{"a=recvonly"},
		},
		{
			name:   "recvonly",
			offer:  sdpOf("m=audio 4000 RTP/AVP 0", "a=recvonly"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote, Send: true, Receive: false}},
			answer: []string{"a=sendonly"},
		},
		{
			name:   "inactive at session level",
			offer:  strings.Replace(sdpOf("m=audio 4000 RTP/AVP 0"), "t=0 0", "t=0 0\r\na=inactive", 1),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: remote}},
			answer: []string{"a=inactive"},
		},
		{
			name:   "rfc 2543 hold: c=0.0.0.0",
			offer:  sdpOf("m=audio 4000 RTP/AVP 0", "c=IN IP4 0.0.0.0"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: netip.MustParseAddrPort("0.0.0.0:4000"), Send: false, Receive: true}},
			answer: []string{"a=recvonly"},
		},
		{
			name:  "media-level c= wins, ipv6",
			offer: sdpOf("m=audio 4000 RTP/AVP 0", "c=IN IP6 2001:db8::5"),
			want:  mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Remote: netip.MustParseAddrPort("[2001:db8::5]:4000"), Send: true, Receive: true}},
		},
		{
			name:  "c= with a host name: no remote (latching decides)",
			offer: strings.Replace(sdpOf("m=audio 4000 RTP/AVP 0"), "c=IN IP4 192.0.2.10", "c=IN IP4 phone.example.org", 1),
			want:  mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMU, Send: true, Receive: true}},
		},
		{
			name: "second audio line used when the first is disabled; others refused",
			offer: sdpOf("m=audio 0 RTP/AVP 0", "m=audio 4000 RTP/AVP 8", "m=application 5000 UDP/BFCP *",
				"m=audio 4004 RTP/AVP 0", "m=image 6000 udptl t38"),
			want:   mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.PCMA, PayloadType: 8, Remote: remote, Send: true, Receive: true}},
			answer: []string{"m=audio 0 RTP/AVP 0", "m=audio 40000 RTP/AVP 8", "m=application 0 UDP/BFCP *", "m=audio 0 RTP/AVP 0", "m=image 0 udptl t38"},
		},
		{name: "not sdp", offer: "hello", err: errBadSDP},
		{name: "empty", offer: "", err: errBadSDP},
		{name: "no m= line", offer: sdpOf(), err: errBadSDP},
		{name: "huge", offer: sdpOf("m=audio 4000 RTP/AVP 0", "a=x:"+strings.Repeat("y", maxSDPSize)), err: errBadSDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, err := parseDescription([]byte(tt.offer))
			var n *negotiation
			if err == nil {
				n, err = negotiate(off)
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("negotiate(%q) error = %v, want %v", tt.offer, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("negotiate(%q): %v", tt.offer, err)
			}
			if !mediaEqual(n.media, tt.want) {
				t.Errorf("negotiate(%q)\n got %s\nwant %s", tt.offer, fmtMedia(n.media), fmtMedia(tt.want))
			}
			ans := string(n.answer(off, testLocal, testOrigin))
			checkAnswer(t, tt.offer, ans, len(off.lines))
			for _, l := range tt.answer {
				if neg, ok := strings.CutPrefix(l, "!"); ok {
					if strings.Contains(ans, neg) {
						t.Errorf("answer to %q contains %q:\n%s", tt.offer, neg, ans)
					}
				} else if !strings.Contains(ans, l+"\r\n") {
					t.Errorf("answer to %q lacks %q:\n%s", tt.offer, l, ans)
				}
			}
		})
	}
}

// checkAnswer parses an answer (with pion, through parseDescription) and checks it has as many m-lines
// as the offer.
func checkAnswer(t *testing.T, offer, ans string, lines int) {
	t.Helper()
	d, err := parseDescription([]byte(ans))
	if err != nil {
		t.Fatalf("answer to %q does not parse: %v\n%s", offer, err, ans)
	}
	if len(d.lines) != lines {
		t.Fatalf("answer to %q has %d m-lines, want %d:\n%s", offer, len(d.lines), lines, ans)
	}
}

func mediaEqual(a, b mcu.RTPMedia) bool {
	if a.MaxBitrate != b.MaxBitrate || (a.Audio == nil) != (b.Audio == nil) || (a.Video == nil) != (b.Video == nil) {
		return false
	}
	return (a.Audio == nil || *a.Audio == *b.Audio) && (a.Video == nil || *a.Video == *b.Video)
}

func fmtMedia(m mcu.RTPMedia) string {
	var b strings.Builder
	if m.Audio != nil {
		a := m.Audio
		b.WriteString("audio{" + a.Codec.String() + " pt=" + itoa(int(a.PayloadType)) + " dtmf=" + itoa(int(a.DTMFPayloadType)) +
			" " + a.Remote.String() + " " + directionOf(a.Send, a.Receive).String() + "} ")
	}
	if m.Video != nil {
		v := m.Video
		b.WriteString("video{pt=" + itoa(int(v.PayloadType)) + " mode=" + itoa(v.PacketizationMode) + " " + v.ProfileLevelID +
			" " + v.Remote.String() + " " + directionOf(v.Send, v.Receive).String() + "} ")
	}
	b.WriteString("max=" + itoa(m.MaxBitrate))
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestAnswerOriginAndAddresses(t *testing.T) {
	off, err := parseDescription([]byte(sdpOf("m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 96", "a=rtpmap:96 H264/90000")))
	if err != nil {
		t.Fatal(err)
	}
	n, err := negotiate(off)
	if err != nil {
		t.Fatal(err)
	}
	// Media bound to a wildcard address take the origin's host; a different video address gets its own c=.
	local := mcu.RTPLocal{Audio: netip.MustParseAddrPort("0.0.0.0:40000"), Video: netip.MustParseAddrPort("203.0.113.9:40002")}
	o := origin{sessID: 42, version: 3, host: netip.MustParseAddr("198.51.100.1")}
	ans := string(n.answer(off, local, o))
	for _, want := range []string{"o=openmcu 42 3 IN IP4 198.51.100.1\r\n", "c=IN IP4 198.51.100.1\r\n",
		"m=video 40002 RTP/AVP 96\r\nc=IN IP4 203.0.113.9\r\n"} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	// No video address: the accepted video line is refused in the answer.
	ans = string(n.answer(off, mcu.RTPLocal{Audio: testLocal.Audio}, o))
	if !strings.Contains(ans, "m=video 0 RTP/AVP 96\r\n") {
		t.Errorf("answer without local video lacks the refused video line:\n%s", ans)
	}
}

func TestOfferAndAnswer(t *testing.T) {
	o := origin{sessID: 1, version: 1, host: netip.MustParseAddr("198.51.100.1")}
	ours := string(offer(testLocal, o))
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(ours); err != nil {
		t.Fatalf("our offer does not parse: %v\n%s", err, ours)
	}
	for _, want := range []string{"m=audio 40000 RTP/AVP 111 9 0 8 101\r\n", "a=rtpmap:111 opus/48000/2\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n", "m=video 40002 RTP/AVP 96 97\r\n",
		"a=fmtp:97 profile-level-id=42e01f;packetization-mode=0\r\n"} {
		if !strings.Contains(ours, want) {
			t.Errorf("offer lacks %q:\n%s", want, ours)
		}
	}
	// The offer, read as an offer, is acceptable to the MCU itself.
	off, err := parseDescription([]byte(ours))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := negotiate(off); err != nil || n.media.Audio.Codec != mcu.Opus || n.media.Video.PacketizationMode != 1 {
		t.Errorf("negotiate(our offer) = %+v, %v; want opus and h264 mode 1", n, err)
	}
	if audioOnly := string(offer(mcu.RTPLocal{Audio: testLocal.Audio}, o)); strings.Contains(audioOnly, "m=video") {
		t.Errorf("offer without local video has video:\n%s", audioOnly)
	}

	tests := []struct {
		name   string
		answer string
		want   mcu.RTPMedia
		err    error
	}{
		{
			name: "g722 and no video",
			answer: sdpOf("m=audio 5000 RTP/AVP 9 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv",
				"m=video 0 RTP/AVP 96"),
			want: mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.G722, PayloadType: 9, DTMFPayloadType: 101,
				Remote: netip.MustParseAddrPort("192.0.2.10:5000"), Send: true, Receive: true}},
		},
		{
			name:   "opus and h264 mode 0, callee sends only",
			answer: sdpOf("m=audio 5000 RTP/AVP 111", "a=rtpmap:111 opus/48000/2", "a=sendonly", "m=video 5002 RTP/AVP 97", "b=TIAS:256000", "a=rtpmap:97 H264/90000", "a=fmtp:97 packetization-mode=0"),
			want: mcu.RTPMedia{
				Audio:      &mcu.RTPAudio{Codec: mcu.Opus, PayloadType: 111, Remote: netip.MustParseAddrPort("192.0.2.10:5000"), Receive: true},
				Video:      &mcu.RTPVideo{PayloadType: 97, ProfileLevelID: defaultProfileLevelID, Remote: netip.MustParseAddrPort("192.0.2.10:5002"), Send: true, Receive: true},
				MaxBitrate: 256000,
			},
		},
		{name: "everything refused", answer: sdpOf("m=audio 0 RTP/AVP 0", "m=video 0 RTP/AVP 96"), err: errNoMedia},
		{name: "garbage", answer: "v=0\r\nwhat", err: errBadSDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAnswer([]byte(tt.answer), testLocal)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("parseAnswer(%q) error = %v, want %v", tt.answer, err, tt.err)
				}
				return
			}
			if err != nil || !mediaEqual(got, tt.want) {
				t.Errorf("parseAnswer(%q) = %s, %v\nwant %s", tt.answer, fmtMedia(got), err, fmtMedia(tt.want))
			}
		})
	}
}

// FuzzOffer feeds arbitrary SDP to the negotiation: it must never panic, and every answer it writes must
// be SDP that pion parses, with one m-line per offered one.
func FuzzOffer(f *testing.F) {
	f.Add(sdpOf("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"))
	f.Add(sdpOf("m=audio 4000 RTP/AVP 96", "a=rtpmap:96 opus/48000/2", "m=video 4002 RTP/AVP 97", "b=AS:99999999999999",
		"a=rtpmap:97 H264/90000", "a=fmtp:97 profile-level-id=zzzzzz;packetization-mode=1"))
	f.Add(sdpOf("m=audio 0 RTP/AVP 0", "m=application 9 UDP/BFCP *", "c=IN IP6 ::"))
	f.Add("v=0\r\nm=audio 1 RTP/AVP 0\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		off, err := parseDescription([]byte(s))
		if err != nil {
			return
		}
		if _, err := parseAnswer([]byte(s), testLocal); err != nil && !errors.Is(err, errNoMedia) {
			t.Fatalf("parseAnswer of a parsed description: %v", err)
		}
		n, err := negotiate(off)
		if err != nil {
			return
		}
		checkAnswer(t, s, string(n.answer(off, testLocal, testOrigin)), len(off.lines))
	})
}
