package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var keys = auth.Keys{"k": strings.Repeat("s", 40)}

func token(t *testing.T, g auth.VideoGrant) string {
	t.Helper()
	c := auth.Claims{Video: &g}
	c.Subject = "op"
	tok, err := keys.Sign("k", c, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type nopListener struct{}

func (nopListener) OnICECandidate(mcu.ICECandidate) {}
func (nopListener) OnRoster(mcu.RosterEvent)        {}
func (nopListener) OnClosed(error)                  {}

// fakeOutputs records what it was asked.
type fakeOutputs struct {
	mu   sync.Mutex
	recs []Recording
	dir  string
}

func (f *fakeOutputs) StartRecording(room string, audioOnly bool) (Recording, error) {
	if room == "nope" {
		return Recording{}, fmt.Errorf("room %q: %w", room, ErrNotFound)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := Recording{ID: fmt.Sprint("rec", len(f.recs)), Room: room, File: room + ".mp4", AudioOnly: audioOnly, State: "recording"}
	f.recs = append(f.recs, r)
	return r, nil
}
func (f *fakeOutputs) Recordings(room string) []Recording {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(f.recs), func(r Recording) bool { return r.Room != room })
}
func (f *fakeOutputs) StopRecording(room, id string) (Recording, error) {
	for _, r := range f.Recordings(room) {
		if r.ID == id {
			r.State, r.Size = "finished", 1234
			return r, nil
		}
	}
	return Recording{}, ErrNotFound
}
func (f *fakeOutputs) RecordingFile(name string) (string, error) {
	if strings.ContainsAny(name, "/\\") || name != "r.mp4" {
		return "", ErrNotFound
	}
	return filepath.Join(f.dir, name), nil
}
func (f *fakeOutputs) StartStream(room, url string) (Stream, error) {
	if !strings.HasPrefix(url, "rtmp://") {
		return Stream{}, fmt.Errorf("%w: want an rtmp:// URL", ErrBadRequest)
	}
	return Stream{ID: "s1", Room: room, URL: "rtmp://host/app/***", State: "connecting"}, nil
}
func (f *fakeOutputs) Streams(string) []Stream { return nil }
func (f *fakeOutputs) StopStream(room, id string) (Stream, error) {
	return Stream{}, ErrNotFound
}

type fakeDialer struct{}

func (fakeDialer) Dial(_ context.Context, uri, room string) (string, error) {
	if !strings.HasPrefix(uri, "sip:") {
		return "", fmt.Errorf("%w: bad uri", ErrBadRequest)
	}
	return "c1", nil
}
func (fakeDialer) Calls() []Call       { return []Call{{ID: "c1", Room: "r"}, {ID: "c2", Room: "other"}} }
func (fakeDialer) Hangup(string) error { return nil }

// do sends a request with a bearer token and returns the status and the decoded body.
func do(t *testing.T, h http.Handler, method, path, tok, body string) (int, any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var v any
	if ct := rec.Header().Get("Content-Type"); ct == "application/json" {
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, rec.Body.String())
		}
		if rec.Code >= 400 {
			if m, _ := v.(map[string]any); m["code"] == nil || m["message"] == nil {
				t.Errorf("%s %s: error %q without code and message", method, path, rec.Body.String())
			}
		}
	}
	return rec.Code, v
}

func TestAPI(t *testing.T) {
	m, err := mcu.New(mcu.DefaultConfig(), mcu.Params{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ann, err := m.Join("r", "Ann", nopListener{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.JoinWith("r", "Rec", nopListener{}, mcu.JoinOptions{Viewer: true, Hidden: true, Kind: "recorder"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "r.mp4"), []byte("0123456789"), 0o600)
	outs := &fakeOutputs{dir: dir}
	h := New(m, Config{Keys: keys, AdminToken: "adm"}, Params{Outputs: outs, Dialer: fakeDialer{}})
	admin := token(t, auth.VideoGrant{RoomAdmin: true})
	roomAdmin := token(t, auth.VideoGrant{Room: "r", RoomAdmin: true})
	recorder := token(t, auth.VideoGrant{Room: "r", RoomRecord: true})
	joiner := token(t, auth.VideoGrant{Room: "r", RoomJoin: true})

	for _, c := range []struct {
		method, path, tok, body string
		want                    int
	}{
		{"GET", "/api/v1/rooms", "", "", 401},
		{"GET", "/api/v1/rooms", "garbage", "", 401},
		{"GET", "/api/v1/rooms", joiner, "", 403},
		{"GET", "/api/v1/rooms", roomAdmin, "", 403}, // listing needs every room
		{"GET", "/api/v1/rooms", admin, "", 200},
		{"GET", "/api/v1/rooms", "adm", "", 200},
		{"GET", "/api/v1/rooms/r", roomAdmin, "", 200},
		{"GET", "/api/v1/rooms/other", roomAdmin, "", 403},
		{"GET", "/api/v1/rooms/nope", admin, "", 404},
		{"GET", "/api/v1/rooms/r", recorder, "", 403},
		{"POST", "/api/v1/rooms/r/participants/" + string(ann.ID()) + "/mute", roomAdmin, `{"audio":true}`, 200},
		{"POST", "/api/v1/rooms/r/participants/" + string(ann.ID()) + "/mute", roomAdmin, `{}`, 400},
		{"POST", "/api/v1/rooms/r/participants/p999/mute", roomAdmin, `{"audio":true}`, 404},
		{"POST", "/api/v1/rooms/r/participants/p1/mute", roomAdmin, `{"audio":1}`, 400},
		{"PUT", "/api/v1/rooms/r/layout", roomAdmin, `{"layout":"speaker"}`, 200},
		{"PUT", "/api/v1/rooms/r/layout", roomAdmin, `{"layout":"mosaic"}`, 400},
		{"PUT", "/api/v1/rooms/nope/layout", admin, `{"layout":"grid"}`, 404},
		{"POST", "/api/v1/rooms/r/recordings", recorder, "", 201},
		{"POST", "/api/v1/rooms/r/recordings", roomAdmin, `{"audio_only":true}`, 201},
		{"POST", "/api/v1/rooms/r/recordings", joiner, "", 403},
		{"GET", "/api/v1/rooms/r/recordings", recorder, "", 200},
		{"DELETE", "/api/v1/rooms/r/recordings/rec0", recorder, "", 200},
		{"DELETE", "/api/v1/rooms/r/recordings/nope", recorder, "", 404},
		{"GET", "/api/v1/recordings/r.mp4", admin, "", 200},
		{"GET", "/api/v1/recordings/..%2fetc", admin, "", 404},
		{"POST", "/api/v1/rooms/r/streams", recorder, `{"url":"http://x"}`, 400},
		{"POST", "/api/v1/rooms/r/streams", recorder, `{"url":"rtmp://host/app/key"}`, 201},
		{"DELETE", "/api/v1/rooms/r/streams/s9", recorder, "", 404},
		{"POST", "/api/v1/rooms/r/sip-calls", roomAdmin, `{"uri":"sip:a@127.0.0.1"}`, 201},
		{"POST", "/api/v1/rooms/r/sip-calls", roomAdmin, `{"uri":"tel:1"}`, 400},
		{"GET", "/api/v1/rooms/r/sip-calls", roomAdmin, "", 200},
		{"DELETE", "/api/v1/rooms/r/sip-calls/c2", roomAdmin, "", 404}, // another room's call
		{"DELETE", "/api/v1/rooms/r/sip-calls/c1", roomAdmin, "", 204},
		{"GET", "/api/v1/nothing", admin, "", 404},
		{"DELETE", "/api/v1/rooms/r/participants/" + string(ann.ID()), roomAdmin, "", 204},
	} {
		if got, body := do(t, h, c.method, c.path, c.tok, c.body); got != c.want {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, got, body, c.want)
		}
	}
	_, v := do(t, h, "GET", "/api/v1/rooms/r", admin, "")
	room, _ := v.(map[string]any)
	ps, _ := room["participants"].([]any)
	if room["layout"] != "speaker" || len(ps) != 1 || len(room["recordings"].([]any)) != 2 {
		t.Errorf("room after the calls: %v", v)
	}
	if p, _ := ps[0].(map[string]any); p["kind"] != "recorder" || p["hidden"] != true {
		t.Errorf("the recorder is shown as %v", ps[0])
	}
	if info := ann.Info(); !info.AudioMuted {
		t.Error("the mute did not reach the participant")
	}
	// The API is never open: without keys and token it refuses everyone.
	if got, _ := do(t, New(m, Config{}, Params{}), "GET", "/api/v1/rooms", "x", ""); got != 403 {
		t.Errorf("API without keys or token: %d, want 403", got)
	}
	// Without outputs or SIP, their endpoints say so.
	h2 := New(m, Config{AdminToken: "adm"}, Params{})
	for _, p := range []string{"/api/v1/rooms/r/recordings", "/api/v1/rooms/r/sip-calls"} {
		if got, _ := do(t, h2, "GET", p, "adm", ""); got != 501 {
			t.Errorf("GET %s without it configured: %d, want 501", p, got)
		}
	}
}

// TestOpenAPI: the OpenAPI document names exactly the routes the handler serves, each with its method.
func TestOpenAPI(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var inDoc, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range (&Handler{}).routes() {
		served = append(served, r.pattern)
	}
	slices.Sort(inDoc)
	slices.Sort(served)
	if !slices.Equal(inDoc, served) {
		t.Errorf("the document has\n%s\nthe handler serves\n%s", strings.Join(inDoc, "\n"), strings.Join(served, "\n"))
	}
	h := New(nil, Config{}, Params{})
	if got, _ := do(t, h, "GET", "/api/v1/openapi.json", "", ""); got != 200 {
		t.Errorf("GET openapi.json: %d", got)
	}
}

// FuzzAPI sends any method, route and body, with the admin token, through the real handler over a real
// MCU with one participant: every answer is a status the API uses, an error is JSON with a code and a
// message, and nothing panics.
//
// fuzz budget: 2x
func FuzzAPI(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"GET", "/api/v1/rooms", ""},
		{"GET", "/api/v1/rooms/r", ""},
		{"POST", "/api/v1/rooms/r/participants/p1/mute", `{"audio":true}`},
		{"POST", "/api/v1/rooms/r/participants/p1/mute", `{"audio":"yes"}`},
		{"DELETE", "/api/v1/rooms/r/participants/p9", ""},
		{"PUT", "/api/v1/rooms/r/layout", `{"layout":"speaker"}`},
		{"PUT", "/api/v1/rooms/r/layout", `{"layout":1e999}`},
		{"POST", "/api/v1/rooms/r/recordings", `{"audio_only":true}`},
		{"DELETE", "/api/v1/rooms/r/recordings/rec0", ""},
		{"GET", "/api/v1/recordings/..%2f..%2fetc%2fpasswd", ""},
		{"POST", "/api/v1/rooms/r/streams", `{"url":"rtmp://h/app/key"}`},
		{"POST", "/api/v1/rooms/r/sip-calls", `{"uri":"sip:a@b"}`},
		{"DELETE", "/api/v1/rooms/r/sip-calls/c1", ""},
		{"PATCH", "/api/v1/rooms/%00", "{"},
	} {
		f.Add(s.method, s.path, s.body)
	}
	m, err := mcu.New(mcu.DefaultConfig(), mcu.Params{})
	if err != nil {
		f.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Join("r", "Ann", nopListener{}); err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	h := New(m, Config{AdminToken: "adm"}, Params{Outputs: &fakeOutputs{dir: dir}, Dialer: fakeDialer{}})
	statuses := []int{200, 201, 204, 206, 301, 304, 307, 308, 400, 401, 403, 404, 405, 413, 416, 500, 501, 503}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(method, " \t\r\n") || method == "" {
			return // not a request line net/http would hand over
		}
		req, err := http.NewRequest(method, "http://mcu"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer adm")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !slices.Contains(statuses, rec.Code) {
			t.Fatalf("%s %s %q: status %d", method, path, body, rec.Code)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") == "application/json" {
			var e struct{ Code, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %s: error %q without code and message", method, path, rec.Body.String())
			}
		}
	})
}
