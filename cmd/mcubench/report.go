package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openmcu/mcu/signaling/bot/replay"
)

// Report is the whole benchmark: the machine, the command, the settings, and every run. It is written as
// Markdown (WriteMarkdown) and as JSON.
type Report struct {
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Command  string    `json:"command"`
	Settings Settings  `json:"settings"`
	Tiers    []Tier    `json:"tiers"`
	Runs     []Run     `json:"runs"`
	// Largest is the largest real-time N per tier (by Tier.String), 0 when none held; with more than one
	// content, per tier and content (Tier.String, a space, the content: "640x360@30:500k camera").
	Largest map[string]int `json:"largest_real_time_n"`
	// Cascade holds the -cascade runs: rooms over two nodes (Runs then holds the same rooms on one
	// server); LargestCascade their largest real-time N per tier.
	Cascade        []CascadeRun   `json:"cascade,omitempty"`
	LargestCascade map[string]int `json:"largest_real_time_cascade_n,omitempty"`
	// SIP holds the -sip runs: N phone calls (sipp) in one room, alone or beside video participants.
	SIP []SIPRun `json:"sip,omitempty"`
}

// Settings are the knobs of the run that shape its figures.
type Settings struct {
	Warmup time.Duration `json:"warmup_ns"`
	// Settle is the longest the window waited after the warm-up for the server to stop shedding video.
	Settle        time.Duration `json:"settle_ns,omitempty"`
	Window        time.Duration `json:"window_ns"`
	VisibleTiles  int           `json:"visible_tiles"` // 0 = the server's default
	FFmpegThreads int           `json:"ffmpeg_threads"`
	FFmpegFrames  int           `json:"ffmpeg_frames"`
	SkipFFmpeg    bool          `json:"skip_ffmpeg"`
	Cascade       bool          `json:"cascade,omitempty"`
	// Contents are what the participants' video and ffmpeg's inputs showed, each measured in turn:
	// "noise" and/or "camera" (replay.Content). Empty means noise.
	Contents []string `json:"contents,omitempty"`
	// SIPCalls is -sip: the runs are SIP calls (Report.SIP), not the tiers' rooms.
	SIPCalls int `json:"sip_calls,omitempty"`
	// Sipp is sipp's version line, in -sip mode.
	Sipp string `json:"sipp,omitempty"`
}

// contents returns the report's contents, noise when none is recorded.
func (r *Report) contents() []string {
	if len(r.Settings.Contents) == 0 {
		return []string{replay.Noise.String()}
	}
	return r.Settings.Contents
}

// largestKey is the key of tier and content in Largest.
func (r *Report) largestKey(t Tier, content string) string {
	if len(r.Settings.Contents) > 1 {
		return t.String() + " " + content
	}
	return t.String()
}

// contentText describes a content in the report.
var contentText = map[string]string{
	"noise": "**noise**: each participant's colour under luma noise in 4x4 blocks that changes every frame, and a small " +
		"grey block travelling round the border (the hardest content there is for an encoder)",
	"camera": "**camera**: a camera-like scene in each participant's colour: a still wall (soft gradient, fine " +
		"texture, a window frame, a shelf with books, a desk's edge) and a head-and-shoulders subject swaying and " +
		"nodding at the centre, with a little sensor noise (what users send)",
}

// Machine says where the benchmark ran.
type Machine struct {
	CPUs    int    `json:"cpus"`
	CPU     string `json:"cpu"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	FFmpeg  string `json:"ffmpeg,omitempty"`
	Distrib string `json:"os,omitempty"`
}

// describeMachine reads the machine's description from /proc, /etc/os-release and ffmpeg -version.
func describeMachine(ffmpeg string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		m.Distrib = osName(b)
	}
	if ffmpeg != "" {
		if out, err := exec.Command(ffmpeg, "-hide_banner", "-version").Output(); err == nil {
			m.FFmpeg, _, _ = strings.Cut(string(out), "\n")
			m.FFmpeg = strings.TrimSpace(strings.Split(m.FFmpeg, " Copyright")[0])
		}
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// osName returns PRETTY_NAME from /etc/os-release.
func osName(osRelease []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(osRelease))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// WriteMarkdown writes the report: the machine and command, one table per tier, and the largest N each
// tier held in real time.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	m := r.Machine
	fmt.Fprintf(b, "## MCU capacity (%s)\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "Machine: %d × %s, %s", m.CPUs, m.CPU, m.Kernel)
	if m.Distrib != "" {
		fmt.Fprintf(b, " (%s)", m.Distrib)
	}
	fmt.Fprintf(b, ", %s", m.Go)
	if m.FFmpeg != "" {
		fmt.Fprintf(b, ", %s", m.FFmpeg)
	}
	fmt.Fprintf(b, ".\n\nCommand: `%s`\n\n", r.Command)
	s := r.Settings
	if s.SIPCalls > 0 {
		if s.Sipp != "" {
			fmt.Fprintf(b, "Load: %s.\n\n", s.Sipp)
		}
		writeSIPMarkdown(b, r.SIP, s)
		_, err := io.WriteString(w, b.String())
		return err
	}
	tiles := "the server's default visible-tile limit"
	if s.VisibleTiles > 0 {
		tiles = fmt.Sprintf("-visible-tiles %d", s.VisibleTiles)
	}
	if s.Cascade {
		writeCascadeIntro(b)
		if len(r.Runs) > 0 {
			b.WriteString("The same rooms on one server: ")
		}
	}
	if !s.Cascade || len(r.Runs) > 0 {
		fmt.Fprintf(b, "Each row: the real server (%s) with N synthetic participants on loopback in one room, "+
			"each sending 640x360@30 H.264 and an Opus tone; measured over %v after all receive video plus %v%s. "+
			"Server and load generator share the machine (\"load\" is the benchmark process's own CPU; \"other\" is "+
			"everything else the machine ran meanwhile, which competed with the server). "+
			"Real time: every participant receives >= 29/30 of the frame rate and no audio underrun.\n",
			tiles, s.Window, s.Warmup, settleText(s.Settle))
	}
	var cs []string
	for _, c := range r.contents() {
		cs = append(cs, contentText[c])
	}
	fmt.Fprintf(b, "Video content (the participants' clips, 2 s looped, and ffmpeg's inputs alike): %s.\n",
		strings.Join(cs, "; "))
	if !s.SkipFFmpeg {
		th := fmt.Sprintf("-threads %d", s.FFmpegThreads)
		if s.FFmpegThreads == 0 {
			th = "default threads"
		}
		fmt.Fprintf(b, "ffmpeg: the same video work without any sharing (decode the N inputs, compose N views of "+
			"the other N-1 with xstack in the server's grid, N libx264 ultrafast zerolatency baseline encodes at "+
			"the tier's size and bitrate, null muxer), %s, %d frames; cores = CPU-seconds per second of media. "+
			"Audio is not in the ffmpeg work. Ratio = server cores / ffmpeg cores.\n", th, s.FFmpegFrames)
	}
	if !s.Cascade || len(r.Runs) > 0 {
		b.WriteString("PSNR: x264's mean luma PSNR (dB) of each encoded picture against the picture it was given: for " +
			"the server, its composed view, over the window; for ffmpeg, its composed view, over its frames. A receiver " +
			"decodes exactly that picture when nothing is lost, so a cheaper setting that looks worse shows here.\n")
	}
	for _, t := range r.Tiers {
		title := fmt.Sprintf("%dx%d@%d, %s per video encoder", t.Width, t.Height, t.FrameRate, humanBitrate(t.Bitrate))
		if s.Cascade {
			fmt.Fprintf(b, "\n### Cascade: one room over two nodes, %s\n\n", title)
			writeCascadeTables(b, r.Cascade, t)
			if n := r.LargestCascade[t.String()]; n > 0 {
				fmt.Fprintf(b, "\nLargest cascaded N in real time: **%d** (%d + %d).\n", n, n/2, n/2)
			} else {
				b.WriteString("\nLargest cascaded N in real time: **none** of those tried.\n")
			}
			if !slices.ContainsFunc(r.Runs, func(run Run) bool { return run.Tier == t }) {
				continue
			}
			fmt.Fprintf(b, "\n#### The same rooms on one server, %s\n\n", title)
			r.writeRunTable(b, t, r.contents()[0])
			continue
		}
		for _, c := range r.contents() {
			if len(r.contents()) > 1 {
				fmt.Fprintf(b, "\n### %s, %s content\n\n", title, c)
			} else {
				fmt.Fprintf(b, "\n### %s\n\n", title)
			}
			r.writeRunTable(b, t, c)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRunTable writes the runs of tier t and content c, their largest real-time N, their encoded bitrates
// and their CPU by stage.
func (r *Report) writeRunTable(b *strings.Builder, t Tier, c string) {
	var runs []Run
	for _, run := range r.Runs {
		if run.Tier == t && run.ContentName() == c {
			runs = append(runs, run)
		}
	}
	b.WriteString("| N | server cores | load cores | other cores | RSS MiB | MiB per participant: RSS / added | " +
		"fps min / avg | missing frames | freezes | " +
		"audio underruns | audio lost | audio p50 / p99 ms | video p50 / p99 ms | encoders video / audio | " +
		"ffmpeg cores | ratio | PSNR dB server / ffmpeg | real time |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range runs {
		writeRow(b, run)
	}
	if n := r.Largest[r.largestKey(t, c)]; n > 0 {
		fmt.Fprintf(b, "\nLargest N in real time: **%d**.\n", n)
	} else {
		b.WriteString("\nLargest N in real time: **none** of those tried.\n")
	}
	writeBitrates(b, runs, c)
	writeStageTable(b, runs)
}

// writeBitrates writes what the content cost to encode, per N: the participants' clips and ffmpeg's inputs
// at the same 500 kbit/s target (an easier content comes out below it), and the server's views as the
// participants received them. Nothing when no run has any.
func writeBitrates(b *strings.Builder, runs []Run, c string) {
	var parts []string
	for _, r := range runs {
		if r.InputKbps == 0 && r.Anchor == nil && r.Down.VideoKbpsAvg == 0 {
			continue
		}
		ff := "-"
		if r.Anchor != nil && r.Anchor.InputKbps > 0 {
			ff = fmt.Sprintf("%.0f", r.Anchor.InputKbps)
		}
		parts = append(parts, fmt.Sprintf("N=%d: %.0f / %s / %.0f", r.N, r.InputKbps, ff, r.Down.VideoKbpsAvg))
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(b, "\nEncoded video, kbit/s (%s content), participants' clips / ffmpeg's inputs / views received per "+
		"participant: %s.\n", c, strings.Join(parts, "; "))
}

func writeRow(b *strings.Builder, r Run) {
	anchor, ratio, ffPSNR := "-", "-", "-"
	if r.Anchor != nil {
		anchor = fmt.Sprintf("%.2f", r.Anchor.Cores)
		if r.Anchor.PSNR > 0 {
			ffPSNR = fmt.Sprintf("%.1f", r.Anchor.PSNR)
		}
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
	} else if r.AnchorError != "" {
		anchor = "failed: " + cell(r.AnchorError)
	}
	verdict := "yes"
	if !r.RealTime {
		verdict = "**no**: " + cell(r.NotRealTime)
	}
	if r.Window == 0 { // never measured: show the failure, not zeros
		fmt.Fprintf(b, "| %d | - | - | - | - | - | - | - | - | - | - | - | - | - | %s | - | - / %s | %s |\n", r.N, anchor, ffPSNR, verdict)
		return
	}
	psnr := "-"
	if r.VideoPSNR > 0 {
		psnr = fmt.Sprintf("%.1f", r.VideoPSNR)
	}
	d := r.Down
	fmt.Fprintf(b, "| %d | %.2f | %.2f | %.2f | %.0f | %s | %.1f / %.1f | %d | %d | %d | %d | %s | %s | %d / %d | %s | %s | %s / %s | %s |\n",
		r.N, r.ServerCores, r.LoadCores, r.OtherCores, float64(r.RSSBytes)/(1<<20), perParticipant(r), d.FPSMin, d.FPSAvg, d.MissingFrames,
		d.Freezes, d.AudioUnderruns, d.AudioPacketsLost, pq(r.AudioLatency), pq(r.VideoLatency),
		r.VideoEncoders, r.AudioEncoders, anchor, ratio, psnr, ffPSNR, verdict)
}

// perParticipant is the RSS of run r over its N and, when the server's idle RSS is known, what each
// participant added to it: "5.1 / 4.2" (MiB).
func perParticipant(r Run) string {
	if r.N == 0 || r.RSSBytes == 0 {
		return "-"
	}
	total := fmt.Sprintf("%.1f", float64(r.RSSBytes)/(1<<20)/float64(r.N))
	if r.IdleRSSBytes == 0 {
		return total + " / -"
	}
	return fmt.Sprintf("%s / %.1f", total, float64(r.RSSBytes-r.IdleRSSBytes)/(1<<20)/float64(r.N))
}

// writeStageTable writes where the server's CPU went in runs (one tier's), from their CPU profiles;
// nothing when no run has a profile or a profile failure.
func writeStageTable(b *strings.Builder, runs []Run) {
	if !slices.ContainsFunc(runs, func(r Run) bool { return r.Stages != nil || r.StagesError != "" }) {
		return
	}
	b.WriteString("\nServer CPU by stage, % of the CPU a profile sampled over the window's first seconds (each stack " +
		"counted to its leaf-most recognized frame; \"sampled\" is the profile's CPU over what /proc measured in the same time):\n\n")
	b.WriteString("| N | profiled | sampled |")
	for _, st := range stageOrder {
		fmt.Fprintf(b, " %s |", st)
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(stageOrder)) + "\n")
	for _, r := range runs {
		if r.Stages == nil && r.StagesError == "" {
			continue
		}
		c := r.Stages
		if c == nil || c.CPU == 0 {
			why := r.StagesError
			if why == "" {
				why = "no samples"
			}
			fmt.Fprintf(b, "| %d | failed: %s | - |%s\n", r.N, cell(why), strings.Repeat(" - |", len(stageOrder)))
			continue
		}
		sampled := "-"
		if measured := r.ServerCores * c.Duration.Seconds(); measured > 0 {
			sampled = fmt.Sprintf("%.0f%%", 100*c.CPU.Seconds()/measured)
		}
		fmt.Fprintf(b, "| %d | %.0fs | %s |", r.N, c.Duration.Seconds(), sampled)
		for _, st := range stageOrder {
			fmt.Fprintf(b, " %s |", stageCell(c.Share(st)))
		}
		b.WriteString("\n")
	}
}

// humanBitrate writes a bitrate for people: 1.5 Mbit/s, 500 kbit/s.
func humanBitrate(b int) string {
	if b >= 1_000_000 {
		return strconv.FormatFloat(float64(b)/1e6, 'f', -1, 64) + " Mbit/s"
	}
	return strconv.FormatFloat(float64(b)/1e3, 'f', -1, 64) + " kbit/s"
}

// pq formats a latency's p50 / p99 in milliseconds, "-" without samples.
func pq(l Latency) string {
	if l.Samples == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f / %.0f", ms(l.P50), ms(l.P99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cell makes text safe for one Markdown table cell: one line, no pipes, not too long.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	return truncate(s, 200)
}

// settleText is how the intro says that the window waits for the server to stop shedding video.
func settleText(settle time.Duration) string {
	if settle <= 0 {
		return ""
	}
	return fmt.Sprintf(" and once the server sheds no video (the burst of joins can make it shed for seconds; "+
		"waited for at most %v, then measured all the same)", settle)
}
