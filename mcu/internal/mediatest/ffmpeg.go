package mediatest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
)

// toolTimeout bounds every ffmpeg and ffprobe run.
const toolTimeout = 60 * time.Second

// nullOut decodes to nothing, every frame once at its own time: a recording's frame rate varies (each
// picture is stamped when the room made it), and ffmpeg's default would duplicate and drop frames to a
// constant rate, and complain when two pictures fall in one 1/30 s.
var nullOut = []string{"-fps_mode", "passthrough", "-r", "1000", "-f", "null", "-"}

// NeedFFmpeg skips the test unless ffmpeg and ffprobe are installed.
func NeedFFmpeg(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("%s not found: install Debian's ffmpeg package (make deps-test does)", tool)
		}
	}
}

// run runs a tool and returns its standard output and standard error; it fails tb if the tool fails
// (unless mayFail) or runs longer than toolTimeout.
func run(tb testing.TB, mayFail bool, name string, args ...string) (stdout, stderr []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil && !mayFail {
		tb.Fatalf("%s %q: %v\n%s", name, args, err, errOut.Bytes())
	}
	return out.Bytes(), errOut.Bytes()
}

// Stream is what ffprobe says about one stream of a file.
type Stream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Profile   string `json:"profile"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	// SampleRate and Channels are set for audio.
	SampleRate string `json:"sample_rate"`
	Channels   int    `json:"channels"`
	StartTime  string `json:"start_time"`
	Duration   string `json:"duration"`
}

// Probe is what ffprobe says about a file.
type Probe struct {
	Streams []Stream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// Duration returns the file's duration.
func (p Probe) Duration() time.Duration { return seconds(p.Format.Duration) }

// Stream returns the first stream of the given type ("video", "audio"), if any.
func (p Probe) Stream(codecType string) (Stream, bool) {
	for _, s := range p.Streams {
		if s.CodecType == codecType {
			return s, true
		}
	}
	return Stream{}, false
}

// FFprobe probes the file at path.
func FFprobe(tb testing.TB, path string) Probe {
	tb.Helper()
	out, _ := run(tb, false, "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path)
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		tb.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	return p
}

// seconds parses ffprobe's seconds ("6.000000"); an empty or "N/A" value is -1 s.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -time.Second
	}
	return time.Duration(f * float64(time.Second))
}

// Frame is one decoded video frame as ffmpeg's showinfo filter reports it.
type Frame struct {
	// Time is the frame's presentation time in the file.
	Time time.Duration
	// Mean is the mean of each plane (Y, U, V).
	Mean codec.YUV
}

var showinfo = regexp.MustCompile(`pts_time:\s*(-?[0-9.]+).*?mean:\[(\d+) (\d+) (\d+)\]`)

// VideoFrames decodes every video frame of the file at path and returns their times and mean colours,
// and whatever ffmpeg reported at level error (empty for a clean file).
func VideoFrames(tb testing.TB, path string) ([]Frame, string) {
	tb.Helper()
	args := append([]string{"-hide_banner", "-nostats", "-i", path, "-map", "0:v:0", "-vf", "showinfo"}, nullOut...)
	_, errOut := run(tb, false, "ffmpeg", args...)
	var frames []Frame
	var problems bytes.Buffer
	for _, line := range bytes.Split(errOut, []byte("\n")) {
		m := showinfo.FindSubmatch(line)
		if m == nil {
			if bytes.Contains(bytes.ToLower(line), []byte("error")) {
				problems.Write(line)
				problems.WriteByte('\n')
			}
			continue
		}
		y, _ := strconv.Atoi(string(m[2]))
		u, _ := strconv.Atoi(string(m[3]))
		v, _ := strconv.Atoi(string(m[4]))
		frames = append(frames, Frame{Time: seconds(string(m[1])), Mean: codec.YUV{Y: uint8(y), U: uint8(u), V: uint8(v)}})
	}
	return frames, problems.String()
}

// AudioPCM decodes the first audio stream of the file at path to 48 kHz mono samples, from the stream's
// first sample on.
func AudioPCM(tb testing.TB, path string) []int16 {
	tb.Helper()
	out, _ := run(tb, false, "ffmpeg", "-hide_banner", "-nostats", "-v", "error", "-i", path, "-map", "0:a:0",
		"-f", "s16le", "-ac", "1", "-ar", "48000", "-")
	pcm := make([]int16, len(out)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	return pcm
}

var silenceEnd = regexp.MustCompile(`silence_end:\s*(-?[0-9.]+)`)

// SoundOnsets returns the times in the file at which the first audio stream at path rises out of
// silence (below -40 dBFS for at least 100 ms), as ffmpeg's silencedetect filter measures them on the
// stream's own timestamps.
func SoundOnsets(tb testing.TB, path string) []time.Duration {
	tb.Helper()
	_, errOut := run(tb, false, "ffmpeg", "-hide_banner", "-nostats", "-i", path, "-map", "0:a:0",
		"-af", "silencedetect=noise=-40dB:d=0.1", "-f", "null", "-")
	var onsets []time.Duration
	for _, m := range silenceEnd.FindAllSubmatch(errOut, -1) {
		onsets = append(onsets, seconds(string(m[1])))
	}
	return onsets
}

// Errors decodes every stream of the file at path and returns what ffmpeg reported at level error:
// empty for a file that decodes cleanly.
func Errors(tb testing.TB, path string) string {
	tb.Helper()
	args := append([]string{"-hide_banner", "-nostats", "-v", "error", "-i", path}, nullOut...)
	_, errOut := run(tb, true, "ffmpeg", args...)
	return string(errOut)
}

// VideoFramesIn is VideoFrames through an ffmpeg filter first (for example "crop=W:H:X:Y" for the mean
// of one region); it fails tb if ffmpeg reports an error.
func VideoFramesIn(tb testing.TB, path, filter string) []Frame {
	tb.Helper()
	args := append([]string{"-hide_banner", "-nostats", "-i", path, "-map", "0:v:0", "-vf", filter + ",showinfo"}, nullOut...)
	_, errOut := run(tb, false, "ffmpeg", args...)
	var frames []Frame
	for _, line := range bytes.Split(errOut, []byte("\n")) {
		if m := showinfo.FindSubmatch(line); m != nil {
			y, _ := strconv.Atoi(string(m[2]))
			u, _ := strconv.Atoi(string(m[3]))
			v, _ := strconv.Atoi(string(m[4]))
			frames = append(frames, Frame{Time: seconds(string(m[1])), Mean: codec.YUV{Y: uint8(y), U: uint8(u), V: uint8(v)}})
		} else if bytes.Contains(bytes.ToLower(line), []byte("error")) {
			tb.Errorf("ffmpeg on %s: %s", path, line)
		}
	}
	return frames
}

// PacketTimes returns the presentation times of the packets of the first stream of a kind ("v" or "a")
// of the file at path, in file order.
func PacketTimes(tb testing.TB, path, kind string) []time.Duration {
	tb.Helper()
	out, _ := run(tb, false, "ffprobe", "-v", "error", "-select_streams", kind+":0", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path)
	var times []time.Duration
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if d := seconds(string(bytes.TrimRight(line, ","))); d >= 0 {
			times = append(times, d)
		}
	}
	return times
}
