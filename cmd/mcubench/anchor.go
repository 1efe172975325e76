package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
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
	// PSNR is libx264's mean luma PSNR (dB) of each encoded view against ffmpeg's composed view, averaged
	// over the views; 0 when ffmpeg printed none.
	PSNR float64 `json:"psnr_y_db,omitempty"`
}

// Args returns ffmpeg's command line (without the program name). Every encoder measures PSNR, which
// libx264 prints at the info log level when it closes.
func (a Anchor) Args() []string {
	n := len(a.Inputs)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "info", "-nostats"}
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
			"-g", strconv.Itoa(keyint), "-sc_threshold", "0", "-bf", "0", "-flags", "+psnr",
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
		// At the info level the error is at the end.
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		return AnchorResult{}, fmt.Errorf("ffmpeg: %w: %s", err, msg)
	}
	ps := cmd.ProcessState
	cpu := ps.UserTime() + ps.SystemTime()
	media := float64(a.Frames) / float64(a.Tier.FrameRate)
	return AnchorResult{CPU: cpu, Wall: wall, MediaSec: media, Cores: cpu.Seconds() / media, Args: args,
		PSNR: x264PSNR(stderr.String())}, nil
}

// x264SummaryPSNR matches the summary libx264 prints for each encoder as it closes (not the lines per
// picture type, which start with "frame"): [libx264 @ 0x55d0...] PSNR Mean Y:53.716 U:48.388 ... kb/s:203.89.
var x264SummaryPSNR = regexp.MustCompile(`(?m)^\[libx264 @ [^\]]*\] PSNR Mean Y:([0-9.]+)`)

// x264PSNR returns the average of the mean luma PSNRs in ffmpeg's log, one per libx264 encoder; 0 when
// there is none.
func x264PSNR(log string) float64 {
	var sum float64
	var n int
	for _, m := range x264SummaryPSNR.FindAllStringSubmatch(log, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
