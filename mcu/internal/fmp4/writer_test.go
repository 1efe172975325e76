package fmp4

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/codec/h264"
	"github.com/openmcu/mcu/mcu/internal/mediatest"
)

// asc is the AudioSpecificConfig of codec/aac's encoder: AAC-LC, 48 kHz, mono.
var asc = []byte{0x11, 0x88}

// writes records every Write separately, and counts Syncs.
type writes struct {
	chunks [][]byte
	syncs  int
}

func (w *writes) Write(p []byte) (int, error) {
	w.chunks = append(w.chunks, append([]byte(nil), p...))
	return len(p), nil
}

func (w *writes) Sync() error {
	w.syncs++
	return nil
}

// tone is a source of 440 Hz; colours is one of red, green, blue and grey, a new one every second.
func tone(i int64) int16 {
	return int16(8000 * math.Sin(2*math.Pi*440*float64(i)/codec.SampleRate))
}

func colours(t time.Duration) codec.YUV {
	c := codectest.Colors()
	palette := []codectest.NamedColor{c[0], c[1], c[2], c[4]}
	return palette[int(t/time.Second)%len(palette)].YUV()
}

// record writes d of src through a Writer of cfg into a writes, and closes the Writer. If in is not nil,
// it receives a copy of every event.
func record(t *testing.T, cfg Config, src mediatest.Source, d time.Duration, in *[]mediatest.Event) (*writes, *Writer) {
	t.Helper()
	out := &writes{}
	w, err := NewWriter(out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src.Run(t, d, func(e mediatest.Event) error {
		if in != nil {
			c := e
			c.Data = append([]byte(nil), e.Data...)
			*in = append(*in, c)
		}
		if e.Video {
			return w.WriteVideo(e.Time, e.Data, e.Key)
		}
		return w.WriteAudio(e.Time, e.Data)
	}, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out, w
}

// parse checks that the first Write is a whole init segment and every other one exactly one whole
// fragment, and returns them.
func parse(t *testing.T, out *writes) (fmp4.Init, []*fmp4.Part) {
	t.Helper()
	if len(out.chunks) < 2 {
		t.Fatalf("%d writes, want an init segment and fragments", len(out.chunks))
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(out.chunks[0])); err != nil {
		t.Fatalf("first write (%d bytes) is not an init segment: %v", len(out.chunks[0]), err)
	}
	var parts []*fmp4.Part
	for i, chunk := range out.chunks[1:] {
		var ps fmp4.Parts
		if err := ps.Unmarshal(chunk); err != nil || len(ps) != 1 {
			t.Fatalf("write %d (%d bytes) is not one whole fragment: %d parts, %v", i+1, len(chunk), len(ps), err)
		}
		if ps[0].SequenceNumber != uint32(i+1) {
			t.Errorf("fragment %d has sequence number %d", i+1, ps[0].SequenceNumber)
		}
		parts = append(parts, ps[0])
	}
	return init, parts
}

// trackParts returns the parts of track id, in order.
func trackParts(parts []*fmp4.Part, id int) []*fmp4.PartTrack {
	var out []*fmp4.PartTrack
	for _, p := range parts {
		for _, tr := range p.Tracks {
			if tr.ID == id {
				out = append(out, tr)
			}
		}
	}
	return out
}

func duration(tr *fmp4.PartTrack) uint64 {
	var d uint64
	for _, s := range tr.Samples {
		d += uint64(s.Duration)
	}
	return d
}

// TestFragments records 5 s of video (keyframes every second) and audio and checks the file's structure
// write by write: the init segment first, then one whole fragment per Write, with every track's part
// continuing exactly where the previous one ended, no part longer than FragmentDuration, video parts
// starting at keyframes, every sample present, and the file's time zero at the first audio unit (the
// priming, 1024 samples before the input's start), so that the video part starts 1024/48000 s later.
func TestFragments(t *testing.T) {
	src := mediatest.Source{Color: colours, Sample: tone}
	var in []mediatest.Event
	out, w := record(t, Config{Video: true, Audio: true, AudioConfig: asc, FragmentDuration: time.Second}, src, 5*time.Second, &in)
	init, parts := parse(t, out)
	checkPayloads(t, in, parts)
	if len(init.Tracks) != 2 || init.Tracks[0].TimeScale != VideoTimeScale || init.Tracks[1].TimeScale != 48000 {
		t.Fatalf("init tracks %+v %+v", init.Tracks[0], init.Tracks[len(init.Tracks)-1])
	}
	if out.syncs != len(out.chunks) {
		t.Errorf("%d syncs for %d writes", out.syncs, len(out.chunks))
	}
	st := w.Stats()
	if st.Fragments != len(parts) || st.Bytes != int64(totalLen(out.chunks)) {
		t.Errorf("stats %+v for %d fragments of %d bytes", st, len(parts), totalLen(out.chunks))
	}
	if len(parts) < 5 || len(parts) > 6 {
		t.Errorf("%d fragments for 5 s at 1 s each", len(parts))
	}
	for _, c := range []struct {
		id      int
		scale   uint64
		samples int
		first   uint64
	}{
		{1, VideoTimeScale, 150, 1920}, // 1024/48000 s at 90 kHz
		{2, 48000, st.AudioSamples, 0},
	} {
		trs := trackParts(parts, c.id)
		next, n := trs[0].BaseTime, 0
		if next != c.first {
			t.Errorf("track %d starts at %d, want %d", c.id, next, c.first)
		}
		for i, tr := range trs {
			if tr.BaseTime != next {
				t.Errorf("track %d part %d starts at %d, the previous one ended at %d", c.id, i, tr.BaseTime, next)
			}
			d := duration(tr)
			limit := c.scale
			if c.id == 2 {
				limit = c.scale * 3 / 2 // the audio part may run half a second over while video leads
			}
			if d > limit {
				t.Errorf("track %d part %d lasts %d/%d s", c.id, i, d, c.scale)
			}
			if c.id == 1 && tr.Samples[0].IsNonSyncSample {
				t.Errorf("video part %d does not start with a keyframe", i)
			}
			next += d
			n += len(tr.Samples)
		}
		if n != c.samples {
			t.Errorf("track %d has %d samples, want %d", c.id, n, c.samples)
		}
	}
	// Audio: 5 s plus the priming unit, in 1024-sample units.
	if want := (5*48000 + 1024) / 1024; st.AudioSamples < want-1 || st.AudioSamples > want+1 {
		t.Errorf("%d audio samples, want about %d", st.AudioSamples, want)
	}
	if st.VideoDropped != 0 || st.AudioDropped > 3 {
		t.Errorf("dropped: %+v", st)
	}
}

// checkPayloads checks that the samples of the fragments are, in order, the access units that went in:
// AAC as it came, H.264 in MP4's length-prefixed form without the parameter sets of the init segment.
func checkPayloads(t *testing.T, in []mediatest.Event, parts []*fmp4.Part) {
	t.Helper()
	var video, audio [][]byte
	var sps, pps []byte
	for _, e := range in {
		if !e.Video {
			audio = append(audio, e.Data)
			continue
		}
		if sps == nil {
			sps, pps = h264.ParameterSets(e.Data)
		}
		avcc, _ := appendAVCC(nil, e.Data, sps, pps)
		video = append(video, avcc)
	}
	for id, want := range map[int][][]byte{1: video, 2: audio} {
		i := 0
		for _, tr := range trackParts(parts, id) {
			for _, s := range tr.Samples {
				if i >= len(want) || !bytes.Equal(s.Payload, want[i]) {
					t.Fatalf("track %d sample %d (%d bytes) differs from access unit %d that went in", id, i, len(s.Payload), i)
				}
				i++
			}
		}
		if i != len(want) {
			t.Errorf("track %d: %d samples for %d access units", id, i, len(want))
		}
	}
}

func totalLen(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

// TestJitter records video whose timestamps wobble by up to 8 ms: sample durations follow the
// timestamps, so the track still ends exactly at the last frame's time plus one frame.
func TestJitter(t *testing.T) {
	src := mediatest.Source{Color: colours, Jitter: 8 * time.Millisecond}
	out, _ := record(t, Config{Video: true, FragmentDuration: 500 * time.Millisecond}, src, 3*time.Second, nil)
	_, parts := parse(t, out)
	trs := trackParts(parts, 1)
	var total uint64
	for _, tr := range trs {
		if d := duration(tr); d > VideoTimeScale/2 {
			t.Errorf("part at %d lasts %d ticks, more than 500 ms", tr.BaseTime, d)
		}
		total += duration(tr)
	}
	// The first frame is at 0 (+jitter), the last at 89/30 s (+jitter) and lasts as long as the one before.
	last := trs[len(trs)-1].Samples
	end := trs[len(trs)-1].BaseTime + duration(trs[len(trs)-1]) - uint64(last[len(last)-1].Duration)
	want := uint64(toTicks(89*time.Second/30+src.JitterOf(89), VideoTimeScale) - toTicks(src.JitterOf(0), VideoTimeScale))
	if end != want {
		t.Errorf("last frame at %d ticks, want %d", end, want)
	}
	if total == 0 {
		t.Fatal("no video")
	}
}

// TestWaitsForKeyframe drops the first IDR: the file starts at the next one, the access units between
// are dropped and counted, and so is the audio that came before.
func TestWaitsForKeyframe(t *testing.T) {
	out := &writes{}
	w, err := NewWriter(out, Config{Video: true, Audio: true, AudioConfig: asc})
	if err != nil {
		t.Fatal(err)
	}
	first := true
	mediatest.Source{Color: colours, Sample: tone}.Run(t, 2*time.Second, func(e mediatest.Event) error {
		if e.Video {
			if first {
				first = false
				return nil // lost
			}
			return w.WriteVideo(e.Time, e.Data, e.Key)
		}
		return w.WriteAudio(e.Time, e.Data)
	}, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.VideoDropped != 29 || st.VideoSamples != 30 {
		t.Errorf("stats %+v, want 29 video units dropped before the keyframe at 1 s and 30 written", st)
	}
	// 49 audio frames (47040 samples) were in by then, and the encoder had handed out all but one
	// of the 45 whole units they hold.
	if st.AudioDropped != 44 {
		t.Errorf("stats %+v, want the 44 audio units made before the keyframe dropped", st)
	}
	_, parts := parse(t, out)
	if tr := trackParts(parts, 1); tr[0].Samples[0].IsNonSyncSample {
		t.Error("the file does not start with a keyframe")
	}
}

// TestTimestamps checks that a sample not after the previous one of its track is refused with
// ErrTimestamp and dropped, and that the Writer goes on.
func TestTimestamps(t *testing.T) {
	var events []mediatest.Event
	mediatest.Source{Color: colours}.Run(t, 1500*time.Millisecond, func(e mediatest.Event) error {
		e.Data = append([]byte(nil), e.Data...)
		events = append(events, e)
		return nil
	}, nil)
	out := &writes{}
	w, err := NewWriter(out, Config{Video: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if err := w.WriteVideo(e.Time, e.Data, e.Key); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if i == 10 {
			if err := w.WriteVideo(e.Time, events[11].Data, false); !errors.Is(err, ErrTimestamp) {
				t.Fatalf("a second frame at %v: %v, want ErrTimestamp", e.Time, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// After the refused frame the writer waits for the next keyframe (at 1 s): frames 11 to 29 are
	// dropped since they would refer to it.
	if st := w.Stats(); st.VideoSamples != len(events)-19 || st.VideoDropped != 19 {
		t.Errorf("stats %+v after %d frames", st, len(events))
	}
	if err := w.WriteVideo(time.Hour, events[0].Data, true); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteVideo after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// failing accepts limit bytes, then fails every Write.
type failing struct{ limit, n int }

var errDiskFull = errors.New("disk full")

func (f *failing) Write(p []byte) (int, error) {
	if f.n+len(p) > f.limit {
		return 0, errDiskFull
	}
	f.n += len(p)
	return len(p), nil
}

// TestWriteError checks that an error of the io.Writer is returned and then returned by every call.
func TestWriteError(t *testing.T) {
	w, err := NewWriter(&failing{limit: 4000}, Config{Audio: true, AudioConfig: asc})
	if err != nil {
		t.Fatal(err)
	}
	var first error
	mediatest.Source{Sample: tone}.Run(t, 3*time.Second, func(e mediatest.Event) error {
		if err := w.WriteAudio(e.Time, e.Data); err != nil && first == nil {
			first = err
		}
		return nil
	}, nil)
	if !errors.Is(first, errDiskFull) {
		t.Fatalf("first error %v, want the writer's", first)
	}
	if err := w.WriteAudio(time.Hour, []byte{1}); !errors.Is(err, errDiskFull) {
		t.Errorf("WriteAudio after the failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close after the failure: %v", err)
	}
}

func TestNoSync(t *testing.T) {
	out, _ := record(t, Config{Audio: true, AudioConfig: asc, NoSync: true}, mediatest.Source{Sample: tone}, 2*time.Second, nil)
	if out.syncs != 0 || len(out.chunks) < 3 {
		t.Errorf("%d syncs in %d writes with NoSync", out.syncs, len(out.chunks))
	}
}

func TestWrongTrack(t *testing.T) {
	w, err := NewWriter(&writes{}, Config{Audio: true, AudioConfig: asc})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteVideo(0, []byte{0, 0, 1, 0x65}, true); err == nil {
		t.Error("WriteVideo to an audio-only file succeeded")
	}
	if err := w.WriteAudio(0, nil); err == nil {
		t.Error("WriteAudio of nothing succeeded")
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Video: true, Audio: true, AudioConfig: asc}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
	}{
		{"no tracks", func(c *Config) { c.Video, c.Audio = false, false }},
		{"no audio config", func(c *Config) { c.AudioConfig = nil }},
		{"garbage audio config", func(c *Config) { c.AudioConfig = []byte{0xff, 0xff} }},
		{"fragment too long", func(c *Config) { c.FragmentDuration = MaxFragmentDuration + time.Millisecond }},
		{"fragment too short", func(c *Config) { c.FragmentDuration = time.Millisecond }},
	} {
		cfg := ok
		c.change(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate() accepted %+v", c.name, cfg)
		}
		if _, err := NewWriter(&writes{}, cfg); err == nil {
			t.Errorf("%s: NewWriter accepted %+v", c.name, cfg)
		}
	}
}

func TestToTicks(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rate int64
		want int64
	}{
		{0, 90000, 0},
		{time.Second, 90000, 90000},
		{time.Second / 30, 90000, 3000},
		{-21333333, 48000, -1024},
		{-21333334, 90000, -1920},
		{20833, 48000, 1},
		{10416, 48000, 0},
		{10417, 48000, 1},
		{-10417, 48000, -1},
		{100 * time.Hour, 90000, 100 * 3600 * 90000},
		{math.MaxInt64, 90000, int64(math.MaxInt64/int64(time.Second))*90000 + (int64(math.MaxInt64%int64(time.Second))*90000+5e8)/1e9},
	} {
		if got := toTicks(c.d, c.rate); got != c.want {
			t.Errorf("toTicks(%v, %d) = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
	// Monotonic: never decreasing, nanosecond by nanosecond around a tick.
	prev := toTicks(-50*time.Microsecond, 48000)
	for d := -50 * time.Microsecond; d < 50*time.Microsecond; d++ {
		if got := toTicks(d, 48000); got < prev {
			t.Fatalf("toTicks(%v) = %d < toTicks(%v) = %d", d, got, d-1, prev)
		}
		prev = toTicks(d, 48000)
	}
}

func TestAppendAVCC(t *testing.T) {
	sps, pps := []byte{0x67, 1, 2}, []byte{0x68, 3}
	au := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 7, 7, 7}
	got, n := appendAVCC([]byte{0xaa}, au, sps, pps)
	want := []byte{0xaa, 0, 0, 0, 4, 0x65, 7, 7, 7}
	if !bytes.Equal(got, want) || n != len(want)-1 {
		t.Errorf("appendAVCC with the init's parameter sets = % x (%d), want % x", got, n, want)
	}
	got, _ = appendAVCC(nil, au, []byte{0x67, 9}, pps)
	want = []byte{0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 4, 0x65, 7, 7, 7}
	if !bytes.Equal(got, want) {
		t.Errorf("appendAVCC with a new SPS = % x, want % x", got, want)
	}
	s, p := h264.ParameterSets(au)
	if !bytes.Equal(s, sps) || !bytes.Equal(p, pps) {
		t.Errorf("parameterSets = % x, % x", s, p)
	}
}

func ExampleWriter() {
	var out bytes.Buffer
	w, err := NewWriter(&out, Config{Audio: true, AudioConfig: asc})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 3 {
		// Silent AAC-LC mono access units, 1024 samples each, the first one priming.
		if err := w.WriteAudio(time.Duration(i-1)*1024*time.Second/48000, []byte{0x01, 0x18, 0x20, 0x07}); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(w.Close(), w.Stats().AudioSamples, w.Stats().Fragments)
	// Output: <nil> 3 1
}
