package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/openmcu/mcu/mixer"
)

// Anchor describes one ffmpeg run that does the media work of an N-person room without any sharing:
// decode N inputs, compose N self-excluded views (view k holds every input but k, in the server's grid
// layout), and encode each view with libx264 at the tier's size, frame rate and bitrate, to the null
// muxer. Plain data.
type Anchor struct {
	FFmpeg string
	Inputs []string // raw H.264 (Annex B) files, one per participant
	// InputRate is the frame rate of the inputs (raw .h264 has none; ffmpeg would assume 25).
	InputRate int
	Tier      Tier
	Frames    int // frames encoded per output
	// Threads is given to every decoder, encoder and the filter graph; 0 leaves ffmpeg's defaults
	// (a thread per core for each).
	Threads int
	// KeyframeInterval is the longest IDR interval, as the server's encoders use.
	KeyframeInterval time.Duration
	// Outputs, when set, are files for the N encoded views (raw H.264, view k to Outputs[k]); by default
	// every view goes to the null muxer.
	Outputs []string
}

// AnchorResult is what one ffmpeg run cost.
type AnchorResult struct {
	CPU      time.Duration `json:"cpu_ns"`  // user + system time of the ffmpeg process
	Wall     time.Duration `json:"wall_ns"` // how long it ran
	MediaSec float64       `json:"media_seconds"`
	Cores    float64       `json:"cores"` // CPU-seconds per second of media
	Args     []string      `json:"args"`
	// InputKbps is the average bitrate of the input files, in kbit/s at InputRate.
	InputKbps float64 `json:"input_kbps,omitempty"`
}

// Args returns ffmpeg's command line (without the program name).
func (a Anchor) Args() []string {
	n := len(a.Inputs)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-nostats"}
	th := strconv.Itoa(a.Threads)
	for _, in := range a.Inputs {
		if a.Threads > 0 {
			args = append(args, "-threads", th)
		}
		args = append(args, "-framerate", strconv.Itoa(a.InputRate), "-i", in)
	}
	if a.Threads > 0 {
		args = append(args, "-filter_complex_threads", th)
	}
	args = append(args, "-filter_complex", a.FilterGraph())
	kbps := a.Tier.Bitrate / 1000
	keyint := max(int(a.KeyframeInterval*time.Duration(a.Tier.FrameRate)/time.Second), 1)
	for k := range n {
		args = append(args, "-map", fmt.Sprintf("[v%d]", k),
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
			"-b:v", fmt.Sprintf("%dk", kbps), "-maxrate", fmt.Sprintf("%dk", kbps),
			"-bufsize", fmt.Sprintf("%dk", max(kbps/2, 1)),
			"-g", strconv.Itoa(keyint), "-sc_threshold", "0", "-bf", "0",
			"-r", strconv.Itoa(a.Tier.FrameRate), "-frames:v", strconv.Itoa(a.Frames))
		if a.Threads > 0 {
			args = append(args, "-threads", th)
		}
		if a.Outputs != nil {
			args = append(args, "-f", "h264", "-y", a.Outputs[k])
		} else {
			args = append(args, "-f", "null", "-")
		}
	}
	return args
}

// FilterGraph returns the -filter_complex graph: each input is scaled once to the tile size (as the
// server scales each source once per tile size) and split into the N-1 views that show it; each view
// stacks its N-1 tiles where the server's grid puts them and pads to the canvas.
func (a Anchor) FilterGraph() string {
	n := len(a.Inputs)
	w, h := a.Tier.Width, a.Tier.Height
	rects := mixer.Grid.Rects(n-1, w, h)
	tw, th := rects[0].Dx(), rects[0].Dy()
	var g strings.Builder
	for j := range n {
		fmt.Fprintf(&g, "[%d:v]", j)
		fmt.Fprintf(&g, "scale=%d:%d:flags=bilinear,", tw, th)
		fmt.Fprintf(&g, "split=%d", n-1)
		for k := range n {
			if k != j {
				fmt.Fprintf(&g, "[s%d_%d]", j, k)
			}
		}
		g.WriteString(";")
	}
	for k := range n {
		var layout []string
		for j := range n {
			if j == k {
				continue
			}
			fmt.Fprintf(&g, "[s%d_%d]", j, k)
			r := rects[len(layout)]
			layout = append(layout, fmt.Sprintf("%d_%d", r.Min.X, r.Min.Y))
		}
		if n-1 == 1 {
			r := rects[0]
			fmt.Fprintf(&g, "pad=%d:%d:%d:%d:black[v%d]", w, h, r.Min.X, r.Min.Y, k)
		} else {
			fmt.Fprintf(&g, "xstack=inputs=%d:layout=%s:fill=black,pad=%d:%d:0:0:black[v%d]",
				n-1, strings.Join(layout, "|"), w, h, k)
		}
		if k < n-1 {
			g.WriteString(";")
		}
	}
	return g.String()
}

// Run runs ffmpeg and returns its CPU time from the child's rusage.
func (a Anchor) Run(ctx context.Context) (AnchorResult, error) {
	args := a.Args()
	cmd := exec.CommandContext(ctx, a.FFmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return AnchorResult{}, fmt.Errorf("ffmpeg: %w: %s", err, truncate(strings.TrimSpace(stderr.String()), 2000))
	}
	ps := cmd.ProcessState
	cpu := ps.UserTime() + ps.SystemTime()
	media := float64(a.Frames) / float64(a.Tier.FrameRate)
	return AnchorResult{CPU: cpu, Wall: wall, MediaSec: media, Cores: cpu.Seconds() / media, Args: args}, nil
}
