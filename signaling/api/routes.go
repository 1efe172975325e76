package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
)

// Outputs starts and stops a room's recordings and live streams (implemented by package
// signaling/egress). Its methods are safe for concurrent use; errors wrap ErrNotFound, ErrBadRequest or
// ErrUnavailable where they apply.
type Outputs interface {
	StartRecording(room string, audioOnly bool) (Recording, error)
	Recordings(room string) []Recording
	StopRecording(room, id string) (Recording, error)
	// RecordingFile returns the path of a finished or running recording's file by its name, or an error
	// wrapping ErrNotFound; it never resolves outside the recordings directory.
	RecordingFile(name string) (string, error)
	StartStream(room, url string) (Stream, error)
	Streams(room string) []Stream
	StopStream(room, id string) (Stream, error)
}

// Dialer places and ends SIP calls into rooms (*sip.Server implements it through SIPDialer).
type Dialer interface {
	Dial(ctx context.Context, uri, room string) (id string, err error)
	Calls() []Call
	Hangup(id string) error
}

// Cluster lists the servers sharing rooms (cmd/mcu over signaling/cluster).
type Cluster interface {
	Nodes(ctx context.Context) ([]Node, error)
}

// Node is one server of a cluster as the API shows it. Plain data.
type Node struct {
	ID           string    `json:"id"`
	URL          string    `json:"url"`
	State        string    `json:"state"` // "serving" or "draining"
	Version      string    `json:"version"`
	Participants int       `json:"participants"`
	Rooms        int       `json:"rooms"`
	Capacity     int       `json:"capacity"`
	CPU          float64   `json:"cpu"` // load average per core
	Updated      time.Time `json:"updated"`
	Self         bool      `json:"self"` // the node that answered
}

// Errors an Outputs or Dialer reports; the API maps them to 404, 400 and 503.
var (
	ErrNotFound    = errors.New("not found")
	ErrBadRequest  = errors.New("bad request")
	ErrUnavailable = errors.New("unavailable")
)

// Recording is one recording of a room. Plain data.
type Recording struct {
	ID        string        `json:"id"`
	Room      string        `json:"room"`
	File      string        `json:"file"` // its name under the recordings directory; GET /api/v1/recordings/{file}
	AudioOnly bool          `json:"audio_only"`
	State     string        `json:"state"` // "recording", "finished" or "failed"
	Error     string        `json:"error,omitempty"`
	Started   time.Time     `json:"started"`
	Duration  time.Duration `json:"duration_ns"`
	Size      int64         `json:"size"`
}

// Stream is one live stream of a room to an RTMP(S) URL. Plain data.
type Stream struct {
	ID      string    `json:"id"`
	Room    string    `json:"room"`
	URL     string    `json:"url"`   // with its stream key hidden
	State   string    `json:"state"` // "connecting", "live", "reconnecting", "stopped" or "failed"
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
}

// Call is one SIP call. Plain data.
type Call struct {
	ID          string    `json:"id"`
	Direction   string    `json:"direction"`
	Room        string    `json:"room"`
	Name        string    `json:"name"`
	Peer        string    `json:"peer"`
	State       string    `json:"state"`
	Participant string    `json:"participant,omitempty"`
	Started     time.Time `json:"started"`
}

// room is a room as the API shows it.
type room struct {
	Name         string        `json:"name"`
	Layout       string        `json:"layout"`
	Participants []participant `json:"participants"`
	Recordings   []Recording   `json:"recordings"`
	Streams      []Stream      `json:"streams"`
}

// participant is a participant as the API shows it.
type participant struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"` // webrtc, whip, whep, sip, viewer, recorder, stream
	Tier       string    `json:"tier"`
	AudioMuted bool      `json:"audio_muted"`
	VideoMuted bool      `json:"video_muted"`
	Speaking   bool      `json:"speaking"`
	Viewer     bool      `json:"viewer"`
	Hidden     bool      `json:"hidden"`
	JoinedAt   time.Time `json:"joined_at"`
}

// routes lists the API's endpoints; the OpenAPI document must name exactly these (TestOpenAPI).
func (h *Handler) routes() []route {
	return []route{
		{"GET /api/v1/rooms", auth.NeedAdmin, h.listRooms},
		{"GET /api/v1/rooms/{room}", auth.NeedAdmin, h.getRoom},
		{"POST /api/v1/rooms/{room}/participants/{id}/mute", auth.NeedAdmin, h.muteParticipant},
		{"DELETE /api/v1/rooms/{room}/participants/{id}", auth.NeedAdmin, h.removeParticipant},
		{"PUT /api/v1/rooms/{room}/layout", auth.NeedAdmin, h.setLayout},
		{"POST /api/v1/rooms/{room}/recordings", auth.NeedRecord, h.startRecording},
		{"GET /api/v1/rooms/{room}/recordings", auth.NeedRecord, h.listRecordings},
		{"DELETE /api/v1/rooms/{room}/recordings/{id}", auth.NeedRecord, h.stopRecording},
		{"GET /api/v1/recordings/{file}", auth.NeedRecord, h.downloadRecording},
		{"POST /api/v1/rooms/{room}/streams", auth.NeedRecord, h.startStream},
		{"GET /api/v1/rooms/{room}/streams", auth.NeedRecord, h.listStreams},
		{"DELETE /api/v1/rooms/{room}/streams/{id}", auth.NeedRecord, h.stopStream},
		{"POST /api/v1/rooms/{room}/sip-calls", auth.NeedAdmin, h.dial},
		{"GET /api/v1/rooms/{room}/sip-calls", auth.NeedAdmin, h.listCalls},
		{"DELETE /api/v1/rooms/{room}/sip-calls/{id}", auth.NeedAdmin, h.hangup},
		{"GET /api/v1/nodes", auth.NeedAdmin, h.listNodes},
	}
}

// listNodes lists the cluster's servers (501 on a server alone, 503 when the cluster cannot be read).
func (h *Handler) listNodes(w http.ResponseWriter, r *http.Request) {
	if h.p.Cluster == nil {
		writeError(w, http.StatusNotImplemented, "not-available", "this server runs alone (no -redis)")
		return
	}
	nodes, err := h.p.Cluster.Nodes(r.Context())
	if err != nil {
		h.log.Warn("list nodes", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the cluster cannot be read now")
		return
	}
	if nodes == nil {
		nodes = []Node{}
	}
	writeJSON(w, http.StatusOK, nodes)
}

func (h *Handler) roomView(d mcu.RoomDetail) room {
	out := room{Name: d.Name, Layout: d.Layout.String(), Participants: []participant{}, Recordings: []Recording{},
		Streams: []Stream{}}
	for _, p := range d.Participants {
		kind := p.Kind
		if p.Viewer && kind == "webrtc" {
			kind = "viewer"
		}
		out.Participants = append(out.Participants, participant{ID: string(p.ID), Name: p.Name, Kind: kind,
			Tier: p.Tier, AudioMuted: p.AudioMuted, VideoMuted: p.VideoMuted, Speaking: p.Speaking, Viewer: p.Viewer,
			Hidden: p.Hidden, JoinedAt: p.JoinedAt})
	}
	if h.p.Outputs != nil {
		out.Recordings = append(out.Recordings, h.p.Outputs.Recordings(d.Name)...)
		out.Streams = append(out.Streams, h.p.Outputs.Streams(d.Name)...)
	}
	return out
}

func (h *Handler) listRooms(w http.ResponseWriter, _ *http.Request) {
	out := []room{}
	for _, d := range h.rooms.Rooms() {
		out = append(out, h.roomView(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getRoom(w http.ResponseWriter, r *http.Request) {
	d, ok := h.rooms.Room(r.PathValue("room"))
	if !ok {
		writeError(w, http.StatusNotFound, "not-found", "no such room")
		return
	}
	writeJSON(w, http.StatusOK, h.roomView(d))
}

// participantOf finds the request's participant; on failure it has answered 404.
func (h *Handler) participantOf(w http.ResponseWriter, r *http.Request) (*mcu.Participant, bool) {
	p, err := h.rooms.Participant(r.PathValue("room"), mcu.ParticipantID(r.PathValue("id")))
	if err != nil {
		writeError(w, http.StatusNotFound, "not-found", "no such room or participant")
		return nil, false
	}
	return p, true
}

func (h *Handler) muteParticipant(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Audio *bool `json:"audio"`
		Video *bool `json:"video"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Audio == nil && body.Video == nil {
		writeError(w, http.StatusBadRequest, "bad-body", `want {"audio": bool, "video": bool} (either may be left out)`)
		return
	}
	p, ok := h.participantOf(w, r)
	if !ok {
		return
	}
	info := p.Info()
	audio, video := info.AudioMuted, info.VideoMuted
	if body.Audio != nil {
		audio = *body.Audio
	}
	if body.Video != nil {
		video = *body.Video
	}
	p.SetMuted(audio, video)
	h.log.Info("api: participant muted", "room", r.PathValue("room"), "participant", p.ID(), "audio", audio, "video", video)
	writeJSON(w, http.StatusOK, map[string]bool{"audio": audio, "video": video})
}

func (h *Handler) removeParticipant(w http.ResponseWriter, r *http.Request) {
	p, ok := h.participantOf(w, r)
	if !ok {
		return
	}
	p.Remove(nil)
	h.log.Info("api: participant removed", "room", r.PathValue("room"), "participant", p.ID())
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) setLayout(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Layout string `json:"layout"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	l, err := mcu.ParseLayout(body.Layout)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad-body", `"layout" must be "grid" or "speaker"`)
		return
	}
	if err := h.rooms.SetRoomLayout(r.PathValue("room"), l); err != nil {
		if errors.Is(err, mcu.ErrNotFound) {
			writeError(w, http.StatusNotFound, "not-found", "no such room")
			return
		}
		writeError(w, http.StatusInternalServerError, "internal", "the layout could not be set everywhere")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"layout": l.String()})
}

// outputError answers an Outputs or Dialer error.
func outputError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not-found", err.Error())
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad-body", err.Error())
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

// outputs returns the Outputs, or answers 501.
func (h *Handler) outputs(w http.ResponseWriter) (Outputs, bool) {
	if h.p.Outputs == nil {
		writeError(w, http.StatusNotImplemented, "not-available", "recording and streaming are not configured")
		return nil, false
	}
	return h.p.Outputs, true
}

func (h *Handler) startRecording(w http.ResponseWriter, r *http.Request) {
	o, ok := h.outputs(w)
	if !ok {
		return
	}
	var body struct {
		AudioOnly bool `json:"audio_only"`
	}
	if r.ContentLength != 0 && !readJSON(w, r, &body) {
		return
	}
	rec, err := o.StartRecording(r.PathValue("room"), body.AudioOnly)
	if err != nil {
		outputError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rec)
}

func (h *Handler) listRecordings(w http.ResponseWriter, r *http.Request) {
	if o, ok := h.outputs(w); ok {
		writeJSON(w, http.StatusOK, append([]Recording{}, o.Recordings(r.PathValue("room"))...))
	}
}

func (h *Handler) stopRecording(w http.ResponseWriter, r *http.Request) {
	o, ok := h.outputs(w)
	if !ok {
		return
	}
	rec, err := o.StopRecording(r.PathValue("room"), r.PathValue("id"))
	if err != nil {
		outputError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (h *Handler) downloadRecording(w http.ResponseWriter, r *http.Request) {
	o, ok := h.outputs(w)
	if !ok {
		return
	}
	path, err := o.RecordingFile(r.PathValue("file"))
	if err != nil {
		outputError(w, err)
		return
	}
	// A recording may be long: no write deadline for the download (the server's is for API answers).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("file")+`"`)
	http.ServeFile(w, r, path) // Range requests, HEAD, If-Modified-Since
}

func (h *Handler) startStream(w http.ResponseWriter, r *http.Request) {
	o, ok := h.outputs(w)
	if !ok {
		return
	}
	var body struct {
		URL string `json:"url"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	s, err := o.StartStream(r.PathValue("room"), body.URL)
	if err != nil {
		outputError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (h *Handler) listStreams(w http.ResponseWriter, r *http.Request) {
	if o, ok := h.outputs(w); ok {
		writeJSON(w, http.StatusOK, append([]Stream{}, o.Streams(r.PathValue("room"))...))
	}
}

func (h *Handler) stopStream(w http.ResponseWriter, r *http.Request) {
	o, ok := h.outputs(w)
	if !ok {
		return
	}
	s, err := o.StopStream(r.PathValue("room"), r.PathValue("id"))
	if err != nil {
		outputError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// dialer returns the Dialer, or answers 501.
func (h *Handler) dialer(w http.ResponseWriter) (Dialer, bool) {
	if h.p.Dialer == nil {
		writeError(w, http.StatusNotImplemented, "not-available", "SIP is off")
		return nil, false
	}
	return h.p.Dialer, true
}

func (h *Handler) dial(w http.ResponseWriter, r *http.Request) {
	d, ok := h.dialer(w)
	if !ok {
		return
	}
	var body struct {
		URI string `json:"uri"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	id, err := d.Dial(r.Context(), body.URI, r.PathValue("room"))
	if err != nil {
		outputError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (h *Handler) listCalls(w http.ResponseWriter, r *http.Request) {
	d, ok := h.dialer(w)
	if !ok {
		return
	}
	out := []Call{}
	for _, c := range d.Calls() {
		if c.Room == r.PathValue("room") {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) hangup(w http.ResponseWriter, r *http.Request) {
	d, ok := h.dialer(w)
	if !ok {
		return
	}
	for _, c := range d.Calls() {
		if c.ID == r.PathValue("id") && c.Room == r.PathValue("room") {
			if err := d.Hangup(c.ID); err != nil {
				outputError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, "not-found", "no such call in this room")
}
