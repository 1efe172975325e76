package sip

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/openmcu/mcu/mcu"
)

// SDP offer/answer over plain RTP/AVP (RFC 3264). The MCU answers with one audio codec (plus RFC 4733
// telephone-events) and, for a caller that offers it, H.264 video; every other m-line is refused with port
// 0. Audio choice: the first format of the caller's list that the MCU supports (Opus, G.722, PCMU or
// PCMA), so the caller's preference wins: a phone that lists G.722 first gets G.722, a PCMU-only phone
// gets PCMU. Video: the first H.264 format with packetization-mode 0 or 1, answered with the offered
// profile-level-id and packetization-mode. When the MCU makes the offer (dial-out, or an INVITE without
// SDP) it offers Opus, G.722, PCMU, PCMA and telephone-event, and H.264 in both packetization modes.

// Limits on what is parsed: SIP over UDP bounds a message anyway, these bound the work.
const (
	maxSDPSize    = 64 << 10
	maxMediaLines = 16
	maxBitrate    = 1 << 30 // bit/s; b= values above are clamped
)

// Payload types of the MCU's own offers. Static ones are RFC 3551's.
const (
	ptPCMU    = 0
	ptPCMA    = 8
	ptG722    = 9
	ptDTMF    = 101
	ptOpus    = 111
	ptH264    = 96 // packetization-mode 1
	ptH264PM0 = 97 // packetization-mode 0
)

// defaultProfileLevelID is the H.264 profile-level-id of the MCU's own offers: Constrained Baseline 3.1.
const defaultProfileLevelID = "42e01f"

// Errors of the SDP negotiation. errNoMedia means the SDP was understood but nothing in it is usable
// (SIP 488); errBadSDP that it could not be parsed (SIP 400).
var (
	errNoMedia = errors.New("no acceptable media")
	errBadSDP  = errors.New("malformed sdp")
)

// direction is a stream's a=sendrecv/sendonly/recvonly/inactive, from the point of view of the side
// that wrote the SDP.
type direction uint8

const (
	sendRecv direction = iota
	sendOnly
	recvOnly
	inactive
)

func (d direction) String() string {
	switch d {
	case sendOnly:
		return "sendonly"
	case recvOnly:
		return "recvonly"
	case inactive:
		return "inactive"
	}
	return "sendrecv"
}

// sends and receives tell what the writer of the SDP does.
func (d direction) sends() bool    { return d == sendRecv || d == sendOnly }
func (d direction) receives() bool { return d == sendRecv || d == recvOnly }

// reverse is the direction the other side answers with (RFC 3264 6.1).
func (d direction) reverse() direction {
	switch d {
	case sendOnly:
		return recvOnly
	case recvOnly:
		return sendOnly
	}
	return d
}

// directionOf builds the direction from what the writer sends and receives.
func directionOf(send, recv bool) direction {
	switch {
	case send && recv:
		return sendRecv
	case send:
		return sendOnly
	case recv:
		return recvOnly
	}
	return inactive
}

// rtpFormat is one RTP payload format of an m-line.
type rtpFormat struct {
	pt       uint8
	name     string // encoding name as written: "PCMU", "opus", "H264", "telephone-event"
	clock    int
	channels int // 0: not given
	fmtp     string
	fb       []string // a=rtcp-fb values for this payload type
}

// staticFormats are the RFC 3551 payload types the MCU understands without an a=rtpmap.
var staticFormats = map[uint8]rtpFormat{
	ptPCMU: {pt: ptPCMU, name: "PCMU", clock: 8000},
	ptPCMA: {pt: ptPCMA, name: "PCMA", clock: 8000},
	ptG722: {pt: ptG722, name: "G722", clock: 8000},
}

// audioCodec returns the MCU codec of f, if it is one.
func (f rtpFormat) audioCodec() (mcu.AudioCodec, bool) {
	switch {
	case strings.EqualFold(f.name, "PCMU") && f.clock == 8000:
		return mcu.PCMU, true
	case strings.EqualFold(f.name, "PCMA") && f.clock == 8000:
		return mcu.PCMA, true
	case strings.EqualFold(f.name, "G722") && f.clock == 8000:
		return mcu.G722, true
	case strings.EqualFold(f.name, "opus") && f.clock == 48000:
		return mcu.Opus, true
	}
	return 0, false
}

func (f rtpFormat) isDTMF() bool {
	return strings.EqualFold(f.name, "telephone-event") && f.clock == 8000
}

// h264 returns the packetization mode and profile-level-id ("" when absent or malformed) of an H.264
// format the MCU can use: packetization-mode 0 or 1.
func (f rtpFormat) h264() (mode int, profile string, ok bool) {
	if !strings.EqualFold(f.name, "H264") || f.clock != 90000 {
		return 0, "", false
	}
	params := fmtpParams(f.fmtp)
	switch params["packetization-mode"] {
	case "", "0":
	case "1":
		mode = 1
	default:
		return 0, "", false
	}
	if p := params["profile-level-id"]; len(p) == 6 && isHex(p) {
		profile = strings.ToLower(p)
	}
	return mode, profile, true
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// fmtpParams splits "a=1;b=2" into its parameters, with lower-case names.
func fmtpParams(fmtp string) map[string]string {
	m := make(map[string]string)
	for p := range strings.SplitSeq(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if k != "" {
			m[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return m
}

// mediaLine is one m= section of an SDP, reduced to what the negotiation needs.
type mediaLine struct {
	kind    string   // "audio", "video", "application", …
	port    int      // 0: disabled
	proto   string   // "RTP/AVP", …
	fmts    []string // the format tokens as written
	formats []rtpFormat
	dir     direction
	addr    netip.Addr // from c= (media level, else session level); invalid when absent or not an IP
	bitrate int        // b=TIAS, else b=AS, of the m-line in bit/s; 0: none
}

// rtp tells whether the line is plain RTP the MCU can speak: RTP/AVP or RTP/AVPF, not SRTP.
func (l *mediaLine) rtp() bool {
	return strings.EqualFold(l.proto, "RTP/AVP") || strings.EqualFold(l.proto, "RTP/AVPF")
}

// remote is where the writer of the SDP receives this stream; zero when the address is not an IP.
func (l *mediaLine) remote() netip.AddrPort {
	if !l.addr.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(l.addr, uint16(l.port))
}

// onHold reports the RFC 2543 hold, c=0.0.0.0: the writer receives nothing whatever its direction says.
func (l *mediaLine) onHold() bool { return l.addr.IsValid() && l.addr.IsUnspecified() }

// effectiveDir is the line's direction with the RFC 2543 hold applied.
func (l *mediaLine) effectiveDir() direction {
	if l.onHold() {
		return directionOf(l.dir.sends(), false)
	}
	return l.dir
}

// description is a parsed SDP.
type description struct {
	lines   []mediaLine
	bitrate int // session-level b=TIAS, else b=AS, in bit/s; 0: none
}

// parseDescription parses an SDP offer or answer. It never panics; errors wrap errBadSDP.
func parseDescription(b []byte) (description, error) {
	if len(b) > maxSDPSize {
		return description{}, fmt.Errorf("%w: %d bytes", errBadSDP, len(b))
	}
	text, raw := rewriteMLines(string(b))
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return description{}, fmt.Errorf("%w: %w", errBadSDP, err)
	}
	if len(raw) != len(sd.MediaDescriptions) {
		raw = nil
	}
	if len(sd.MediaDescriptions) == 0 {
		return description{}, fmt.Errorf("%w: no m= line", errBadSDP)
	}
	if len(sd.MediaDescriptions) > maxMediaLines {
		return description{}, fmt.Errorf("%w: %d m= lines", errBadSDP, len(sd.MediaDescriptions))
	}
	sessionAddr := connectionAddr(sd.ConnectionInformation)
	sessionDir := attrDirection(sd.Attributes, sendRecv)
	d := description{bitrate: bandwidth(sd.Bandwidth)}
	for _, md := range sd.MediaDescriptions {
		l := mediaLine{
			kind:    strings.ToLower(md.MediaName.Media),
			port:    md.MediaName.Port.Value,
			proto:   strings.Join(md.MediaName.Protos, "/"),
			fmts:    md.MediaName.Formats,
			dir:     attrDirection(md.Attributes, sessionDir),
			addr:    sessionAddr,
			bitrate: bandwidth(md.Bandwidth),
		}
		if l.port < 0 || l.port > 65535 {
			return description{}, fmt.Errorf("%w: port %d", errBadSDP, l.port)
		}
		if raw != nil && raw[len(d.lines)].kind != "" {
			l.kind, l.proto = strings.ToLower(raw[len(d.lines)].kind), raw[len(d.lines)].proto
		}
		if md.ConnectionInformation != nil {
			l.addr = connectionAddr(md.ConnectionInformation)
		}
		l.formats = parseFormats(md)
		d.lines = append(d.lines, l)
	}
	return d, nil
}

// rawMLine is the media type and protocol of an m= line as written.
type rawMLine struct{ kind, proto string }

// rewriteMLines lets pion parse m= lines with media types or protocols it refuses (m=image 6000 udptl
// t38, lower-case rtp/avp): they become "application … UDP …" for pion, and raw keeps what was written,
// one entry per m= line.
func rewriteMLines(text string) (string, []rawMLine) {
	lines := strings.Split(text, "\n")
	var raw []rawMLine
	for i, l := range lines {
		if !strings.HasPrefix(l, "m=") {
			continue
		}
		body, cr := strings.CutSuffix(l[2:], "\r")
		f := strings.Split(body, " ")
		if len(f) < 3 {
			raw = append(raw, rawMLine{})
			continue
		}
		raw = append(raw, rawMLine{kind: f[0], proto: f[2]})
		if pionMedia(f[0]) && pionProto(f[2]) {
			continue
		}
		f[0], f[2] = "application", "UDP"
		lines[i] = "m=" + strings.Join(f, " ")
		if cr {
			lines[i] += "\r"
		}
	}
	return strings.Join(lines, "\n"), raw
}

// pionMedia and pionProto are what pion/sdp accepts in an m= line.
func pionMedia(kind string) bool {
	switch kind {
	case "audio", "video", "text", "application", "message":
		return true
	}
	return false
}

func pionProto(proto string) bool {
	for p := range strings.SplitSeq(proto, "/") {
		switch p {
		case "UDP", "RTP", "AVP", "SAVP", "SAVPF", "TLS", "DTLS", "SCTP", "AVPF", "TCP", "MSRP", "BFCP", "UDT",
			"IX", "MRCPv2", "FEC":
		default:
			return false
		}
	}
	return true
}

// connectionAddr is the IP of a c= line; invalid for an FQDN, a multicast range or no line.
func connectionAddr(c *sdp.ConnectionInformation) netip.Addr {
	if c == nil || c.Address == nil || !strings.EqualFold(c.NetworkType, "IN") {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(c.Address.Address)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// attrDirection returns the last direction attribute among attrs, or def.
func attrDirection(attrs []sdp.Attribute, def direction) direction {
	for _, a := range attrs {
		switch strings.ToLower(a.Key) {
		case "sendrecv":
			def = sendRecv
		case "sendonly":
			def = sendOnly
		case "recvonly":
			def = recvOnly
		case "inactive":
			def = inactive
		}
	}
	return def
}

// bandwidth is b=TIAS (bit/s) if present, else b=AS (kbit/s) in bit/s, clamped to maxBitrate; 0: none.
func bandwidth(bs []sdp.Bandwidth) int {
	var as, tias uint64
	for _, b := range bs {
		switch strings.ToUpper(b.Type) {
		case "TIAS":
			tias = b.Bandwidth
		case "AS":
			as = b.Bandwidth
		}
	}
	bps := tias
	if bps == 0 {
		bps = min(as, maxBitrate/1000) * 1000
	}
	return int(min(bps, maxBitrate))
}

// parseFormats returns the m-line's RTP formats in its order: the static ones the MCU knows and every
// one with an a=rtpmap, with their a=fmtp and a=rtcp-fb.
func parseFormats(md *sdp.MediaDescription) []rtpFormat {
	byPT := make(map[uint8]*rtpFormat)
	var order []uint8
	for _, tok := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(tok, 10, 7)
		if err != nil {
			continue
		}
		if _, dup := byPT[uint8(pt)]; dup {
			continue
		}
		f := rtpFormat{pt: uint8(pt)}
		if s, ok := staticFormats[uint8(pt)]; ok {
			f = s
		}
		byPT[uint8(pt)] = &f
		order = append(order, uint8(pt))
	}
	for _, a := range md.Attributes {
		key := strings.ToLower(a.Key)
		if key != "rtpmap" && key != "fmtp" && key != "rtcp-fb" {
			continue
		}
		ptStr, rest, _ := strings.Cut(strings.TrimSpace(a.Value), " ")
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if err != nil {
			continue
		}
		f := byPT[uint8(pt)]
		if f == nil {
			continue
		}
		rest = strings.TrimSpace(rest)
		switch key {
		case "rtpmap":
			parts := strings.Split(rest, "/")
			if len(parts) < 2 {
				continue
			}
			clock, err := strconv.Atoi(parts[1])
			if err != nil || clock <= 0 {
				continue
			}
			f.name, f.clock, f.channels = parts[0], clock, 0
			if len(parts) > 2 {
				f.channels, _ = strconv.Atoi(parts[2])
			}
		case "fmtp":
			f.fmtp = rest
		case "rtcp-fb":
			if len(f.fb) < 8 {
				f.fb = append(f.fb, rest)
			}
		}
	}
	out := make([]rtpFormat, 0, len(order))
	for _, pt := range order {
		if f := byPT[pt]; f.name != "" {
			out = append(out, *f)
		}
	}
	return out
}

// negotiation is the MCU's answer to an offer: the media for the MCU and which m-lines carry it.
type negotiation struct {
	media        mcu.RTPMedia
	audio, video int // index of the accepted m-line in the offer; -1: none
	audioFmt     rtpFormat
	dtmfFmt      *rtpFormat
	videoFmt     rtpFormat
	audioDir     direction // the answer's direction, from the MCU's point of view
	videoDir     direction
}

// negotiate picks the media the MCU accepts from an offer. It fails with errNoMedia when neither an audio
// nor a video stream is acceptable.
func negotiate(off description) (*negotiation, error) {
	n := &negotiation{audio: -1, video: -1}
	for i := range off.lines {
		l := &off.lines[i]
		if l.port == 0 || !l.rtp() {
			continue
		}
		switch {
		case l.kind == "audio" && n.audio < 0:
			n.acceptAudio(i, l)
		case l.kind == "video" && n.video < 0:
			n.acceptVideo(i, l, off.bitrate)
		}
	}
	if n.audio < 0 && n.video < 0 {
		return nil, errNoMedia
	}
	return n, nil
}

func (n *negotiation) acceptAudio(i int, l *mediaLine) {
	if a, f, dtmf := lineAudio(l); a != nil {
		n.audio, n.audioFmt, n.dtmfFmt, n.audioDir = i, f, dtmf, l.effectiveDir().reverse()
		n.media.Audio = a
	}
}

func (n *negotiation) acceptVideo(i int, l *mediaLine, sessionBitrate int) {
	if v, f := lineVideo(l); v != nil {
		n.video, n.videoFmt, n.videoDir = i, f, l.effectiveDir().reverse()
		n.media.Video = v
		n.media.MaxBitrate = cmp.Or(l.bitrate, sessionBitrate)
	}
}

// lineAudio is the audio the MCU takes from an m-line, offer or answer: its first format the MCU
// supports (f) with its telephone-event format (dtmf, nil if none); nil if there is none.
func lineAudio(l *mediaLine) (a *mcu.RTPAudio, f rtpFormat, dtmf *rtpFormat) {
	i := slices.IndexFunc(l.formats, func(f rtpFormat) bool { _, ok := f.audioCodec(); return ok })
	if i < 0 {
		return nil, rtpFormat{}, nil
	}
	f = l.formats[i]
	c, _ := f.audioCodec()
	dir := l.effectiveDir()
	a = &mcu.RTPAudio{Codec: c, PayloadType: f.pt, Remote: l.remote(), Send: dir.receives(), Receive: dir.sends()}
	if j := slices.IndexFunc(l.formats, rtpFormat.isDTMF); j >= 0 {
		dtmf = &l.formats[j]
		a.DTMFPayloadType = dtmf.pt
	}
	return a, f, dtmf
}

// lineVideo is the video the MCU takes from an m-line: its first H.264 format in packetization mode 0 or
// 1 (f), with the profile-level-id it gives ("" if none); nil if there is none.
func lineVideo(l *mediaLine) (*mcu.RTPVideo, rtpFormat) {
	for _, f := range l.formats {
		if mode, profile, ok := f.h264(); ok {
			dir := l.effectiveDir()
			return &mcu.RTPVideo{PayloadType: f.pt, PacketizationMode: mode, ProfileLevelID: profile,
				Remote: l.remote(), Send: dir.receives(), Receive: dir.sends()}, f
		}
	}
	return nil, rtpFormat{}
}

// origin is the o= line of the SDPs the MCU writes in one dialog: the version goes up with each.
type origin struct {
	sessID, version uint64
	host            netip.Addr // the default address, for o= and for streams bound to a wildcard address
}

// sdpWriter builds an SDP text.
type sdpWriter struct{ strings.Builder }

func (w *sdpWriter) line(format string, args ...any) {
	fmt.Fprintf(&w.Builder, format, args...)
	w.WriteString("\r\n")
}

func addrType(a netip.Addr) string {
	if a.Is6() {
		return "IP6"
	}
	return "IP4"
}

// streamAddr is the address to write for a local stream: its own, or o.host if it is bound to a
// wildcard address.
func (o origin) streamAddr(a netip.AddrPort) netip.Addr {
	if !a.Addr().IsValid() || a.Addr().IsUnspecified() {
		return o.host
	}
	return a.Addr()
}

func (w *sdpWriter) header(o origin, local mcu.RTPLocal) netip.Addr {
	c := o.streamAddr(local.Audio)
	if !local.Audio.IsValid() && local.Video.IsValid() {
		c = o.streamAddr(local.Video)
	}
	w.line("v=0")
	w.line("o=openmcu %d %d IN %s %s", o.sessID, o.version, addrType(o.host), o.host)
	w.line("s=openmcu")
	w.line("c=IN %s %s", addrType(c), c)
	w.line("t=0 0")
	return c
}

// mediaConn writes a media-level c= line when the stream's address differs from the session's.
func (w *sdpWriter) mediaConn(session netip.Addr, o origin, a netip.AddrPort) {
	if s := o.streamAddr(a); s != session {
		w.line("c=IN %s %s", addrType(s), s)
	}
}

func (w *sdpWriter) rtpmap(f rtpFormat) {
	if f.channels > 0 {
		w.line("a=rtpmap:%d %s/%d/%d", f.pt, f.name, f.clock, f.channels)
	} else {
		w.line("a=rtpmap:%d %s/%d", f.pt, f.name, f.clock)
	}
}

// answer writes the MCU's SDP answer to off: one line per offered m-line, the accepted ones at the local
// addresses, the others refused with port 0.
func (n *negotiation) answer(off description, local mcu.RTPLocal, o origin) []byte {
	var w sdpWriter
	session := w.header(o, local)
	for i, l := range off.lines {
		switch {
		case i == n.audio && local.Audio.IsValid():
			f := n.audioFmt
			fmts := strconv.Itoa(int(f.pt))
			if n.dtmfFmt != nil {
				fmts += " " + strconv.Itoa(int(n.dtmfFmt.pt))
			}
			w.line("m=audio %d %s %s", local.Audio.Port(), l.proto, fmts)
			w.mediaConn(session, o, local.Audio)
			w.rtpmap(f)
			if c, _ := f.audioCodec(); c == mcu.Opus {
				w.line("a=fmtp:%d useinbandfec=1", f.pt)
			}
			if n.dtmfFmt != nil {
				w.rtpmap(*n.dtmfFmt)
				fmtp := n.dtmfFmt.fmtp
				if fmtp == "" {
					fmtp = "0-16"
				}
				w.line("a=fmtp:%d %s", n.dtmfFmt.pt, fmtp)
			}
			w.line("a=ptime:20")
			w.line("a=%s", n.audioDir)
		case i == n.video && local.Video.IsValid():
			f := n.videoFmt
			v := n.media.Video
			w.line("m=video %d %s %d", local.Video.Port(), l.proto, f.pt)
			w.mediaConn(session, o, local.Video)
			w.rtpmap(f)
			fmtp := "packetization-mode=" + strconv.Itoa(v.PacketizationMode)
			if v.ProfileLevelID != "" {
				fmtp = "profile-level-id=" + v.ProfileLevelID + ";" + fmtp
			}
			w.line("a=fmtp:%d %s", f.pt, fmtp)
			for _, fb := range f.fb {
				if fb == "nack" || fb == "nack pli" || fb == "ccm fir" {
					w.line("a=rtcp-fb:%d %s", f.pt, fb)
				}
			}
			w.line("a=%s", n.videoDir)
		default:
			kind, proto, fmts := sanitizeToken(l.kind, "unknown"), sanitizeToken(l.proto, "RTP/AVP"), "0"
			if len(l.fmts) > 0 {
				fmts = sanitizeToken(l.fmts[0], "0")
			}
			w.line("m=%s 0 %s %s", kind, proto, fmts)
		}
	}
	return []byte(w.String())
}

// sanitizeToken echoes an offered token into an answer only if it is plain text; otherwise def.
func sanitizeToken(s, def string) string {
	if s == "" || len(s) > 64 {
		return def
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return def
		}
	}
	return s
}

// The formats of the MCU's own offers, in its order of preference. Read-only tables.
var ourAudioFormats = []rtpFormat{
	{pt: ptOpus, name: "opus", clock: 48000, channels: 2, fmtp: "useinbandfec=1"},
	{pt: ptG722, name: "G722", clock: 8000},
	{pt: ptPCMU, name: "PCMU", clock: 8000},
	{pt: ptPCMA, name: "PCMA", clock: 8000},
}

var ourDTMFFormat = rtpFormat{pt: ptDTMF, name: "telephone-event", clock: 8000, fmtp: "0-16"}

var ourVideoFormats = []rtpFormat{
	{pt: ptH264, name: "H264", clock: 90000, fmtp: "profile-level-id=" + defaultProfileLevelID + ";packetization-mode=1"},
	{pt: ptH264PM0, name: "H264", clock: 90000, fmtp: "profile-level-id=" + defaultProfileLevelID + ";packetization-mode=0"},
}

// offerMedia is the media to join with before the other side answers the MCU's offer: the preferred
// formats, inactive (nothing is sent, and no RTP is expected yet).
func offerMedia(video bool) mcu.RTPMedia {
	m := mcu.RTPMedia{Audio: &mcu.RTPAudio{Codec: mcu.Opus, PayloadType: ptOpus, DTMFPayloadType: ptDTMF}}
	if video {
		m.Video = &mcu.RTPVideo{PayloadType: ptH264, PacketizationMode: 1, ProfileLevelID: defaultProfileLevelID}
	}
	return m
}

// offer writes the MCU's SDP offer: audio at local.Audio, and video at local.Video if it is valid.
func offer(local mcu.RTPLocal, o origin) []byte {
	var w sdpWriter
	session := w.header(o, local)
	if local.Audio.IsValid() {
		fmts := make([]string, 0, len(ourAudioFormats)+1)
		for _, f := range ourAudioFormats {
			fmts = append(fmts, strconv.Itoa(int(f.pt)))
		}
		fmts = append(fmts, strconv.Itoa(ptDTMF))
		w.line("m=audio %d RTP/AVP %s", local.Audio.Port(), strings.Join(fmts, " "))
		w.mediaConn(session, o, local.Audio)
		for _, f := range ourAudioFormats {
			w.rtpmap(f)
			if f.fmtp != "" {
				w.line("a=fmtp:%d %s", f.pt, f.fmtp)
			}
		}
		w.rtpmap(ourDTMFFormat)
		w.line("a=fmtp:%d %s", ourDTMFFormat.pt, ourDTMFFormat.fmtp)
		w.line("a=ptime:20")
		w.line("a=sendrecv")
	}
	if local.Video.IsValid() {
		w.line("m=video %d RTP/AVP %d %d", local.Video.Port(), ptH264, ptH264PM0)
		w.mediaConn(session, o, local.Video)
		for _, f := range ourVideoFormats {
			w.rtpmap(f)
			w.line("a=fmtp:%d %s", f.pt, f.fmtp)
		}
		w.line("a=sendrecv")
	}
	return []byte(w.String())
}

// parseAnswer reads the other side's answer to the MCU's offer (written by offer with the same local):
// the media for UpdateRTP. It fails with errNoMedia when no offered stream was accepted.
func parseAnswer(b []byte, local mcu.RTPLocal) (mcu.RTPMedia, error) {
	ans, err := parseDescription(b)
	if err != nil {
		return mcu.RTPMedia{}, err
	}
	var m mcu.RTPMedia
	// The answer's m-lines match the offer's: audio first if offered, then video if offered.
	idx := 0
	if local.Audio.IsValid() {
		if idx < len(ans.lines) {
			m.Audio = answeredAudio(&ans.lines[idx])
		}
		idx++
	}
	if local.Video.IsValid() && idx < len(ans.lines) {
		l := &ans.lines[idx]
		if m.Video = answeredVideo(l); m.Video != nil {
			m.MaxBitrate = cmp.Or(l.bitrate, ans.bitrate)
		}
	}
	if m.Audio == nil && m.Video == nil {
		return mcu.RTPMedia{}, errNoMedia
	}
	return m, nil
}

func answeredAudio(l *mediaLine) *mcu.RTPAudio {
	if l.kind != "audio" || l.port == 0 || !l.rtp() {
		return nil
	}
	a, _, _ := lineAudio(l)
	return a
}

func answeredVideo(l *mediaLine) *mcu.RTPVideo {
	if l.kind != "video" || l.port == 0 || !l.rtp() {
		return nil
	}
	v, _ := lineVideo(l)
	if v != nil && v.ProfileLevelID == "" {
		v.ProfileLevelID = defaultProfileLevelID
	}
	return v
}
