package mcu_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/internal/fmp4/fmp4test"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// stateLog records an output's state changes (OutputOptions.OnState) with their times.
type stateLog struct {
	mu     sync.Mutex
	states []mcu.OutputState
	errs   []error
	at     []time.Time
}

func (l *stateLog) on(s mcu.OutputState, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states, l.errs, l.at = append(l.states, s), append(l.errs, err), append(l.at, time.Now())
}

// when returns when state s was first reported, and its error.
func (l *stateLog) when(s mcu.OutputState) (time.Time, error, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.states, s)
	if i < 0 {
		return time.Time{}, nil, false
	}
	return l.at[i], l.errs[i], true
}

func (l *stateLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.states, l.errs)
}

// roomStates returns the RosterRoom events a party got, in order.
func roomStates(p *party) []mcu.RoomState {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	var out []mcu.RoomState
	for _, e := range p.l.roster {
		if e.Type == mcu.RosterRoom {
			out = append(out, e.Room)
		}
	}
	return out
}

// TestRecord records a room with a flashing, beeping participant F and a red one, and checks the file by
// content: H.264 of the best tier and AAC, a duration within 1 % of the time recorded, every fragment
// decodable, F's flashes and beeps within 40 ms of each other (median), and the red tile. The others are
// told the room is recorded, and the recording is not one of the room's participants.
func TestRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	fmp4test.NeedFFmpeg(t)
	cfg := loopbackConfig()
	cfg.Width, cfg.Height = 640, 360
	m := newMCU(t, cfg)
	f := joinConfig(t, m, "room", "F", 0, 0, mcutest.Config{Flash: true})
	r := join(t, m, "room", "R", 0, 0) // red, silent
	defer f.client.Close()
	defer r.client.Close()
	codectest.Require(t, 20*time.Second, func() error {
		if st := f.client.ReceiveStats(); st.PicturesDecoded == 0 {
			return errors.New("F receives no picture yet")
		}
		if st := r.client.ReceiveStats(); st.PicturesDecoded == 0 {
			return errors.New("R receives no picture yet")
		}
		return nil
	})

	path := filepath.Join(t.TempDir(), "room.mp4")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var log stateLog
	out, err := m.Record("room", mcu.RecordOptions{File: file, OutputOptions: mcu.OutputOptions{OnState: log.on}})
	if err != nil {
		t.Fatal(err)
	}
	codectest.Eventually(t, 10*time.Second, "the recording active", func() bool {
		_, _, ok := log.when(mcu.OutputActive)
		return ok
	})
	active, _, _ := log.when(mcu.OutputActive)
	if d, ok := m.Room("room"); !ok || !d.Recording || d.Streaming || len(d.Participants) != 2 {
		t.Errorf("room detail while recording: %+v, want recording and the 2 participants only", d)
	}
	if s := m.Stats(); s.Outputs != 1 || s.Participants != 2 {
		t.Errorf("stats: %d outputs and %d participants, want 1 and 2", s.Outputs, s.Participants)
	}
	time.Sleep(8 * time.Second)
	stopped := time.Now()
	out.Stop()
	recorded := stopped.Sub(active)
	select {
	case <-out.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if err := out.Err(); err != nil {
		t.Errorf("Err after Stop = %v, want nil", err)
	}
	if _, err, ok := log.when(mcu.OutputEnded); !ok || err != nil {
		t.Errorf("states %v: want ended without error", &log)
	}
	st := out.Stats()
	t.Logf("recorded %v: %+v", recorded, st)
	if fi, err := os.Stat(path); err != nil || fi.Size() != st.Bytes {
		t.Errorf("file: %v, %d bytes; stats say %d", err, fi.Size(), st.Bytes)
	}
	for _, p := range []*party{f, r} {
		if got := roomStates(p); !slices.Equal(got, []mcu.RoomState{{Recording: true}, {}}) {
			t.Errorf("%s was told %+v, want recording and then not", p.name, got)
		}
	}

	probe := fmp4test.FFprobe(t, path)
	v, okv := probe.Stream("video")
	a, oka := probe.Stream("audio")
	if !okv || v.CodecName != "h264" || v.Width != cfg.Width || v.Height != cfg.Height {
		t.Errorf("video stream %+v, want h264 %dx%d", v, cfg.Width, cfg.Height)
	}
	if !oka || a.CodecName != "aac" || a.SampleRate != "48000" || a.Channels != 1 {
		t.Errorf("audio stream %+v, want aac 48000 Hz mono", a)
	}
	// The file spans the recording: from the first picture (which the writer may take a few ms after it
	// was composed) to the stop, plus the AAC priming and the last frame's duration.
	if d := probe.Duration(); d < recorded*99/100 || d > recorded*101/100+100*time.Millisecond {
		t.Errorf("file lasts %v, recorded for %v: want within 1 %% (+100 ms of priming and last frame)", d, recorded)
	}
	if errs := fmp4test.Errors(t, path); errs != "" {
		t.Errorf("ffmpeg decoding the file: %s", errs)
	}

	// F's tile (the left half) flashes; R's (the right half) is red.
	frames := regionFrames(t, path, cfg.Width/2, cfg.Height, 0, 0)
	red := regionFrames(t, path, cfg.Width/4, cfg.Height/4, cfg.Width*5/8, cfg.Height*3/8)
	if len(red) == 0 || colourName(nearest(red[len(red)/2].Mean)) != "red" {
		t.Errorf("the right tile is not red in the middle of the file: %v", red[len(red)/2:][:1])
	}
	flashes := videoOnsets(frames)
	beeps := fmp4test.SoundOnsets(t, path)
	t.Logf("flashes at %v, beeps at %v", flashes, beeps)
	offsets := pairOnsets(flashes, beeps)
	if len(offsets) < 5 {
		t.Fatalf("%d flash/beep pairs in 8 s (flashes %v, beeps %v), want at least 5", len(offsets), flashes, beeps)
	}
	abs := make([]time.Duration, len(offsets))
	for i, o := range offsets {
		abs[i] = max(o, -o)
	}
	// No drift: F flashes and beeps once a second on the wall clock, so the file's first and last onsets
	// are whole seconds apart, to within 1 %.
	for what, on := range map[string][]time.Duration{"flashes": flashes, "beeps": beeps} {
		span := on[len(on)-1] - on[0]
		secs := span.Round(time.Second)
		if d := span - secs; secs < 5*time.Second || max(d, -d) > secs/100 {
			t.Errorf("%s span %v in the file for %v on the wall clock: want within 1 %%", what, span, secs)
		}
	}
	slices.Sort(abs)
	t.Logf("audio minus video: %v; median |offset| %v", offsets, abs[len(abs)/2])
	if med := abs[len(abs)/2]; med > 40*time.Millisecond {
		t.Errorf("audio and video are %v apart (median), want at most 40 ms: %v", med, offsets)
	}
}

// regionFrames decodes the video of the file at path cropped to w x h at (x, y), with the mean colour of
// each frame.
func regionFrames(t *testing.T, path string, w, h, x, y int) []fmp4test.Frame {
	t.Helper()
	return fmp4test.VideoFramesIn(t, path, fmt.Sprintf("crop=%d:%d:%d:%d", w, h, x, y))
}

// videoOnsets returns the times at which the frames' brightness rises above halfway between its
// extremes.
func videoOnsets(frames []fmp4test.Frame) []time.Duration {
	if len(frames) == 0 {
		return nil
	}
	lo, hi := frames[0].Mean.Y, frames[0].Mean.Y
	for _, f := range frames {
		lo, hi = min(lo, f.Mean.Y), max(hi, f.Mean.Y)
	}
	mid := (int(lo) + int(hi)) / 2
	var out []time.Duration
	on := int(frames[0].Mean.Y) > mid
	for _, f := range frames[1:] {
		now := int(f.Mean.Y) > mid
		if now && !on {
			out = append(out, f.Time)
		}
		on = now
	}
	return out
}

// pairOnsets returns, for each video onset with an audio onset within 500 ms, the audio's minus the
// video's time.
func pairOnsets(video, audio []time.Duration) []time.Duration {
	var out []time.Duration
	for _, v := range video {
		best := time.Hour
		for _, a := range audio {
			if d := a - v; max(d, -d) < max(best, -best) {
				best = d
			}
		}
		if max(best, -best) < 500*time.Millisecond {
			out = append(out, best)
		}
	}
	return out
}

// TestRecordAudioOnly records the mix alone: an M4A file with one AAC track that carries the tone.
func TestRecordAudioOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	fmp4test.NeedFFmpeg(t)
	m := newMCU(t, loopbackConfig())
	a := join(t, m, "room", "A", 1, 430)
	defer a.client.Close()
	path := filepath.Join(t.TempDir(), "room.m4a")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Record("room", mcu.RecordOptions{File: file, AudioOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	codectest.Eventually(t, 10*time.Second, "3 s of audio recorded", func() bool {
		return out.Stats().Duration > 3*time.Second
	})
	out.Stop()
	probe := fmp4test.FFprobe(t, path)
	if _, ok := probe.Stream("video"); ok || len(probe.Streams) != 1 {
		t.Errorf("streams %+v, want audio only", probe.Streams)
	}
	pcm := fmp4test.AudioPCM(t, path)
	if len(pcm) < 2*codec.SampleRate {
		t.Fatalf("%d samples decoded, want at least 2 s", len(pcm))
	}
	tail := pcm[len(pcm)-codec.SampleRate:]
	if l := codectest.LevelDB(tail, codec.SampleRate, 430); l < -30 {
		t.Errorf("A's 430 Hz tone at %.1f dB in the recording, want above -30 dB", l)
	}
}

// TestRecordDiskFull records into a file that refuses every write (/dev/full: ENOSPC): the recording
// ends with that error, and the room goes on untouched.
func TestRecordDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	m := newMCU(t, loopbackConfig())
	a := join(t, m, "room", "A", 1, 430)
	b := join(t, m, "room", "B", 2, 650)
	defer a.client.Close()
	defer b.client.Close()
	var log stateLog
	out, err := m.Record("room", mcu.RecordOptions{File: full, OutputOptions: mcu.OutputOptions{OnState: log.on}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the recording into /dev/full did not end: %v", &log)
	}
	if err := out.Err(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Err = %v, want ENOSPC", err)
	}
	if _, err, ok := log.when(mcu.OutputEnded); !ok || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("states %v: want ended with ENOSPC", &log)
	}
	codectest.Eventually(t, 5*time.Second, "the failed output gone", func() bool { return m.Stats().Outputs == 0 })
	if d, _ := m.Room("room"); d.Recording || len(d.Participants) != 2 {
		t.Errorf("room after the failure: %+v, want not recording, 2 participants", d)
	}
	before := a.client.ReceiveStats()
	codectest.Require(t, 10*time.Second, func() error {
		return checkAll([]*party{a, b}, nil, loopbackConfig().Width, loopbackConfig().Height, steadyMarginDB)
	})
	if d := a.client.ReceiveStats().Sub(before); d.VideoFrames == 0 || d.AudioPackets == 0 {
		t.Errorf("A received %d frames and %d audio packets after the failure", d.VideoFrames, d.AudioPackets)
	}
	codectest.Eventually(t, 5*time.Second, "A told recording and then not", func() bool {
		return slices.Equal(roomStates(a), []mcu.RoomState{{Recording: true}, {}})
	})
}

// TestOutputLimits checks what Record refuses, and that the recording ends, cleanly, with its room.
func TestOutputLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	cfg := loopbackConfig()
	cfg.MaxOutputs = 1
	m := newMCU(t, cfg)
	dir := t.TempDir()
	file := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if _, err := m.Record("nowhere", mcu.RecordOptions{File: file("a.mp4")}); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("Record of a room not open = %v, want ErrNotFound", err)
	}
	a := join(t, m, "room", "A", 1, 430)
	defer a.client.Close()
	if _, err := m.Record("room", mcu.RecordOptions{File: file("b.mp4"), OutputOptions: mcu.OutputOptions{Tier: "4k"}}); !errors.Is(err, mcu.ErrBadName) {
		t.Errorf("Record with an unknown tier = %v, want ErrBadName", err)
	}
	out, err := m.Record("room", mcu.RecordOptions{File: file("c.mp4"), OutputOptions: mcu.OutputOptions{Tier: "sd"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Record("room", mcu.RecordOptions{File: file("d.mp4")}); !errors.Is(err, mcu.ErrTooManyOutputs) {
		t.Errorf("a second recording with MaxOutputs 1 = %v, want ErrTooManyOutputs", err)
	}
	if n := m.Stats().Refusals["outputs"]; n != 1 {
		t.Errorf("%d output refusals counted, want 1", n)
	}
	if _, err := m.Participant("room", out.ID()); !errors.Is(err, mcu.ErrNotFound) {
		t.Errorf("the output as a participant: %v, want ErrNotFound", err)
	}
	codectest.Eventually(t, 10*time.Second, "a second recorded", func() bool { return out.Stats().Duration > time.Second })
	a.p.Leave()
	select {
	case <-out.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the recording did not end with its room")
	}
	if err := out.Err(); err != nil {
		t.Errorf("Err at the end of the room = %v, want nil", err)
	}
	if m.HasRoom("room") {
		t.Error("the room stayed open with only its recording")
	}
}
