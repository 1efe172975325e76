package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/openmcu/mcu/mcu"
)

// ErrorCode is the "code" of an "error" message: what kind of mistake the client (or the server) made.
type ErrorCode string

// The error codes of the WebSocket protocol.
const (
	// CodeBadJSON: the frame is not valid JSON.
	CodeBadJSON ErrorCode = "bad-json"
	// CodeUnknownType: the message's "type" is not one the server knows.
	CodeUnknownType ErrorCode = "unknown-type"
	// CodeBadMessage: a field is missing, of the wrong type or out of range (also a binary frame).
	CodeBadMessage ErrorCode = "bad-message"
	// CodeNotJoined: the message needs a "join" first.
	CodeNotJoined ErrorCode = "not-joined"
	// CodeAlreadyJoined: a second "join" on the same socket.
	CodeAlreadyJoined ErrorCode = "already-joined"
	// CodeRoomFull: the room has as many participants as it may.
	CodeRoomFull ErrorCode = "room-full"
	// CodeBadSDP: the MCU rejected an offer, an answer or an ICE candidate.
	CodeBadSDP ErrorCode = "bad-sdp"
	// CodeInternal: the server failed, or removed the participant (media connection lost, shutdown).
	CodeInternal ErrorCode = "internal"
	// CodeRateLimited: the client sends too many messages; the one that got this was ignored.
	CodeRateLimited ErrorCode = "rate-limited"
	// CodeServerFull: the server has as many rooms or participants as it may.
	CodeServerFull ErrorCode = "server-full"
	// CodeUnauthorized: the join needs a room access token and it is missing, malformed, badly signed
	// or expired (then the message says "expired").
	CodeUnauthorized ErrorCode = "unauthorized"
	// CodeTokenExpired: the token has expired ("this link has expired").
	CodeTokenExpired ErrorCode = "token-expired"
	// CodeForbidden: the token is valid but not for this room, or lacks the grant the request needs.
	CodeForbidden ErrorCode = "forbidden"
	// CodeMoved: another server of the cluster serves the room; the error's "url" is that server's
	// WebSocket, where the client joins instead.
	CodeMoved ErrorCode = "moved"
	// CodeUnavailable: the cluster cannot place the room now (its shared state is unreachable); try later.
	CodeUnavailable ErrorCode = "unavailable"
)

// Error is a failure the client is told about: it becomes {"type":"error","code":...,"message":...}.
// Message is short, human readable and never carries internal details. It is plain data.
type Error struct {
	Code    ErrorCode
	Message string
	URL     string // CodeMoved: where to go
}

// Error returns "code: message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Message types, the "type" field of every message.
const (
	typeJoin      = "join"
	typeOffer     = "offer"
	typeAnswer    = "answer"
	typeCandidate = "candidate"
	typeMute      = "mute"
	typeLayout    = "layout"
	typeCaps      = "caps"
	typeLeave     = "leave"
	typeRecord    = "record"
	typeScreen    = "screen"
	typePin       = "pin"

	typeJoined            = "joined"
	typeParticipantJoined = "participant-joined"
	typeParticipantLeft   = "participant-left"
	typeSpeaking          = "speaking"
	typeMuted             = "muted"
	typeError             = "error"
	typeQuality           = "quality"
	typeRoom              = "room"
)

// Client-to-server messages, after decoding and validation. decodeMessage returns one of them, by value.
type (
	joinMsg struct {
		Room, Name string
		Token      string // the room access token, when not on the socket's URL
		Layout     mcu.Layout
		HasLayout  bool // "layout" was given; otherwise the MCU's default (grid) stays
		MaxKbps    int  // 0 when absent: no cap
	}
	// offerMsg and answerMsg carry an SDP.
	offerMsg  struct{ SDP string }
	answerMsg struct{ SDP string }
	// candidateMsg carries a trickled candidate; End is true for null (or an empty candidate string), the
	// end of candidates, which the server ignores.
	candidateMsg struct {
		Candidate mcu.ICECandidate
		End       bool
	}
	muteMsg   struct{ Audio, Video bool } // true = muted
	layoutMsg struct{ Layout mcu.Layout }
	// capsMsg limits the video the client receives; zero fields mean no limit.
	capsMsg  struct{ Caps mcu.Caps }
	leaveMsg struct{}
	// recordMsg starts (On) or stops the room's recording: the page's record button.
	recordMsg struct{ On bool }
	// screenMsg starts (On, with the MediaStream ID of the screen track) or stops sharing a screen.
	screenMsg struct {
		On     bool
		Stream string
	}
	// pinMsg pins a participant for this client ("" unpins).
	pinMsg struct{ ID mcu.ParticipantID }
)

// wireCandidate is RTCIceCandidateInit on the wire, both ways.
type wireCandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// decodeMessage parses and validates one client frame. Errors are *Error with CodeBadJSON,
// CodeUnknownType or CodeBadMessage. It never panics, whatever data holds.
func decodeMessage(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, errorf(CodeBadJSON, "the message is not valid JSON")
	}
	var env struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, errorf(CodeBadMessage, "the message must be a JSON object with a string \"type\"")
	}
	if env.Type == nil {
		return nil, errorf(CodeBadMessage, "the message has no \"type\"")
	}
	typ := *env.Type
	switch typ {
	case typeJoin:
		return decodeJoin(typ, data)
	case typeOffer, typeAnswer:
		return decodeSDP(typ, data)
	case typeCandidate:
		return decodeCandidate(typ, data)
	case typeMute:
		return decodeMute(typ, data)
	case typeLayout:
		return decodeLayout(typ, data)
	case typeCaps:
		return decodeCaps(typ, data)
	case typeLeave:
		return leaveMsg{}, nil
	case typeRecord:
		return decodeRecord(typ, data)
	case typeScreen:
		return decodeScreen(typ, data)
	case typePin:
		return decodePin(typ, data)
	}
	return nil, errorf(CodeUnknownType, "unknown message type %q", truncate(typ, 32))
}

// decodeJoin reads a "join": a room, a name (or a token), an optional layout and maxKbps.
func decodeJoin(typ string, data []byte) (any, error) {
	var m struct {
		Room    *string `json:"room"`
		Name    *string `json:"name"`
		Layout  *string `json:"layout"`
		MaxKbps *int    `json:"maxKbps"`
		Token   *string `json:"token"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	j := joinMsg{}
	if m.Token != nil {
		j.Token = *m.Token
	}
	if m.Name != nil {
		j.Name = *m.Name
	}
	if m.Room == nil || *m.Room == "" || (j.Name == "" && j.Token == "") {
		return nil, errorf(CodeBadMessage, "join needs a non-empty \"room\" and \"name\"")
	}
	j.Room = *m.Room
	if m.Layout != nil {
		l, err := mcu.ParseLayout(*m.Layout)
		if err != nil {
			return nil, errorf(CodeBadMessage, "\"layout\" must be \"grid\" or \"speaker\"")
		}
		j.Layout, j.HasLayout = l, true
	}
	if m.MaxKbps != nil {
		if *m.MaxKbps < 0 {
			return nil, errorf(CodeBadMessage, "\"maxKbps\" must not be negative")
		}
		j.MaxKbps = *m.MaxKbps
	}
	return j, nil
}

// decodeSDP reads an "offer" or an "answer": a non-empty SDP.
func decodeSDP(typ string, data []byte) (any, error) {
	var m struct {
		SDP *string `json:"sdp"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if m.SDP == nil || *m.SDP == "" {
		return nil, errorf(CodeBadMessage, "%s needs a non-empty \"sdp\"", typ)
	}
	if typ == typeOffer {
		return offerMsg{SDP: *m.SDP}, nil
	}
	return answerMsg{SDP: *m.SDP}, nil
}

// decodeCandidate reads a trickled "candidate": an RTCIceCandidateInit, or null for the end.
func decodeCandidate(typ string, data []byte) (any, error) {
	var m struct {
		Candidate json.RawMessage `json:"candidate"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if len(m.Candidate) == 0 {
		return nil, errorf(CodeBadMessage, "candidate needs a \"candidate\" (an object, or null)")
	}
	if bytes.Equal(m.Candidate, []byte("null")) {
		return candidateMsg{End: true}, nil
	}
	var c wireCandidate
	if err := json.Unmarshal(m.Candidate, &c); err != nil {
		return nil, errorf(CodeBadMessage, "\"candidate\" must be an RTCIceCandidateInit object or null")
	}
	if c.Candidate == "" {
		return candidateMsg{End: true}, nil
	}
	return candidateMsg{Candidate: mcu.ICECandidate{Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}}, nil
}

// decodeMute reads a "mute": booleans "audio" and "video".
func decodeMute(typ string, data []byte) (any, error) {
	var m struct {
		Audio *bool `json:"audio"`
		Video *bool `json:"video"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if m.Audio == nil || m.Video == nil {
		return nil, errorf(CodeBadMessage, "mute needs boolean \"audio\" and \"video\"")
	}
	return muteMsg{Audio: *m.Audio, Video: *m.Video}, nil
}

// decodeRecord reads a "record": boolean "on".
func decodeRecord(typ string, data []byte) (any, error) {
	var m struct {
		On *bool `json:"on"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if m.On == nil {
		return nil, errorf(CodeBadMessage, "record needs a boolean \"on\"")
	}
	return recordMsg{On: *m.On}, nil
}

// decodeScreen reads a "screen": boolean "on" and, when on, the "stream" ID of the screen track (1 to
// 128 bytes).
func decodeScreen(typ string, data []byte) (any, error) {
	var m struct {
		On     *bool   `json:"on"`
		Stream *string `json:"stream"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if m.On == nil {
		return nil, errorf(CodeBadMessage, "screen needs a boolean \"on\"")
	}
	if !*m.On {
		return screenMsg{}, nil
	}
	if m.Stream == nil || *m.Stream == "" || len(*m.Stream) > 128 || *m.Stream == "*" {
		return nil, errorf(CodeBadMessage, "screen needs the \"stream\" id of the screen track")
	}
	return screenMsg{On: true, Stream: *m.Stream}, nil
}

// decodePin reads a "pin": the "id" of a participant, or "" to unpin.
func decodePin(typ string, data []byte) (any, error) {
	var m struct {
		ID *string `json:"id"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if m.ID == nil || len(*m.ID) > 128 {
		return nil, errorf(CodeBadMessage, "pin needs an \"id\" (empty to unpin)")
	}
	return pinMsg{ID: mcu.ParticipantID(*m.ID)}, nil
}

// decodeLayout reads a "layout": grid or speaker.
func decodeLayout(typ string, data []byte) (any, error) {
	var m struct {
		Layout *string `json:"layout"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	if m.Layout == nil {
		return nil, errorf(CodeBadMessage, "layout needs a \"layout\"")
	}
	l, err := mcu.ParseLayout(*m.Layout)
	if err != nil {
		return nil, errorf(CodeBadMessage, "\"layout\" must be \"grid\" or \"speaker\"")
	}
	return layoutMsg{Layout: l}, nil
}

// decodeCaps reads "caps": non-negative limits on the video received, 0 for none.
func decodeCaps(typ string, data []byte) (any, error) {
	var m struct {
		MaxKbps      *int `json:"maxKbps"`
		MaxWidth     *int `json:"maxWidth"`
		MaxHeight    *int `json:"maxHeight"`
		MaxFrameRate *int `json:"maxFrameRate"`
	}
	if err := unmarshalFields(typ, data, &m); err != nil {
		return nil, err
	}
	get := func(p *int) (int, bool) {
		if p == nil {
			return 0, true
		}
		return *p, *p >= 0 && *p <= 1<<20
	}
	kbps, ok1 := get(m.MaxKbps)
	w, ok2 := get(m.MaxWidth)
	h, ok3 := get(m.MaxHeight)
	fps, ok4 := get(m.MaxFrameRate)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, errorf(CodeBadMessage, "caps fields must be non-negative integers (0 = no limit)")
	}
	return capsMsg{Caps: mcu.Caps{MaxBitrate: kbps * 1000, MaxWidth: w, MaxHeight: h, MaxFrameRate: fps}}, nil
}

// unmarshalFields decodes a message of a known type into m, turning a field of the wrong JSON type into
// CodeBadMessage.
func unmarshalFields(typ string, data []byte, m any) error {
	if err := json.Unmarshal(data, m); err != nil {
		var what string
		if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
			what = fmt.Sprintf(": field %q has the wrong type", truncate(te.Field, 32))
		}
		return errorf(CodeBadMessage, "bad %s message%s", typ, what)
	}
	return nil
}

// truncate shortens s to at most n bytes for an error message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Server-to-client messages, as they go on the wire.
type (
	wireParticipant struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		AudioMuted bool   `json:"audioMuted"`
		VideoMuted bool   `json:"videoMuted"`
		Speaking   bool   `json:"speaking"`
		// Viewer: it only watches (WHEP, /watch); absent for participants.
		Viewer bool `json:"viewer,omitempty"`
	}
	wireICEServer struct {
		URLs       []string `json:"urls"`
		Username   string   `json:"username,omitempty"`
		Credential string   `json:"credential,omitempty"`
	}
	joinedOut struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Room string `json:"room"`
		// Name is the display name the others see: the join's, or the access token's.
		Name         string            `json:"name,omitempty"`
		ICEServers   []wireICEServer   `json:"iceServers"`
		Participants []wireParticipant `json:"participants"`
		// Recording and Streaming: the room is being recorded or streamed out now ("room" messages follow
		// the changes). CanRecord: this participant may start and stop recordings ("record").
		Recording bool `json:"recording"`
		Streaming bool `json:"streaming"`
		CanRecord bool `json:"canRecord"`
		// Presenter and PresenterName: who shares its screen now, if anyone.
		Presenter     string `json:"presenter,omitempty"`
		PresenterName string `json:"presenterName,omitempty"`
	}
	roomOut struct {
		Type          string `json:"type"`
		Recording     bool   `json:"recording"`
		Streaming     bool   `json:"streaming"`
		Presenter     string `json:"presenter,omitempty"`
		PresenterName string `json:"presenterName,omitempty"`
	}
	sdpOut struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}
	candidateOut struct {
		Type      string        `json:"type"`
		Candidate wireCandidate `json:"candidate"`
	}
	participantJoinedOut struct {
		Type        string          `json:"type"`
		Participant wireParticipant `json:"participant"`
	}
	participantLeftOut struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	speakingOut struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Speaking bool   `json:"speaking"`
	}
	mutedOut struct {
		Type  string `json:"type"`
		ID    string `json:"id"`
		Audio bool   `json:"audio"`
		Video bool   `json:"video"`
	}
	qualityOut struct {
		Type             string  `json:"type"`
		Tier             string  `json:"tier"`
		Limit            string  `json:"limit"`
		EstimatedKbps    int     `json:"estimatedKbps"`
		SentKbps         int     `json:"sentKbps"`
		LossPct          float64 `json:"lossPct"`
		KeyframeRequests uint64  `json:"keyframeRequests"`
		KeyframesForced  uint64  `json:"keyframesForced"`
	}
	errorOut struct {
		Type    string    `json:"type"`
		Code    ErrorCode `json:"code"`
		Message string    `json:"message"`
		URL     string    `json:"url,omitempty"`
	}
)

func qualityOutOf(q mcu.Quality) qualityOut {
	return qualityOut{Type: typeQuality, Tier: q.Tier, Limit: q.Limit, EstimatedKbps: q.EstimatedBitrate / 1000,
		SentKbps: q.SentBitrate / 1000, LossPct: math.Round(q.Loss*1000) / 10, KeyframeRequests: q.KeyframeRequests,
		KeyframesForced: q.KeyframesForced}
}

func toWireParticipant(p mcu.ParticipantInfo) wireParticipant {
	return wireParticipant{ID: string(p.ID), Name: p.Name, AudioMuted: p.AudioMuted, VideoMuted: p.VideoMuted,
		Speaking: p.Speaking, Viewer: p.Viewer}
}

func toWireICEServers(servers []mcu.ICEServer) []wireICEServer {
	out := make([]wireICEServer, 0, len(servers))
	for _, s := range servers {
		urls := s.URLs
		if urls == nil {
			urls = []string{}
		}
		out = append(out, wireICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// rosterOut turns a roster event into its wire message, or nil for an event type the protocol lacks.
func rosterOut(e mcu.RosterEvent) any {
	id := string(e.Participant.ID)
	switch e.Type {
	case mcu.RosterJoined:
		return participantJoinedOut{Type: typeParticipantJoined, Participant: toWireParticipant(e.Participant)}
	case mcu.RosterLeft:
		return participantLeftOut{Type: typeParticipantLeft, ID: id}
	case mcu.RosterSpeaking:
		return speakingOut{Type: typeSpeaking, ID: id, Speaking: e.Participant.Speaking}
	case mcu.RosterMuted:
		return mutedOut{Type: typeMuted, ID: id, Audio: e.Participant.AudioMuted, Video: e.Participant.VideoMuted}
	case mcu.RosterRoom:
		return roomOut{Type: typeRoom, Recording: e.Room.Recording, Streaming: e.Room.Streaming,
			Presenter: string(e.Room.Presenter), PresenterName: e.Room.PresenterName}
	}
	return nil
}

func candidateOutOf(c mcu.ICECandidate) candidateOut {
	return candidateOut{Type: typeCandidate, Candidate: wireCandidate{Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}}
}

func errorOutOf(e *Error) errorOut {
	return errorOut{Type: typeError, Code: e.Code, Message: e.Message, URL: e.URL}
}

// roster folds the roster events a participant receives while joining into the list of the others, in
// the order they joined, with their latest state.
type roster struct {
	order []mcu.ParticipantID
	byID  map[mcu.ParticipantID]mcu.ParticipantInfo
	room  mcu.RoomState // the latest RosterRoom
}

func (r *roster) apply(e mcu.RosterEvent) {
	if e.Type == mcu.RosterRoom {
		r.room = e.Room
		return
	}
	if r.byID == nil {
		r.byID = make(map[mcu.ParticipantID]mcu.ParticipantInfo)
	}
	id := e.Participant.ID
	_, known := r.byID[id]
	switch e.Type {
	case mcu.RosterJoined:
		if !known {
			r.order = append(r.order, id)
		}
		r.byID[id] = e.Participant
	case mcu.RosterLeft:
		if known {
			delete(r.byID, id)
			for i, o := range r.order {
				if o == id {
					r.order = append(r.order[:i], r.order[i+1:]...)
					break
				}
			}
		}
	case mcu.RosterSpeaking, mcu.RosterMuted:
		if known {
			r.byID[id] = e.Participant
		}
	}
}

func (r *roster) participants() []wireParticipant {
	out := make([]wireParticipant, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, toWireParticipant(r.byID[id]))
	}
	return out
}
