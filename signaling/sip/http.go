package sip

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/openmcu/mcu/mcu"
)

// Handler returns the dial-out HTTP API. Mount it at /sip/calls and /sip/calls/ (it matches the full
// paths); it is meant for operators, so the owner should put it behind the same access control as any
// other administrative endpoint:
//
//	POST   /sip/calls        {"uri": "sip:alice@example.org", "room": "r"}
//	                         -> 201 {"id": "…"} once answered; 400 bad URI or room name, 409 room full,
//	                            502 {"error", "sip_status"} refused, 504 no answer, 503 closing, too
//	                            many calls or rooms, or the MCU full
//	GET    /sip/calls        -> 200 [CallInfo…] (inbound and outbound)
//	DELETE /sip/calls/{id}   -> 204 after BYE (or CANCEL while ringing); 404 unknown id
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sip/calls", s.httpDial)
	mux.HandleFunc("GET /sip/calls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Calls())
	})
	mux.HandleFunc("DELETE /sip/calls/{id}", s.httpHangup)
	return mux
}

// dialRequest is the body of POST /sip/calls.
type dialRequest struct {
	URI  string `json:"uri"`
	Room string `json:"room"`
}

func (s *Server) httpDial(w http.ResponseWriter, r *http.Request) {
	var req dialRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.URI == "" || req.Room == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": `want {"uri": "sip:user@host", "room": "name"}`})
		return
	}
	id, err := s.Dial(r.Context(), req.URI, req.Room)
	if err == nil {
		writeJSON(w, http.StatusCreated, map[string]any{"id": id})
		return
	}
	var se *StatusError
	switch {
	case errors.As(err, &se):
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "sip_status": se.Code})
		return
	case errors.Is(err, ErrBadURI), errors.Is(err, mcu.ErrBadName):
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
	case errors.Is(err, mcu.ErrRoomFull), errors.Is(err, ErrCallEnded):
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error()})
	case errors.Is(err, ErrNoAnswer), errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusGatewayTimeout, map[string]any{"error": err.Error()})
	case errors.Is(err, ErrServerClosed), errors.Is(err, mcu.ErrClosed), errors.Is(err, ErrTooManyCalls),
		errors.Is(err, mcu.ErrServerFull), errors.Is(err, mcu.ErrTooManyRooms):
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
	}
}

func (s *Server) httpHangup(w http.ResponseWriter, r *http.Request) {
	switch err := s.Hangup(r.PathValue("id")); {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrNoSuchCall):
		writeJSON(w, http.StatusNotFound, map[string]any{"error": err.Error()})
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // the client may be gone: nothing to do about it
}
