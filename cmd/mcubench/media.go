package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/openmcu/mcu/cmd/internal/botload"
	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

// The media every synthetic participant sends (botload), and the ffmpeg anchor decodes.
const (
	inputWidth, inputHeight = botload.Width, botload.Height
	inputRate               = botload.FrameRate
	inputBitrate            = botload.VideoBitrate
	inputKeyframe           = botload.KeyframeInterval
)

// participantColour is participant i's colour: hues spread by the golden angle, at one of three
// brightnesses in turn, so that dozens of participants get distinct, saturated colours.
func participantColour(i int) codec.YUV {
	h := math.Mod(float64(i)*137.508, 360)
	r, g, b := hsv(h, 0.8, []float64{0.9, 0.65, 0.45}[i%3])
	return codec.RGBToYUV(r, g, b)
}

func hsv(h, s, v float64) (r, g, b uint8) {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var rf, gf, bf float64
	switch {
	case h < 60:
		rf, gf = c, x
	case h < 120:
		rf, gf = x, c
	case h < 180:
		gf, bf = c, x
	case h < 240:
		gf, bf = x, c
	case h < 300:
		rf, bf = x, c
	default:
		rf, bf = c, x
	}
	to8 := func(f float64) uint8 { return uint8(math.Round((f + m) * 255)) }
	return to8(rf), to8(gf), to8(bf)
}

// anchorInputs makes (once, then reuses) the raw H.264 files the ffmpeg anchor decodes, one per
// participant colour, in dir: frames pictures of 640x360@30 each, of the content the participants send.
//
// For the noise content they imitate the participants' replay.Clip: the colour with luma noise in 4x4
// blocks that changes every frame, encoded by libx264 ultrafast baseline at 500 kbit/s (VBV-capped) with
// a keyframe every second. (The clip's small travelling grey block is left out.) Both come out at
// ~505 kbit/s. For the camera content they are the participants' own clips (clip), their loop laid end to
// end: ffmpeg decodes the very bitstream the server decodes.
type anchorInputs struct {
	ffmpeg  string
	dir     string
	frames  int
	content replay.Content
	// clip returns participant i's clip (the camera content's inputs).
	clip func(i int) (*replay.Clip, error)
	made map[int]string
}

// files returns the inputs of participants 0..n-1, making the missing ones.
func (a *anchorInputs) files(ctx context.Context, n int) ([]string, error) {
	if a.made == nil {
		a.made = map[int]string{}
	}
	out := make([]string, n)
	for i := range n {
		if f, ok := a.made[i]; ok {
			out[i] = f
			continue
		}
		var f string
		var err error
		if a.content == replay.Camera {
			f, err = a.fromClip(i)
		} else {
			f, err = a.noise(ctx, i)
		}
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			return nil, fmt.Errorf("make anchor input %d: empty %s", i, f)
		}
		a.made[i], out[i] = f, f
	}
	return out, nil
}

// noise makes participant i's noise input with ffmpeg.
func (a *anchorInputs) noise(ctx context.Context, i int) (string, error) {
	f := filepath.Join(a.dir, fmt.Sprintf("input-%02d.h264", i))
	r, g, b := participantColour(i).RGB()
	src := fmt.Sprintf("color=c=0x%02x%02x%02x:s=%dx%d:r=%d,format=yuv420p,noise=c0s=4:c0f=t,scale=%d:%d:flags=neighbor",
		r, g, b, inputWidth/4, inputHeight/4, inputRate, inputWidth, inputHeight)
	cmd := exec.CommandContext(ctx, a.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", src, "-frames:v", strconv.Itoa(a.frames),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-b:v", strconv.Itoa(inputBitrate), "-maxrate", strconv.Itoa(inputBitrate),
		"-bufsize", strconv.Itoa(inputBitrate/2), "-g", strconv.Itoa(int(inputKeyframe.Seconds()*inputRate)),
		"-pix_fmt", "yuv420p", "-f", "h264", f)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make anchor input %d: %w: %s", i, err, truncate(string(out), 1000))
	}
	return f, nil
}

// fromClip writes frames of participant i's clip, looping from its first frame (a keyframe, as is every
// wrap), to a file.
func (a *anchorInputs) fromClip(i int) (string, error) {
	if a.clip == nil {
		return "", fmt.Errorf("make anchor input %d: no clips for %v content", i, a.content)
	}
	c, err := a.clip(i)
	if err != nil {
		return "", fmt.Errorf("make anchor input %d: %w", i, err)
	}
	f := filepath.Join(a.dir, fmt.Sprintf("input-%v-%02d.h264", a.content, i))
	var buf bytes.Buffer
	for k := range a.frames {
		buf.Write(c.VideoFrame(k))
	}
	if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("make anchor input %d: %w", i, err)
	}
	return f, nil
}

// kbps returns the average bitrate of files, in kbit/s, each holding a.frames frames at inputRate; 0 if
// one cannot be read.
func (a *anchorInputs) kbps(files []string) float64 {
	if len(files) == 0 || a.frames <= 0 {
		return 0
	}
	var sum float64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return 0
		}
		sum += float64(st.Size()*8) / (float64(a.frames) / inputRate) / 1000
	}
	return sum / float64(len(files))
}
