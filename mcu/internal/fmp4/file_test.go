package fmp4

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu/internal/mediatest"
)

// The recording under test: 6 s of 320x180 video at 30 fps, one colour per second (red, green, blue,
// grey, ...) but white for the three frames from flashAt; and audio: a 440 Hz tone until toneEnd, then
// silence, a 1 kHz beep from flashAt to beepEnd, and silence again.
const (
	recording = 6 * time.Second
	flashAt   = 3 * time.Second
	toneEnd   = 2500 * time.Millisecond
	beepEnd   = 3300 * time.Millisecond
)

var white = codec.RGBToYUV(255, 255, 255)

func flashColours(t time.Duration) codec.YUV {
	if t >= flashAt && t < flashAt+100*time.Millisecond {
		return white
	}
	return colours(t)
}

func toneThenBeep(i int64) int16 {
	at := time.Duration(i) * time.Second / codec.SampleRate
	switch {
	case at < toneEnd:
		return tone(i)
	case at >= flashAt && at < beepEnd:
		return int16(12000 * math.Sin(2*math.Pi*1000*float64(i)/codec.SampleRate))
	}
	return 0
}

// writeFile records src for d into path through a Writer of cfg, calling at(now) before each access
// unit with the source clock's time, and closes the Writer. Audio timestamps are moved by audioShift.
func writeFile(t *testing.T, path string, cfg Config, src mediatest.Source, d time.Duration, at func(time.Duration), audioShift time.Duration) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src.Run(t, d, func(e mediatest.Event) error {
		if e.Video {
			return w.WriteVideo(e.Time, e.Data, e.Key)
		}
		return w.WriteAudio(e.Time+audioShift, e.Data)
	}, func(now time.Duration) bool {
		if at != nil {
			at(now)
		}
		return false
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRecordingPlays records 6 s of video and audio into a file and checks it through ffprobe and
// ffmpeg: an H.264 and an AAC stream, 6 s long within 1 %, 180 frames each of the colour that was
// encoded at its time, a 440 Hz tone, and the flash and the beep, which happened at the same instant, in
// the decoded output within 10 ms of each other (40 ms is the requirement).
func TestRecordingPlays(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	path := filepath.Join(t.TempDir(), "room.mp4")
	src := mediatest.Source{Color: flashColours, Sample: toneThenBeep, Jitter: 3 * time.Millisecond}
	writeFile(t, path, Config{Video: true, Audio: true, AudioConfig: asc}, src, recording, nil, 0)

	p := mediatest.FFprobe(t, path)
	v, okV := p.Stream("video")
	a, okA := p.Stream("audio")
	if !okV || !okA || len(p.Streams) != 2 || v.CodecName != "h264" || a.CodecName != "aac" {
		t.Fatalf("streams %+v, want h264 and aac", p.Streams)
	}
	if v.Width != 320 || v.Height != 180 || a.SampleRate != "48000" || a.Channels != 1 || a.Profile != "LC" {
		t.Errorf("video %+v, audio %+v", v, a)
	}
	if d := p.Duration(); math.Abs(float64(d-recording)) > 0.01*float64(recording) {
		t.Errorf("duration %v, want %v within 1 %%", d, recording)
	}
	t.Logf("duration %v (video from %s s for %s s, audio from %s s for %s s)", p.Duration(), v.StartTime, v.Duration, a.StartTime, a.Duration)

	frames, problems := mediatest.VideoFrames(t, path)
	if problems != "" {
		t.Errorf("ffmpeg reported errors decoding the video:\n%s", problems)
	}
	if len(frames) != 180 {
		t.Fatalf("%d frames decoded, want 180", len(frames))
	}
	flash := -1
	for i, f := range frames {
		want := flashColours(time.Duration(i) * time.Second / 30)
		// Skip the frame right after a change of colour, which the encoder may not reach at once.
		if i%30 != 0 && !codectest.Near(f.Mean, want, 12) {
			t.Errorf("frame %d at %v: mean %v, want %v", i, f.Time, f.Mean, want)
		}
		if flash < 0 && f.Mean.Y > 200 {
			flash = i
		}
	}
	if flash != 90 {
		t.Fatalf("first white frame is %d, want 90", flash)
	}

	pcm := mediatest.AudioPCM(t, path)
	if got := time.Duration(len(pcm)) * time.Second / codec.SampleRate; math.Abs(float64(got-recording)) > 0.01*float64(recording) {
		t.Errorf("decoded audio lasts %v, want %v within 1 %%", got, recording)
	}
	spec := codectest.NewSpectrum(pcm[codec.SampleRate/2:2*codec.SampleRate], codec.SampleRate)
	if peak := spec.Peak(); math.Abs(peak-440) > 2*spec.BinHz() {
		t.Errorf("tone decoded with its peak at %.1f Hz, want 440 Hz", peak)
	}

	// The promise is 40 ms; the writer does better: the rest is the frame's ±3 ms jitter. Ignoring the
	// AAC priming would put the beep 21 ms late.
	if skew := skew(t, path, frames[flash].Time); skew < -10*time.Millisecond || skew > 10*time.Millisecond {
		t.Errorf("the beep is %v from the flash, want within 10 ms (and at worst 40 ms)", skew)
	}
}

// skew returns how much later than the flash (at flash) the beep starts in the file at path, both as
// ffmpeg decodes them.
func skew(t *testing.T, path string, flash time.Duration) time.Duration {
	t.Helper()
	var beep time.Duration = -1
	for _, on := range mediatest.SoundOnsets(t, path) {
		if on > toneEnd+100*time.Millisecond && on < beepEnd+200*time.Millisecond {
			beep = on
		}
	}
	if beep < 0 {
		t.Fatalf("no beep found after the silence from %v", toneEnd)
	}
	t.Logf("flash at %v, beep at %v: audio %v after video", flash, beep, beep-flash)
	return beep - flash
}

// TestSyncCheckSeesSkew records the flash and the beep with the audio stamped 100 ms late, and checks
// that the sync measurement of TestRecordingPlays finds those 100 ms: it can fail.
func TestSyncCheckSeesSkew(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	path := filepath.Join(t.TempDir(), "late.mp4")
	src := mediatest.Source{Color: flashColours, Sample: toneThenBeep}
	writeFile(t, path, Config{Video: true, Audio: true, AudioConfig: asc}, src, 4*time.Second, nil, 100*time.Millisecond)
	frames, _ := mediatest.VideoFrames(t, path)
	if len(frames) <= 90 || frames[90].Mean.Y < 200 {
		t.Fatalf("frame 90 of %d is not the flash", len(frames))
	}
	if s := skew(t, path, frames[90].Time); s < 90*time.Millisecond || s > 110*time.Millisecond {
		t.Errorf("audio stamped 100 ms late measures %v late", s)
	}
}

// TestCrashLeavesPlayableFile copies the file, as a killed process would leave it, when 3 s of media
// have been written (the Writer still open), and checks that the copy plays cleanly up to its last whole
// fragment, losing at most FragmentDuration (and so less than the 2 s promised); and that a copy whose
// last fragment was cut short by a crash in the middle of a write still plays up to the fragment before.
func TestCrashLeavesPlayableFile(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	dir := t.TempDir()
	path, snap := filepath.Join(dir, "room.mp4"), filepath.Join(dir, "killed.mp4")
	cfg := Config{Video: true, Audio: true, AudioConfig: asc, FragmentDuration: time.Second}
	var sizes []int64 // file size before each access unit
	copied := false
	writeFile(t, path, cfg, mediatest.Source{Color: colours, Sample: tone}, 5*time.Second, func(now time.Duration) {
		if fi, err := os.Stat(path); err == nil {
			sizes = append(sizes, fi.Size())
		}
		if now >= 3*time.Second && !copied {
			copied = true
			copyFile(t, path, snap)
		}
	}, 0)
	p := mediatest.FFprobe(t, snap)
	if len(p.Streams) != 2 {
		t.Fatalf("copy has streams %+v", p.Streams)
	}
	d := p.Duration()
	t.Logf("killed after 3 s: the file plays %v", d)
	if d > 3*time.Second || d < 3*time.Second-cfg.FragmentDuration-100*time.Millisecond {
		t.Errorf("the copy plays %v, want between %v and 3s", d, 3*time.Second-cfg.FragmentDuration)
	}
	if errs := mediatest.Errors(t, snap); errs != "" {
		t.Errorf("ffmpeg reported errors decoding the copy:\n%s", errs)
	}
	frames, _ := mediatest.VideoFrames(t, snap)
	if want := int(d * 30 / time.Second); len(frames) < want-2 || len(frames) > want+2 {
		t.Errorf("copy decodes to %d frames for %v", len(frames), d)
	}

	// A torn write: the copy with its last fragment cut in half.
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	var prev int64
	for _, s := range sizes {
		if s < int64(len(data)) {
			prev = max(prev, s)
		}
	}
	torn := filepath.Join(dir, "torn.mp4")
	if err := os.WriteFile(torn, data[:(prev+int64(len(data)))/2], 0o644); err != nil {
		t.Fatal(err)
	}
	tp := mediatest.FFprobe(t, torn)
	tframes, _ := mediatest.VideoFrames(t, torn)
	t.Logf("torn last fragment: ffprobe says %v, %d frames decode", tp.Duration(), len(tframes))
	if want := int((d - cfg.FragmentDuration) * 30 / time.Second); len(tframes) < want-2 {
		t.Errorf("torn copy decodes to %d frames, want at least %d (all but the last fragment)", len(tframes), want-2)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAudioOnly records 3 s of a 440 Hz tone as an M4A file: one AAC stream, 3 s long within 1 %, that
// decodes to the tone.
func TestAudioOnly(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	path := filepath.Join(t.TempDir(), "room.m4a")
	writeFile(t, path, Config{Audio: true, AudioConfig: asc}, mediatest.Source{Sample: tone}, 3*time.Second, nil, 0)
	p := mediatest.FFprobe(t, path)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "aac" {
		t.Fatalf("streams %+v, want one aac", p.Streams)
	}
	if d := p.Duration(); math.Abs(float64(d-3*time.Second)) > 0.01*float64(3*time.Second) {
		t.Errorf("duration %v, want 3s within 1 %%", d)
	}
	if errs := mediatest.Errors(t, path); errs != "" {
		t.Errorf("ffmpeg reported errors:\n%s", errs)
	}
	pcm := mediatest.AudioPCM(t, path)
	spec := codectest.NewSpectrum(pcm[codec.SampleRate/2:2*codec.SampleRate], codec.SampleRate)
	if peak := spec.Peak(); math.Abs(peak-440) > 2*spec.BinHz() {
		t.Errorf("peak at %.1f Hz, want 440 Hz", peak)
	}
}
