// Package api is the operators' REST API under /api/v1: rooms and their participants (list, mute,
// remove, the room's layout), recordings and live streams, and SIP dial-out. Requests are authorised by
// a room access token (package auth) with roomAdmin, or roomRecord for recordings and streams, or by the
// static admin bearer token. Every answer is JSON; errors are {"code": ..., "message": ...}. The OpenAPI
// 3 document of the API is served at /api/v1/openapi.json, and a test checks it against the routes.
package api

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
)

//go:embed openapi.json
var openAPI []byte

// Rooms is what the API needs of the MCU; *mcu.MCU implements it.
type Rooms interface {
	Rooms() []mcu.RoomDetail
	Room(name string) (mcu.RoomDetail, bool)
	Participant(room string, id mcu.ParticipantID) (*mcu.Participant, error)
	SetRoomLayout(room string, l mcu.Layout) error
}

// Config is the API's configuration. Plain data.
type Config struct {
	// Keys verify room access tokens; empty: only AdminToken is accepted.
	Keys auth.Keys
	// AdminToken is a static bearer token with every right; empty: none.
	AdminToken string
}

// Params holds what the API serves besides the rooms: each may be nil, and its endpoints then answer
// 501.
type Params struct {
	Logger  *slog.Logger
	Outputs Outputs // recordings and live streams
	Dialer  Dialer  // SIP dial-out
	Cluster Cluster // the servers sharing rooms (GET /api/v1/nodes)
	// Owner, when set, names the server that owns a room when it is another one (its base URL; "" for
	// this one or nobody): requests about that room are answered 307 to the same path there.
	Owner func(ctx context.Context, room string) (baseURL string, err error)
}

// Handler serves the API. Mount it at /api/v1/. Safe for concurrent use.
type Handler struct {
	cfg   Config
	rooms Rooms
	p     Params
	log   *slog.Logger
	mux   *http.ServeMux
}

// New returns the API over rooms. With neither keys nor an admin token every request is refused (403):
// the API is never open.
func New(rooms Rooms, cfg Config, p Params) *Handler {
	h := &Handler{cfg: cfg, rooms: rooms, p: p, log: p.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range h.routes() {
		h.mux.HandleFunc(r.pattern, h.guard(r))
	}
	h.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	h.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not-found", "no such endpoint: see /api/v1/openapi.json")
	})
	return h
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// route is one endpoint: its pattern (method and path), the grant it needs and its handler.
type route struct {
	pattern string
	need    auth.Need
	serve   func(w http.ResponseWriter, r *http.Request)
}

// guard authorises a request for its route before serving it.
func (h *Handler) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.authorize(r, r.PathValue("room"), rt.need); err != nil {
			status := auth.HTTPStatus(err)
			code := "unauthorized"
			switch {
			case errors.Is(err, errAPIOff):
				status, code = http.StatusForbidden, "api-off"
			case status == http.StatusForbidden:
				code = "forbidden"
			case errors.Is(err, auth.ErrExpired):
				code = "token-expired"
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="openmcu"`)
			}
			msg := auth.Message(err)
			if errors.Is(err, errAPIOff) {
				msg = err.Error()
			}
			writeError(w, status, code, msg)
			return
		}
		if room := r.PathValue("room"); room != "" && h.p.Owner != nil && !h.hasRoom(room) {
			if base, err := h.p.Owner(r.Context(), room); err == nil && base != "" {
				u := strings.TrimSuffix(base, "/") + r.URL.RequestURI()
				http.Redirect(w, r, u, http.StatusTemporaryRedirect)
				return
			}
		}
		rt.serve(w, r)
	}
}

// hasRoom reports whether room is open on this server.
func (h *Handler) hasRoom(room string) bool {
	if h.rooms == nil {
		return false
	}
	_, ok := h.rooms.Room(room)
	return ok
}

// errAPIOff: neither keys nor an admin token are configured.
var errAPIOff = errors.New("the operators' API is off: set -api-keys or -admin-token")

// authorize accepts the admin token, or a room access token granting need in room (every room when room
// is empty: listing them needs a grant for all).
func (h *Handler) authorize(r *http.Request, room string, need auth.Need) error {
	if len(h.cfg.Keys) == 0 && h.cfg.AdminToken == "" {
		return errAPIOff
	}
	tok := auth.TokenFromRequest(r)
	if h.cfg.AdminToken != "" && tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.AdminToken)) == 1 {
		return nil
	}
	if len(h.cfg.Keys) == 0 {
		if tok == "" {
			return auth.ErrNoToken
		}
		return auth.ErrBadSignature
	}
	claims, err := h.cfg.Keys.Verify(tok, time.Now())
	if err != nil {
		return err
	}
	return claims.Allow(room, need)
}

// apiError is an error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone
}

// readJSON decodes a small JSON body strictly into v; on failure it has answered 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad-body", "the body must be a JSON object as documented: "+
			strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}
