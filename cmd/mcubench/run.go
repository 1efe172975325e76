package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

// Run is the measurement of one tier at one room size. Plain data; it is what the JSON output holds.
type Run struct {
	Tier Tier `json:"tier"`
	N    int  `json:"n"`
	// Content is what the participants' video and ffmpeg's inputs showed: "noise" or "camera"
	// (replay.Content); empty means noise.
	Content string `json:"content,omitempty"`
	// InputKbps is the average bitrate of the clips the participants sent, in kbit/s.
	InputKbps float64 `json:"input_kbps,omitempty"`
	// Window is the measured time (the -window, as it really elapsed).
	Window time.Duration `json:"window_ns"`
	// ServerCores is the server's CPU time over the window divided by the window (user + system).
	ServerCores float64 `json:"server_cores"`
	// LoadCores is the same for the benchmark process itself, which runs the N synthetic participants on
	// the same machine.
	LoadCores float64 `json:"load_cores"`
	// OtherCores is what the rest of the machine used meanwhile (all processors' busy time, from
	// /proc/stat, less the server and the load generator): other work that competed for the processors.
	OtherCores   float64 `json:"other_cores"`
	RSSBytes     int64   `json:"rss_bytes"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// IdleRSSBytes is the server's RSS once it was up, before anyone joined (the binary, its libraries,
	// the runtime): RSSBytes less this, over N, is what each participant added.
	IdleRSSBytes int64 `json:"idle_rss_bytes,omitempty"`
	// Server-side figures over the window, from /metrics.
	Participants       int     `json:"participants"`
	VideoEncoders      int     `json:"video_encoders"`
	AudioEncoders      int     `json:"audio_encoders"`
	VideoFramesOut     float64 `json:"video_frames_out"`
	VideoFramesDropped float64 `json:"video_frames_dropped"`
	ServerAudioLost    float64 `json:"server_audio_packets_lost"`
	DecodeErrors       float64 `json:"decode_errors"`
	// Settled is how long after the warm-up the window waited for the server to stop shedding video
	// (the burst of joins can make it shed for seconds); ShedAtStart is the shed level when the window
	// began anyway (non-zero only when it did not stop within -settle); VideoFramesShed counts the
	// pictures not drawn in the window.
	Settled         time.Duration `json:"settled_ns"`
	ShedAtStart     int           `json:"shed_level_at_start,omitempty"`
	VideoFramesShed float64       `json:"video_frames_shed"`
	AudioLatency    Latency       `json:"audio_latency"`
	VideoLatency    Latency       `json:"video_latency"`
	// VideoPSNR is the mean luma PSNR, in dB, of the pictures the server encoded over the window against
	// its composed pictures (x264's measure: what the participants decode when nothing is lost); 0 when
	// none was measured.
	VideoPSNR float64 `json:"video_psnr_y_db,omitempty"`
	// Down is what the participants received over the window.
	Down Downstream `json:"downstream"`
	// RealTime is the verdict (see judge); NotRealTime says why not.
	RealTime    bool   `json:"real_time"`
	NotRealTime string `json:"not_real_time,omitempty"`
	// Error is set when the run could not be measured (server failed, participants could not join...).
	Error     string `json:"error,omitempty"`
	ServerLog string `json:"server_log"`
	// Anchor is ffmpeg doing the same media work, when it ran; AnchorError when it failed.
	Anchor      *AnchorResult `json:"ffmpeg,omitempty"`
	AnchorError string        `json:"ffmpeg_error,omitempty"`
	// Ratio is ServerCores / Anchor.Cores.
	Ratio float64 `json:"ratio,omitempty"`
	// Stages is where the server's CPU went, from a CPU profile taken during the window (see stages.go);
	// StagesError says why there is none when the profile failed.
	Stages      *CPUStages `json:"cpu_stages,omitempty"`
	StagesError string     `json:"cpu_stages_error,omitempty"`
}

// Participant is one synthetic participant in the room, as the runner needs it.
type Participant interface {
	Stats() RecvStats
	// Ended reports whether the participant's session has ended (the server dropped it).
	Ended() bool
	Close() error
}

// Load joins synthetic participants to a room of a running server.
type Load interface {
	// Join adds participant i (0-based; it picks the colour and tone) to room on the server at url; the
	// participant expects to receive frameRate frames per second.
	Join(ctx context.Context, url, room string, i, frameRate int) (Participant, error)
}

// runner measures the server: one Run per tier and room size. Not safe for concurrent use.
type runner struct {
	server       string // server binary
	redis        string // redis-server binary, for -cascade
	visibleTiles int    // 0 = the server's default
	warmup       time.Duration
	settleMax    time.Duration // how long after the warm-up to wait for the server to stop shedding video
	window       time.Duration
	joinTimeout  time.Duration // for all participants to receive video, on top of one second each
	logDir       string
	// profileMax bounds the CPU profile taken during each window, in seconds (0 = no profile).
	profileMax int
	load       Load
	// content is what load's participants send, recorded in every Run (and in the names of the logs when
	// it is not the default).
	content replay.Content
	log     *slog.Logger
	http    *http.Client
}

// args returns the server's flags for tier and n participants.
func (r *runner) args(tier Tier, n int) []string {
	a := []string{
		"-canvas", tier.Canvas(), "-fps", strconv.Itoa(tier.FrameRate),
		"-video-bitrate", strconv.Itoa(tier.Bitrate), "-include-loopback", "true", "-interfaces", "lo",
		"-max-participants", strconv.Itoa(max(n, 25)), "-log-level", "warn",
		"-max-conns-per-ip", "0", // every bot comes from 127.0.0.1
		"-measure-psnr",
	}
	if r.visibleTiles > 0 {
		a = append(a, "-visible-tiles", strconv.Itoa(r.visibleTiles))
	}
	return a
}

// measure starts the server for tier, joins n participants, waits for the warm-up, measures over the
// window, and stops everything. Failures are recorded in the Run, never hidden.
func (r *runner) measure(ctx context.Context, tier Tier, n int) (run Run) {
	run = Run{Tier: tier, N: n, Content: r.content.String()}
	log := r.log.With("tier", tier.String(), "n", n)
	run.ServerLog = filepath.Join(r.logDir, fmt.Sprintf("server-%s-%d%s.log", tier.Canvas(), n, r.logSuffix()))
	profSeconds := profileSeconds(r.window, r.profileMax)
	srv, err := serverproc.Start(ctx, serverproc.Options{Bin: r.server, Args: r.args(tier, n),
		LogPath: run.ServerLog, Timeout: 10 * time.Second, DebugAddr: profSeconds > 0})
	if err != nil {
		run.Error = err.Error()
		run.RealTime, run.NotRealTime = judge(&run)
		return run
	}
	if run.IdleRSSBytes, _, err = procRSS(strconv.Itoa(srv.Pid())); err != nil {
		run.Error = fmt.Sprintf("server rss: %v", err)
	}
	var parts []Participant
	defer func() { // runs after the return value is set: it may still add a stop failure and the verdict
		closeAll(parts)
		if err := srv.Stop(10 * time.Second); err != nil && run.Error == "" {
			run.Error = err.Error()
		}
		run.RealTime, run.NotRealTime = judge(&run)
	}()
	if parts, err = r.join(ctx, srv, n, tier.FrameRate); err != nil {
		run.Error = err.Error()
		return run
	}
	log.Info("joined; waiting for video")
	if err := r.waitReceiving(ctx, srv, parts); err != nil {
		run.Error = err.Error()
		return run
	}
	if err := sleep(ctx, srv, r.warmup); err != nil {
		run.Error = err.Error()
		return run
	}
	if run.Settled, run.ShedAtStart, err = r.settle(ctx, srv); err != nil {
		run.Error = err.Error()
		return run
	}

	before, err := r.sample(ctx, srv, parts)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	log.Info("measuring", "window", r.window)
	if profSeconds > 0 {
		// The profile runs beside the window, from its start; the run waits for it before the server stops.
		prof := make(chan profileResult, 1)
		path := filepath.Join(r.logDir, fmt.Sprintf("cpu-%s-%d%s.pb.gz", tier.Canvas(), n, r.logSuffix()))
		go func() {
			b, err := fetchProfile(ctx, srv.DebugURL("/debug/pprof/profile"), profSeconds, path)
			prof <- profileResult{path, b, err}
		}()
		defer func() { // before the deferred stop above
			res := <-prof
			var err error
			if run.Stages, err = res.stages(run.ServerCores); err != nil {
				run.StagesError = err.Error()
				log.Warn("cpu stages", "err", err)
			}
		}()
	}
	if err := sleep(ctx, srv, r.window); err != nil {
		run.Error = err.Error()
		return run
	}
	after, err := r.sample(ctx, srv, parts)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	ended := 0
	for _, p := range parts {
		if p.Ended() {
			ended++
		}
	}
	err = fill(&run, before, after)
	if ended > 0 {
		err = errors.Join(err, fmt.Errorf("the server ended %d of %d participants' sessions", ended, n))
	}
	if err != nil {
		run.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	if run.RSSBytes, run.PeakRSSBytes, err = procRSS(strconv.Itoa(srv.Pid())); err != nil && run.Error == "" {
		run.Error = fmt.Sprintf("server rss: %v", err)
	}
	return run
}

// logSuffix tells apart the logs of another content than the default: "-camera".
func (r *runner) logSuffix() string {
	if r.content == replay.Noise {
		return ""
	}
	return "-" + r.content.String()
}

// ContentName is the run's Content, "noise" when empty.
func (r Run) ContentName() string {
	if r.Content == "" {
		return replay.Noise.String()
	}
	return r.Content
}

// join adds n participants, a few at a time. On error it closes those that joined.
func (r *runner) join(ctx context.Context, srv *serverproc.Proc, n, frameRate int) ([]Participant, error) {
	return r.joinRange(ctx, srv.URL(""), 0, n, frameRate)
}

func closeAll(parts []Participant) {
	var wg sync.WaitGroup
	for _, p := range parts {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Close()
		}()
	}
	wg.Wait()
}

// waitReceiving waits until every participant has received video and audio, or the join timeout.
func (r *runner) waitReceiving(ctx context.Context, srv *serverproc.Proc, parts []Participant) error {
	deadline := time.Now().Add(r.joinTimeout + time.Duration(len(parts))*time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		waiting := 0
		for _, p := range parts {
			if s := p.Stats(); s.VideoFrames == 0 || s.AudioPackets == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d participants received no video or audio within %v", waiting, len(parts),
				r.joinTimeout+time.Duration(len(parts))*time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-srv.Done():
			return serverExited(srv)
		case <-tick.C:
		}
	}
}

// settle waits until the server sheds no video (mcu_video_shed_level 0), polling its metrics, for at most
// r.settleMax. It returns how long it waited and the level it gave up at (0 when it settled): the window
// measures the room as it runs, not the governor coming down after the burst of joins, and a server
// past capacity that never settles is measured all the same.
func (r *runner) settle(ctx context.Context, srv *serverproc.Proc) (time.Duration, int, error) {
	start := time.Now()
	for {
		m, err := fetchMetrics(ctx, r.http, srv.URL("/metrics"))
		if err != nil {
			return time.Since(start), 0, err
		}
		waited := time.Since(start)
		if m.VideoShedLevel == 0 || waited >= r.settleMax {
			return waited, int(m.VideoShedLevel), nil
		}
		if err := sleep(ctx, srv, 250*time.Millisecond); err != nil {
			return waited, 0, err
		}
	}
}

// sleep waits d unless ctx ends or the server exits.
func sleep(ctx context.Context, srv *serverproc.Proc, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-srv.Done():
		return serverExited(srv)
	case <-t.C:
		return nil
	}
}

// serverExited is the error of a server that exited during a run.
func serverExited(srv *serverproc.Proc) error {
	_, err := srv.Exited()
	return fmt.Errorf("server exited: %v", err)
}

// sample is everything read at one end of the window.
type sample struct {
	at        time.Time
	serverCPU time.Duration
	selfCPU   time.Duration
	busyCPU   time.Duration // the whole machine's
	metrics   Scrape
	recv      []RecvStats
}

func (r *runner) sample(ctx context.Context, srv *serverproc.Proc, parts []Participant) (sample, error) {
	var s sample
	var err error
	// The CPU readings and the clock are taken together; the scrape (which costs the server a little)
	// and the participants' stats follow.
	s.at = time.Now()
	if s.serverCPU, err = procCPU(strconv.Itoa(srv.Pid())); err != nil {
		return s, fmt.Errorf("server cpu: %w", err)
	}
	if s.selfCPU, err = procCPU("self"); err != nil {
		return s, fmt.Errorf("own cpu: %w", err)
	}
	if s.busyCPU, err = machineBusy(); err != nil {
		return s, fmt.Errorf("machine cpu: %w", err)
	}
	s.recv = make([]RecvStats, len(parts))
	for i, p := range parts {
		s.recv[i] = p.Stats()
	}
	if s.metrics, err = fetchMetrics(ctx, r.http, srv.URL("/metrics")); err != nil {
		return s, err
	}
	return s, nil
}

// fill computes the run's figures from the two ends of the window.
func fill(run *Run, before, after sample) error {
	el := after.at.Sub(before.at)
	run.Window = el
	run.ServerCores = (after.serverCPU - before.serverCPU).Seconds() / el.Seconds()
	run.LoadCores = (after.selfCPU - before.selfCPU).Seconds() / el.Seconds()
	// Per-process and machine-wide counters tick separately: a small negative remainder is rounding.
	run.OtherCores = max((after.busyCPU-before.busyCPU).Seconds()/el.Seconds()-run.ServerCores-run.LoadCores, 0)
	m0, m1 := before.metrics, after.metrics
	run.Participants = int(m1.Participants)
	run.VideoEncoders, run.AudioEncoders = int(m1.VideoEncoders), int(m1.AudioEncoders)
	run.VideoFramesOut = m1.VideoFramesOut - m0.VideoFramesOut
	run.VideoFramesDropped = m1.VideoFramesDropped - m0.VideoFramesDropped
	run.ServerAudioLost = m1.AudioPacketsLost - m0.AudioPacketsLost
	run.DecodeErrors = m1.DecodeErrors - m0.DecodeErrors
	run.VideoFramesShed = m1.VideoFramesShed - m0.VideoFramesShed
	run.VideoPSNR = psnrOver(m0, m1)
	var errs []error
	if h, err := histogramDelta(m0.AudioLatency, m1.AudioLatency); err != nil {
		errs = append(errs, fmt.Errorf("audio latency: %w", err))
	} else {
		run.AudioLatency = latencyOf(h)
	}
	if h, err := histogramDelta(m0.VideoLatency, m1.VideoLatency); err != nil {
		errs = append(errs, fmt.Errorf("video latency: %w", err))
	} else {
		run.VideoLatency = latencyOf(h)
	}
	d, err := aggregate(before.recv, after.recv, el, run.Tier.FrameRate)
	if err != nil {
		errs = append(errs, err)
	}
	run.Down = d
	if run.Participants != run.N {
		errs = append(errs, fmt.Errorf("server reports %d participants, want %d", run.Participants, run.N))
	}
	return errors.Join(errs...)
}
