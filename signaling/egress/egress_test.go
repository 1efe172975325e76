package egress_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/signaling/api"
	"github.com/openmcu/mcu/signaling/egress"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// events records what a Listener is told.
type events struct {
	mu   sync.Mutex
	list []string
	recs []api.Recording
}

func (e *events) OnRecording(event string, r api.Recording) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, event)
	e.recs = append(e.recs, r)
}

func (e *events) OnStream(event string, s api.Stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, event)
}

func (e *events) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// newRoom starts an MCU with one live participant in room "demo" and a Manager recording into a
// temporary directory.
func newRoom(t *testing.T, cfg egress.Config) (*mcu.MCU, *egress.Manager, *events) {
	t.Helper()
	mcfg := mcu.DefaultConfig()
	mcfg.IncludeLoopback, mcfg.Interfaces = true, []string{"lo"}
	mcfg.Width, mcfg.Height = 640, 360
	var ev events
	var g *egress.Manager
	m, err := mcu.New(mcfg, mcu.Params{Events: lateEvents{&g}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "recordings")
	}
	if g, err = egress.New(m, cfg, nil, &ev); err != nil {
		t.Fatal(err)
	}
	c, err := mcutest.New(mcutest.Config{Colour: codectest.NamedColor{R: 200, G: 30, B: 30}.YUV(), ToneHz: 440,
		IncludeLoopback: true, Interfaces: []string{"lo"}, NoDecode: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Join("demo", "A", &trickle{c: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := mcutest.Negotiate(c, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		m.Close()
		g.Wait()
	})
	return m, g, &ev
}

// lateEvents passes the MCU's events to a Manager made after the MCU.
type lateEvents struct{ g **egress.Manager }

func (l lateEvents) OnRoomStarted(room string) {
	if *l.g != nil {
		(*l.g).OnRoomStarted(room)
	}
}
func (l lateEvents) OnRoomFinished(room string) {
	if *l.g != nil {
		(*l.g).OnRoomFinished(room)
	}
}
func (lateEvents) OnParticipantJoined(string, mcu.ParticipantDetail)      {}
func (lateEvents) OnParticipantLeft(string, mcu.ParticipantDetail, error) {}

// TestRecordingLifecycle starts, lists and stops a recording, and downloads its file by name.
func TestRecordingLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	_, g, ev := newRoom(t, egress.Config{})
	if _, err := g.StartRecording("nowhere", false); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("recording a room not open: %v, want ErrNotFound", err)
	}
	rec, err := g.StartRecording("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^demo-\d{8}-\d{6}\.mp4$`).MatchString(rec.File) || rec.ID == "" || rec.Room != "demo" {
		t.Errorf("recording %+v: want a demo-YYYYMMDD-HHMMSS.mp4 file and an id", rec)
	}
	codectest.Eventually(t, 10*time.Second, "recording for a second", func() bool {
		l := g.Recordings("demo")
		return len(l) == 1 && l[0].State == "recording" && l[0].Duration > time.Second
	})
	got, err := g.StopRecording("demo", rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "finished" || got.Size == 0 || got.Duration < time.Second {
		t.Errorf("stopped recording %+v: want finished, with a size and a duration", got)
	}
	path, err := g.RecordingFile(rec.File)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) != got.Size || !bytes.Equal(b[4:8], []byte("ftyp")) {
		t.Errorf("file %s: %d bytes (%v), want the %d reported, starting with an ftyp box", path, len(b), err, got.Size)
	}
	if _, err := g.StopRecording("demo", "rec_nothing"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("stopping an unknown recording: %v, want ErrNotFound", err)
	}
	codectest.Eventually(t, 5*time.Second, "started and finished told", func() bool {
		return slices.Equal(ev.names(), []string{egress.RecordingStarted, egress.RecordingFinished})
	})
}

// TestRecordingFile: a name with a path, a hidden or foreign file never resolves.
func TestRecordingFile(t *testing.T) {
	dir := t.TempDir()
	g, err := egress.New(nil, egress.Config{Dir: dir}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ok.mp4", ".hidden.mp4", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.mp4")); err != nil {
		t.Fatal(err)
	}
	if p, err := g.RecordingFile("ok.mp4"); err != nil || p != filepath.Join(dir, "ok.mp4") {
		t.Errorf("ok.mp4: %q, %v", p, err)
	}
	for _, name := range []string{"", "../ok.mp4", "sub/ok.mp4", ".hidden.mp4", "notes.txt", "link.mp4", "gone.mp4", "/etc/passwd"} {
		if p, err := g.RecordingFile(name); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("RecordingFile(%q) = %q, %v; want ErrNotFound", name, p, err)
		}
	}
}

// TestAutoRecord records a room as it starts, and the recording ends with the room.
func TestAutoRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	m, g, ev := newRoom(t, egress.Config{AutoRecord: egress.ParseAutoRecord(" all ")})
	// Recording, with bytes in the file: closing the room sooner can end it before anything was written
	// (CI once saw it end 107 ms in, with an empty file).
	codectest.Eventually(t, 10*time.Second, "the room recorded", func() bool {
		l := g.Recordings("demo")
		return len(l) == 1 && l[0].State == "recording" && l[0].Size > 0
	})
	if d, _ := m.Room("demo"); !d.Recording {
		t.Error("the room does not say it is recorded")
	}
	m.Close()
	codectest.Eventually(t, 5*time.Second, "the recording finished", func() bool {
		return slices.Equal(ev.names(), []string{egress.RecordingStarted, egress.RecordingFinished})
	})
	ev.mu.Lock()
	last := ev.recs[len(ev.recs)-1]
	ev.mu.Unlock()
	if last.State != "finished" || last.Size == 0 {
		t.Errorf("the automatic recording ended %+v, want finished with a file", last)
	}
	if l := g.Recordings("demo"); len(l) != 0 {
		t.Errorf("the finished room still lists %+v", l)
	}
}

// TestUnwritableDir: a recording that cannot create its file fails at once, and the room is untouched.
func TestUnwritableDir(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	// A file where the directory was: even root cannot create a file under it.
	dir := filepath.Join(t.TempDir(), "recordings")
	m, g, ev := newRoom(t, egress.Config{Dir: dir})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.StartRecording("demo", false); !errors.Is(err, api.ErrUnavailable) {
		t.Errorf("a recording into a file's child: %v, want ErrUnavailable", err)
	}
	if got := ev.names(); !slices.Equal(got, []string{egress.RecordingFinished}) {
		t.Errorf("told %v, want recording_finished (failed)", got)
	} else if r := ev.recs[0]; r.State != "failed" || !strings.Contains(r.Error, "not a directory") {
		t.Errorf("the failure told: %+v, want failed with the reason", r)
	}
	if d, ok := m.Room("demo"); !ok || d.Recording || len(d.Participants) != 1 {
		t.Errorf("room after the failure: %+v", d)
	}
}

// TestStreamErrors: a URL that is not RTMP is a bad request, and its key never shows.
func TestStreamErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	_, g, _ := newRoom(t, egress.Config{})
	for _, u := range []string{"", "http://example.com/live/key", "rtmp://", "not a url"} {
		if _, err := g.StartStream("demo", u); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("StartStream(%q) = %v, want ErrBadRequest", u, err)
		}
	}
	if _, err := g.StartStream("nowhere", "rtmp://127.0.0.1:1/live/secret"); !errors.Is(err, api.ErrNotFound) ||
		bytes.Contains([]byte(err.Error()), []byte("secret")) {
		t.Errorf("StartStream to a room not open = %v, want ErrNotFound without the key", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl":   "rtmp://a.rtmp.youtube.com/live2/****",
		"rtmps://user:pw@live.example.com:443/app/key?x=1": "rtmps://live.example.com:443/app/****",
		"rtmp://127.0.0.1:1935/live#key":                   "rtmp://127.0.0.1:1935/live",
		"nonsense":                                         "****",
	} {
		if got := egress.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// trickle passes the server's candidates to a client.
type trickle struct{ c *mcutest.Client }

func (l *trickle) OnICECandidate(ca mcu.ICECandidate) {
	l.c.AddICECandidate(webrtc.ICECandidateInit{Candidate: ca.Candidate, SDPMid: ca.SDPMid,
		SDPMLineIndex: ca.SDPMLineIndex, UsernameFragment: ca.UsernameFragment})
}
func (*trickle) OnRoster(mcu.RosterEvent) {}
func (*trickle) OnClosed(error)           {}
