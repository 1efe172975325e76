// Command mcubench measures the conference server's capacity, CPU and mixer-added latency, and ffmpeg
// doing the same media work on the same machine in the same run.
//
// For each output tier and room size N it starts the real server binary as its own process, joins N
// synthetic participants (signaling/bot: pre-encoded 640x360@30 H.264 and an Opus tone, a distinct
// colour and tone each) over loopback, waits until everyone receives video plus a warm-up, and measures
// over a window: the server's CPU (from /proc/PID/stat) and RSS, what each participant receives (frames
// per second, freezes, audio underruns and losses), and the latency histograms of the server's /metrics.
// Then ffmpeg decodes N inputs, composes N self-excluded views with xstack and encodes N outputs with
// libx264 at the tier's size and bitrate, and its CPU per second of media is set beside the server's.
// Room sizes go through the -n list, then on by -step while the last held in real time, up to -max-n.
//
// The participants' video (and ffmpeg's inputs) show -content: "noise", each participant's colour under luma
// noise in 4x4 blocks that changes every frame (the hardest content for an encoder), or "camera", a
// camera-like scene in the colour (a still wall with a window and a shelf, a person swaying and nodding,
// a little sensor noise: what users send). -content noise,camera measures both, one after the other, and
// reports a table for each.
//
// With -cascade it measures instead one room over two nodes of a cluster (cascade.go): redis-server on a
// unix socket, node1 and node2 (-cascade-rooms all), N/2 participants through each, the link's bitrate,
// drops and round trip beside each node's CPU, memory, downstream and mixer latency, and (unless
// -single=false) the same room on one server right after, for the ratio of CPU.
//
// With -sip N it measures instead N concurrent SIP phone calls into one room (sip.go): one sipp (Debian's
// sip-tester) places them, each streaming a 1 kHz tone as PCMU RTP; the report gives the server's cores,
// its % of a core per call, the plain-RTP packets in and out per second, sipp's CPU as the load, and
// whether every call was up over the whole window. With -n M as well (one size), the room also holds M
// video participants (a mixed room).
//
// During each window it also takes a CPU profile of the server (its -debug-addr profiler, over the first
// -profile seconds) and splits the sampled CPU by stage: video decoding, composing, video encoding, audio,
// RTP/SRTP/network, the Go runtime, other (stages.go, pprof.go); the profiles stay in the log directory.
//
// The report is Markdown on stdout (and -out FILE), JSON with -json FILE, and an SVG chart with -chart
// FILE (by default FILE.svg beside -out FILE.md): per tier the server's and ffmpeg's cores against N and
// the mixer latency percentiles against N (chart.go).
//
//	go run ./cmd/mcubench -server bin/mcu -n 2,4,9 -window 10s
//	go run ./cmd/mcubench -server bin/mcu -n 4,9 -content noise,camera
//	go run ./cmd/mcubench -server bin/mcu -cascade -n 20,40 -window 10s
//	go run ./cmd/mcubench -server bin/mcu -sip 20 -window 10s
//	go run ./cmd/mcubench -server bin/mcu -sip 20 -n 3 -window 10s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/openmcu/mcu/cmd/internal/botload"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

func main() {
	if err := run(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "mcubench:", err)
		os.Exit(1)
	}
}

type options struct {
	server, tiers, counts, ffmpeg, out, jsonOut, logDir string
	chart, merge                                        string
	step, maxN, visibleTiles, ffThreads, ffFrames       int
	profileMax                                          int
	window, warmup, settle, joinTimeout                 time.Duration
	skipFFmpeg                                          bool
	cascade, single                                     bool
	redis                                               string
	sip                                                 int    // -sip: SIP calls (0 = the video benchmark)
	sipp                                                string // sipp binary
	sipVideo                                            int    // with -sip, video participants from an explicit -n (0 = none)
	content                                             string
	contents                                            []replay.Content // -content, parsed
}

// Defaults of -cascade for the flags not given: the 360p tier, 2 x 10 and 2 x 20, no growth.
const (
	cascadeTiers  = "640x360@30:500k"
	cascadeCounts = "20,40"
)

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("mcubench", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "bin/mcu", "server binary to measure")
	fs.StringVar(&o.tiers, "tiers", DefaultTiers, "output tiers, comma separated WIDTHxHEIGHT@FPS:BITRATE")
	fs.StringVar(&o.counts, "n", "2,4,9,16,25", "room sizes to measure, comma separated")
	fs.IntVar(&o.step, "step", 8, "after the -n list, grow the room by this many while it holds in real time (0 = stop)")
	fs.IntVar(&o.maxN, "max-n", 49, "largest room size the -step growth reaches")
	fs.DurationVar(&o.window, "window", 10*time.Second, "measurement window")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Second, "wait after every participant receives video, before measuring")
	fs.DurationVar(&o.settle, "settle", 20*time.Second, "after the warm-up, wait up to this long for the server to stop "+
		"shedding video (mcu_video_shed_level 0) before measuring")
	fs.DurationVar(&o.joinTimeout, "join-timeout", 15*time.Second, "time for every participant to receive media (plus 1s per participant)")
	fs.IntVar(&o.visibleTiles, "visible-tiles", 0, "the server's -visible-tiles (0 = its default); N-1 or more composes every view in full, like ffmpeg")
	fs.StringVar(&o.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary for the anchor")
	fs.BoolVar(&o.skipFFmpeg, "skip-ffmpeg", false, "do not run the ffmpeg anchor")
	fs.IntVar(&o.ffThreads, "ffmpeg-threads", 1, "threads for each ffmpeg decoder, encoder and the filter graph (0 = ffmpeg's default)")
	fs.IntVar(&o.ffFrames, "ffmpeg-frames", 300, "frames ffmpeg encodes per output")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	fs.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.merge, "merge", "", "measure nothing: merge reports saved with -json (comma separated; a tier in a later "+
		"file replaces the same tier's runs of an earlier one) and write the Markdown (-out, or stdout), -json and the chart")
	fs.StringVar(&o.chart, "chart", "", "write a chart (SVG) of cores and mixer latency against N to this file "+
		"(default with -out FILE.md: FILE.svg beside it)")
	fs.IntVar(&o.profileMax, "profile", 10, "take a CPU profile of the server over the first this many seconds "+
		"of each window, for the CPU per stage (0 = none)")
	fs.StringVar(&o.logDir, "logdir", "", "directory for the server logs and ffmpeg inputs (default: a new temporary directory, kept)")
	fs.BoolVar(&o.cascade, "cascade", false, "measure one room over two nodes of a cluster (N/2 participants on each, "+
		"linked), with redis-server; no ffmpeg anchor. Defaults then: -tiers "+cascadeTiers+" -n "+cascadeCounts+" -step 0")
	fs.BoolVar(&o.single, "single", true, "with -cascade, also measure the same room on one server, for the ratio of CPU")
	fs.StringVar(&o.redis, "redis-server", "redis-server", "redis-server binary for -cascade")
	fs.StringVar(&o.content, "content", "noise", "what the participants' video and ffmpeg's inputs show: noise (colour under "+
		"4x4 block noise, new every frame), camera (a camera-like scene: still background, a person moving), or both, "+
		"comma separated, each measured in turn")
	fs.IntVar(&o.sip, "sip", 0, "measure N concurrent SIP phone calls (sipp, PCMU, a tone each) in one room instead: "+
		"the server's cores per call, RTP in/out; with -n M (one size) the room also holds M video participants "+
		"at the first tier; no ffmpeg anchor")
	fs.StringVar(&o.sipp, "sipp", "sipp", "sipp binary for -sip (Debian's sip-tester)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.contents, err = parseContents(o.content); err != nil {
		return o, err
	}
	if o.cascade {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["tiers"] {
			o.tiers = cascadeTiers
		}
		if !set["n"] {
			o.counts = cascadeCounts
		}
		if !set["step"] {
			o.step = 0
		}
		o.skipFFmpeg = true
		if len(o.contents) > 1 {
			return o, fmt.Errorf("-cascade: one -content at a time, not %q", o.content)
		}
		if o.step%2 != 0 {
			return o, fmt.Errorf("-cascade: -step %d must be even (N/2 participants on each node)", o.step)
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.sip < 0 {
		return o, fmt.Errorf("-sip %d: want a number of calls", o.sip)
	}
	if o.sip > 0 {
		if o.cascade {
			return o, errors.New("-sip and -cascade do not go together")
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["n"] {
			counts, err := ParseCounts(o.counts)
			if err != nil {
				return o, err
			}
			if len(counts) != 1 {
				return o, fmt.Errorf("-sip with -n: one number of video participants, not %q", o.counts)
			}
			o.sipVideo = counts[0]
		}
		o.skipFFmpeg = true
	}
	if o.window <= 0 || o.warmup < 0 || o.settle < 0 || o.ffFrames <= 0 || o.ffThreads < 0 || o.profileMax < 0 {
		return o, fmt.Errorf("-window, -ffmpeg-frames must be positive; -warmup, -settle, -ffmpeg-threads, -profile not negative")
	}
	if o.chart == "" && o.out != "" {
		if o.chart = strings.TrimSuffix(o.out, filepath.Ext(o.out)) + ".svg"; o.chart == o.out {
			o.chart = o.out + ".svg"
		}
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.merge != "" {
		rep, err := mergeReports(strings.Split(o.merge, ","))
		if err != nil {
			return err
		}
		return writeReport(rep, o)
	}
	tiers, err := ParseTiers(o.tiers)
	if err != nil {
		return err
	}
	counts, err := ParseCounts(o.counts)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.server); err != nil {
		return fmt.Errorf("server binary: %w (run make build)", err)
	}
	if o.sip > 0 {
		if o.sipp, err = exec.LookPath(o.sipp); err != nil {
			return fmt.Errorf("-sip needs sipp: %w (install Debian's sip-tester: apt-get install sip-tester; make bench-mcu does)", err)
		}
	}
	if o.cascade {
		for _, n := range counts {
			if n%2 != 0 {
				return fmt.Errorf("-cascade: N = %d must be even (N/2 participants on each node)", n)
			}
		}
		if o.redis, err = exec.LookPath(o.redis); err != nil {
			return fmt.Errorf("-cascade needs redis-server: %w (install Debian's redis-server: apt-get install redis-server; make bench-mcu does)", err)
		}
	}
	if !o.skipFFmpeg {
		if o.ffmpeg, err = exec.LookPath(o.ffmpeg); err != nil {
			return fmt.Errorf("ffmpeg: %w (install Debian's ffmpeg, or pass -skip-ffmpeg)", err)
		}
	}
	if o.logDir == "" {
		if o.logDir, err = os.MkdirTemp("", "mcubench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if o.sip > 0 {
		return runSIP(ctx, o, tiers[0], log)
	}
	botLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// One load and one set of ffmpeg inputs per content: each participant's clip is encoded once.
	loads := make([]*botload.Load, len(o.contents))
	inputs := make([]*anchorInputs, len(o.contents))
	names := make([]string, len(o.contents))
	for k, c := range o.contents {
		if loads[k], err = botload.New(botload.Config{Content: c}, botload.Params{Colour: participantColour, Logger: botLog}); err != nil {
			return err
		}
		inputs[k] = &anchorInputs{ffmpeg: o.ffmpeg, dir: o.logDir, frames: o.ffFrames, content: c, clip: loads[k].Clip}
		names[k] = c.String()
	}
	r := &runner{
		server: o.server, redis: o.redis, visibleTiles: o.visibleTiles, warmup: o.warmup, settleMax: o.settle,
		window: o.window, joinTimeout: o.joinTimeout, logDir: o.logDir, load: botLoad{loads[0]}, content: o.contents[0], log: log,
		http: &http.Client{Timeout: 5 * time.Second}, profileMax: o.profileMax,
	}
	ffmpeg := ""
	if !o.skipFFmpeg {
		ffmpeg = o.ffmpeg
	}
	rep := &Report{
		Started: time.Now(), Machine: describeMachine(ffmpeg), Command: commandLine(args), Tiers: tiers,
		Settings: Settings{Warmup: o.warmup, Settle: o.settle, Window: o.window, VisibleTiles: o.visibleTiles,
			FFmpegThreads: o.ffThreads, FFmpegFrames: o.ffFrames, SkipFFmpeg: o.skipFFmpeg, Cascade: o.cascade,
			Contents: names},
		Largest: map[string]int{},
	}
	log.Info("mcubench", "logdir", o.logDir, "tiers", o.tiers, "n", counts, "cascade", o.cascade, "content", o.content)
	if o.cascade {
		rep.LargestCascade = map[string]int{}
		for _, tier := range tiers {
			cascadeTier(ctx, r, rep, tier, counts, o, log)
		}
		if err := ctx.Err(); err != nil {
			log.Warn("interrupted: the report holds the runs done so far")
		}
		return writeReport(rep, o)
	}
	for _, tier := range tiers {
		for k, content := range o.contents {
			r.load, r.content = botLoad{loads[k]}, content
			sched := NewSchedule(counts, o.step, o.maxN)
			held := false
			for n, ok := sched.Next(held); ok && ctx.Err() == nil; n, ok = sched.Next(held) {
				log.Info("run", "tier", tier.String(), "n", n, "content", content.String())
				res := r.measure(ctx, tier, n)
				res.InputKbps = clipKbps(loads[k], n)
				if !o.skipFFmpeg && ctx.Err() == nil {
					anchor(ctx, &res, inputs[k], o, log)
				}
				held = res.RealTime
				log.Info("result", "tier", tier.String(), "n", n, "content", content.String(),
					"server_cores", fmt.Sprintf("%.2f", res.ServerCores), "fps_min", fmt.Sprintf("%.1f", res.Down.FPSMin),
					"settled", res.Settled.Round(time.Millisecond), "shed_at_start", res.ShedAtStart,
					"frames_shed", res.VideoFramesShed, "real_time", res.RealTime, "why", res.NotRealTime)
				rep.Runs = append(rep.Runs, res)
			}
			rep.Largest[rep.largestKey(tier, content.String())] = largestRealTime(rep.Runs, tier, content.String())
		}
	}
	if err := ctx.Err(); err != nil {
		log.Warn("interrupted: the report holds the runs done so far")
	}
	return writeReport(rep, o)
}

// cascadeTier measures the cascaded rooms of tier, each followed by the same room on one server (unless
// -single=false), while they hold in real time.
func cascadeTier(ctx context.Context, r *runner, rep *Report, tier Tier, counts []int, o options, log *slog.Logger) {
	sched := NewSchedule(counts, o.step, o.maxN)
	held := false
	for n, ok := sched.Next(held); ok && ctx.Err() == nil; n, ok = sched.Next(held) {
		log.Info("run", "tier", tier.String(), "n", n, "mode", "cascade")
		c := r.measureCascade(ctx, tier, n)
		log.Info("cascade result", "tier", tier.String(), "n", n, "cores", fmt.Sprintf("%.2f", c.NodesCores()),
			"fps_min", fmt.Sprintf("%.1f", c.Down.FPSMin), "link_kbps", fmt.Sprintf("%.0f / %.0f", c.Link.Kbps12, c.Link.Kbps21),
			"rtt_p50", c.Link.RTT.P50, "real_time", c.RealTime, "why", c.NotRealTime)
		if o.single && ctx.Err() == nil {
			log.Info("run", "tier", tier.String(), "n", n, "mode", "single node")
			s := r.measure(ctx, tier, n)
			log.Info("result", "tier", tier.String(), "n", n, "server_cores", fmt.Sprintf("%.2f", s.ServerCores),
				"fps_min", fmt.Sprintf("%.1f", s.Down.FPSMin), "real_time", s.RealTime, "why", s.NotRealTime)
			rep.Runs = append(rep.Runs, s)
			c.compare(s)
		}
		held = c.RealTime
		rep.Cascade = append(rep.Cascade, c)
	}
	rep.LargestCascade[tier.String()] = largestCascade(rep.Cascade, tier)
	if o.single {
		rep.Largest[tier.String()] = largestRealTime(rep.Runs, tier, r.content.String())
	}
}

// anchor runs ffmpeg on the work of res's room and records its cost next to the server's.
func anchor(ctx context.Context, res *Run, inputs *anchorInputs, o options, log *slog.Logger) {
	files, err := inputs.files(ctx, res.N)
	if err != nil {
		res.AnchorError = err.Error()
		return
	}
	a := Anchor{FFmpeg: o.ffmpeg, Inputs: files, InputRate: inputRate, Tier: res.Tier, Frames: o.ffFrames,
		Threads: o.ffThreads, KeyframeInterval: 10 * time.Second}
	log.Info("ffmpeg anchor", "tier", res.Tier.String(), "n", res.N)
	ar, err := a.Run(ctx)
	if err != nil {
		res.AnchorError = err.Error()
		return
	}
	ar.InputKbps = inputs.kbps(files)
	res.Anchor = &ar
	if ar.Cores > 0 && res.Window > 0 {
		res.Ratio = res.ServerCores / ar.Cores
	}
}

// parseContents reads -content: one or more content names, comma separated, without repeats.
func parseContents(s string) ([]replay.Content, error) {
	var out []replay.Content
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		c, err := replay.ParseContent(f)
		if err != nil {
			return nil, fmt.Errorf("-content: %w", err)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-content %q: want noise, camera or both", s)
	}
	return out, nil
}

// clipKbps is the average bitrate, in kbit/s, of the clips participants 0..n-1 of l send (0 if any failed).
func clipKbps(l *botload.Load, n int) float64 {
	var sum float64
	for i := range n {
		c, err := l.Clip(i)
		if err != nil {
			return 0
		}
		sum += float64(c.VideoBitrate()) / 1000
	}
	return sum / float64(n)
}

func writeReport(rep *Report, o options) error {
	var w io.Writer = os.Stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	if err := rep.WriteMarkdown(w); err != nil {
		return err
	}
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.chart != "" && len(rep.Runs) > 0 {
		var b bytes.Buffer
		if err := rep.WriteChart(&b); err != nil {
			return err
		}
		if err := os.WriteFile(o.chart, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// commandLine is how to run this benchmark again: `go run ./cmd/mcubench` when it was started that way,
// the binary's path otherwise, and the arguments quoted for a shell where needed.
func commandLine(args []string) string {
	prog := os.Args[0]
	if strings.Contains(prog, "go-build") {
		prog = "go run ./cmd/mcubench"
	} else if rel, err := filepath.Rel(".", prog); err == nil && !strings.HasPrefix(rel, "..") {
		prog = "./" + rel
	}
	parts := []string{prog}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\*?;&|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
