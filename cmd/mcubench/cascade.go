package main

// Cascade mode (-cascade): one room of N participants over two nodes of a cluster. The benchmark starts
// redis-server on a unix socket in a temporary directory, node1 (plain) and node2 (-cascade-rooms all),
// joins the first N/2 participants through node1 (which so owns the room), then the other N/2 through
// node2, which keeps them and links to node1: one WebRTC data-channel link over which each node forwards
// its local participants' original media, each node decoding, composing and mixing for its own. Once
// every participant receives video and audio and both nodes run their link and decode all N voices, it
// measures over the window what the single-node mode does, per node, plus the link: its media bitrate
// each way (mcu_cascade_bytes_total), its dropped packets, and its round trip, sampled every second
// (mcu_cascade_link_rtt_seconds), half of which is the latency one hop adds.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
)

// CascadeRun is the measurement of one room of N participants over two nodes, N/2 on each. Plain data;
// it is what the JSON output holds.
type CascadeRun struct {
	Tier Tier `json:"tier"`
	N    int  `json:"n"`
	// Window is the measured time, as it really elapsed.
	Window time.Duration `json:"window_ns"`
	// Nodes are node1 (owns the room; the first N/2 participants) and node2 (-cascade-rooms all; the others).
	Nodes []NodeRun `json:"nodes"`
	// LoadCores is the benchmark process's CPU (the N participants); OtherCores the rest of the machine's,
	// less both nodes, the load and redis-server.
	LoadCores  float64 `json:"load_cores"`
	RedisCores float64 `json:"redis_cores"`
	OtherCores float64 `json:"other_cores"`
	// Link is the cascade link between the nodes over the window.
	Link LinkFigures `json:"link"`
	// Down is what every participant received, both nodes together.
	Down Downstream `json:"downstream"`
	// Single is the same tier and N in one room on one server, measured right after (without -single=false):
	// SingleCores its server's CPU, CoresRatio (both nodes' cores) / SingleCores.
	SingleCores        float64  `json:"single_node_cores,omitempty"`
	SingleVideoLatency *Latency `json:"single_node_video_latency,omitempty"`
	SingleAudioLatency *Latency `json:"single_node_audio_latency,omitempty"`
	SingleRealTime     *bool    `json:"single_node_real_time,omitempty"`
	CoresRatio         float64  `json:"cores_ratio,omitempty"`
	// RealTime is the verdict (see judgeCascade); NotRealTime says why not.
	RealTime    bool   `json:"real_time"`
	NotRealTime string `json:"not_real_time,omitempty"`
	Error       string `json:"error,omitempty"`
	RedisLog    string `json:"redis_log"`
}

// NodeRun is one node of a cascaded room over the window.
type NodeRun struct {
	Name string `json:"name"`
	// Local is the participants that joined through this node; the server's mcu_participants counts them
	// (not the remote ones, the other node's).
	Local         int     `json:"local_participants"`
	Participants  int     `json:"participants"`
	Cores         float64 `json:"cores"`
	RSSBytes      int64   `json:"rss_bytes"`
	PeakRSSBytes  int64   `json:"peak_rss_bytes"`
	VideoEncoders int     `json:"video_encoders"`
	AudioEncoders int     `json:"audio_encoders"`
	VideoDecoders int     `json:"video_decoders"`
	AudioDecoders int     `json:"audio_decoders"`
	Links         int     `json:"cascade_links"`
	DecodeErrors  float64 `json:"decode_errors"`
	AudioLatency  Latency `json:"audio_latency"`
	VideoLatency  Latency `json:"video_latency"`
	// Down is what this node's participants received.
	Down Downstream `json:"downstream"`
	// SentKbps and ReceivedKbps are this node's mcu_cascade_bytes_total over the window, in kbit/s.
	SentKbps        float64 `json:"link_sent_kbps"`
	ReceivedKbps    float64 `json:"link_received_kbps"`
	PacketsSent     float64 `json:"link_packets_sent"`
	PacketsReceived float64 `json:"link_packets_received"`
	PacketsDropped  float64 `json:"link_packets_dropped"`
	// RTT is this node's mcu_cascade_link_rtt_seconds, sampled every second over the window.
	RTT       RTTFigures `json:"link_rtt"`
	ServerLog string     `json:"server_log"`
}

// LinkFigures sum up the link over the window.
type LinkFigures struct {
	// Kbps12 is node1's media to node2 (node1's sent bytes), Kbps21 the other way, in kbit/s; PerParticipant
	// divides each by the participants whose media it carries (N/2).
	Kbps12               float64 `json:"kbps_node1_to_node2"`
	Kbps21               float64 `json:"kbps_node2_to_node1"`
	PerParticipantKbps12 float64 `json:"kbps_per_participant_node1_to_node2"`
	PerParticipantKbps21 float64 `json:"kbps_per_participant_node2_to_node1"`
	PacketsSent          float64 `json:"packets_sent"`
	PacketsDropped       float64 `json:"packets_dropped"`
	// PacketsUnreceived is what both nodes sent less what the other received: besides drops on the way
	// in, media messages the link's SCTP gave up after their lifetime (200 ms) or that were still in
	// flight at the window's ends (a few).
	PacketsUnreceived float64 `json:"packets_unreceived"`
	// RTT is both nodes' samples together; Hop is half of it: the latency one hop adds.
	RTT    RTTFigures    `json:"rtt"`
	HopP50 time.Duration `json:"hop_p50_ns"`
	HopMax time.Duration `json:"hop_max_ns"`
}

// RTTFigures are the p50 and max of round-trip samples.
type RTTFigures struct {
	P50     time.Duration `json:"p50_ns"`
	Max     time.Duration `json:"max_ns"`
	Samples int           `json:"samples"`
}

// rttOf returns the p50 (the lower median) and the max of samples; zero samples (a link that had not
// measured yet reports 0) are left out.
func rttOf(samples []time.Duration) RTTFigures {
	var s []time.Duration
	for _, d := range samples {
		if d > 0 {
			s = append(s, d)
		}
	}
	if len(s) == 0 {
		return RTTFigures{}
	}
	slices.Sort(s)
	return RTTFigures{P50: s[(len(s)-1)/2], Max: s[len(s)-1], Samples: len(s)}
}

// nodeNames are the nodes of a cascade run, in join order.
var nodeNames = []string{"node1", "node2"}

// nodeArgs returns the flags of node i (0: node1, 1: node2) listening on addr, after runner.args.
func (r *runner) nodeArgs(tier Tier, n, i int, addr string) []string {
	a := append(r.args(tier, n), "-http", addr, "-public-url", "http://"+addr, "-node-id", nodeNames[i],
		"-sip-port", "0", "-turn-port", "0", "-ice-tcp-port", "0", "-drain-timeout", "3s")
	if i == 1 {
		a = append(a, "-cascade-rooms", "all")
	}
	return a
}

// node is one running node of a cascade run and the participants that joined through it.
type node struct {
	name  string
	srv   *serverproc.Proc
	parts []Participant
}

// nodeSample is what is read of one node at one end of the window.
type nodeSample struct {
	cpu     time.Duration
	metrics Scrape
	recv    []RecvStats
}

// cascadeSample is everything read at one end of the window.
type cascadeSample struct {
	at       time.Time
	selfCPU  time.Duration
	redisCPU time.Duration
	busyCPU  time.Duration
	nodes    []nodeSample
}

// measureCascade starts redis-server and two nodes for tier, joins n/2 participants through each, waits
// until all receive media and the link runs, measures over the window, and stops everything. Failures
// are recorded in the run, never hidden.
func (r *runner) measureCascade(ctx context.Context, tier Tier, n int) (run CascadeRun) {
	run = CascadeRun{Tier: tier, N: n}
	log := r.log.With("tier", tier.String(), "n", n, "mode", "cascade")
	run.RedisLog = filepath.Join(r.logDir, fmt.Sprintf("redis-%s-%d.log", tier.Canvas(), n))
	nodes := make([]*node, len(nodeNames))
	var redis *redisProc
	defer func() { // after the return value is set: it may still add a stop failure and the verdict
		var wg sync.WaitGroup
		for _, nd := range nodes {
			if nd != nil {
				wg.Add(1)
				go func() { defer wg.Done(); closeAll(nd.parts) }()
			}
		}
		wg.Wait()
		for i, nd := range nodes {
			if nd == nil {
				continue
			}
			if err := nd.srv.Stop(10 * time.Second); err != nil && run.Error == "" {
				run.Error = fmt.Sprintf("%s: %v", nodeNames[i], err)
			}
		}
		if redis != nil {
			redis.Stop()
		}
		run.RealTime, run.NotRealTime = judgeCascade(&run)
	}()
	fail := func(err error) CascadeRun {
		run.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
		return run
	}
	if n < 2 || n%2 != 0 {
		return fail(fmt.Errorf("cascade: N = %d, want an even number (N/2 on each node)", n))
	}
	var err error
	if redis, err = startRedis(ctx, r.redis, run.RedisLog); err != nil {
		return fail(err)
	}
	token, err := randomToken()
	if err != nil {
		return fail(err)
	}
	env := []string{"MCU_REDIS=unix://" + redis.sock, "MCU_ADMIN_TOKEN=" + token}
	run.Nodes = make([]NodeRun, len(nodeNames))
	for i, name := range nodeNames {
		run.Nodes[i] = NodeRun{Name: name, Local: n / 2,
			ServerLog: filepath.Join(r.logDir, fmt.Sprintf("server-cascade-%s-%d-%s.log", tier.Canvas(), n, name))}
		addr, err := freeAddr()
		if err != nil {
			return fail(err)
		}
		srv, err := serverproc.Start(ctx, serverproc.Options{Bin: r.server, Args: r.nodeArgs(tier, n, i, addr), Env: env,
			LogPath: run.Nodes[i].ServerLog, Timeout: 10 * time.Second, OwnProcessGroup: true})
		if err != nil {
			return fail(fmt.Errorf("%s: %w", name, err))
		}
		nodes[i] = &node{name: name, srv: srv}
	}
	// node1 first, until its participants receive media: it claims the room. Then node2's.
	for i, nd := range nodes {
		if nd.parts, err = r.joinRange(ctx, nd.srv.URL(""), i*n/2, n/2, tier.FrameRate); err != nil {
			return fail(fmt.Errorf("%s: %w", nd.name, err))
		}
		log.Info("joined; waiting for video", "node", nd.name)
		if err := r.waitCascade(ctx, nodes[:i+1], n, i == len(nodes)-1); err != nil {
			return fail(err)
		}
	}
	if err := sleepNodes(ctx, nodes, r.warmup); err != nil {
		return fail(err)
	}
	before, err := r.sampleCascade(ctx, nodes, redis)
	if err != nil {
		return fail(err)
	}
	log.Info("measuring", "window", r.window)
	rtts, err := r.sampleRTT(ctx, nodes, r.window)
	if err != nil {
		return fail(err)
	}
	after, err := r.sampleCascade(ctx, nodes, redis)
	if err != nil {
		return fail(err)
	}
	err = fillCascade(&run, before, after, rtts)
	for _, nd := range nodes {
		ended := 0
		for _, p := range nd.parts {
			if p.Ended() {
				ended++
			}
		}
		if ended > 0 {
			err = errors.Join(err, fmt.Errorf("%s ended %d of %d participants' sessions", nd.name, ended, len(nd.parts)))
		}
	}
	if err != nil {
		run.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	for i, nd := range nodes {
		var rerr error
		if run.Nodes[i].RSSBytes, run.Nodes[i].PeakRSSBytes, rerr = procRSS(strconv.Itoa(nd.srv.Pid())); rerr != nil && run.Error == "" {
			run.Error = fmt.Sprintf("%s rss: %v", nd.name, rerr)
		}
	}
	return run
}

// joinRange adds n participants, numbered first.., to the room on the server at url, a few at a time. On
// error it closes those that joined.
func (r *runner) joinRange(ctx context.Context, url string, first, n, frameRate int) ([]Participant, error) {
	parts := make([]Participant, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			p, err := r.load.Join(jctx, url, "bench", first+k, frameRate)
			if err != nil {
				errs[k] = fmt.Errorf("participant %d: join: %w", first+k, err)
				return
			}
			parts[k] = p
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(parts)
		return nil, err
	}
	return parts, nil
}

// waitCascade waits until every participant of nodes has received video and audio and, with linked,
// both nodes run one cascade link and decode the voices of all n participants (theirs and the other
// node's), or the join timeout.
func (r *runner) waitCascade(ctx context.Context, nodes []*node, n int, linked bool) error {
	total := 0
	for _, nd := range nodes {
		total += len(nd.parts)
	}
	limit := r.joinTimeout + time.Duration(total)*time.Second
	deadline := time.Now().Add(limit)
	for {
		var waiting []string
		recv := 0
		for _, nd := range nodes {
			for _, p := range nd.parts {
				if s := p.Stats(); s.VideoFrames == 0 || s.AudioPackets == 0 {
					recv++
				}
			}
		}
		if recv > 0 {
			waiting = append(waiting, fmt.Sprintf("%d of %d participants received no video or audio", recv, total))
		}
		if linked && recv == 0 { // scrape only once the bots are in
			for _, nd := range nodes {
				s, err := fetchMetrics(ctx, r.http, nd.srv.URL("/metrics"))
				switch {
				case err != nil:
					waiting = append(waiting, fmt.Sprintf("%s: %v", nd.name, err))
				case s.CascadeLinks != 1:
					waiting = append(waiting, fmt.Sprintf("%s runs %.0f cascade links, want 1", nd.name, s.CascadeLinks))
				case int(s.AudioDecoders) < n:
					waiting = append(waiting, fmt.Sprintf("%s decodes %.0f voices, want %d (its own and the remote ones)",
						nd.name, s.AudioDecoders, n))
				}
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %s", limit, strings.Join(waiting, "; "))
		}
		if err := sleepNodes(ctx, nodes, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleepNodes waits d unless ctx ends or a node exits.
func sleepNodes(ctx context.Context, nodes []*node, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, nd := range nodes {
			if ok, err := nd.srv.Exited(); ok {
				return fmt.Errorf("%s exited: %v (log: %s)", nd.name, err, nd.srv.LogPath())
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-tick.C:
		}
	}
}

// sampleCascade reads both nodes, the benchmark, redis-server and the machine at one end of the window.
func (r *runner) sampleCascade(ctx context.Context, nodes []*node, redis *redisProc) (cascadeSample, error) {
	s := cascadeSample{at: time.Now(), nodes: make([]nodeSample, len(nodes))}
	var err error
	for i, nd := range nodes {
		if s.nodes[i].cpu, err = procCPU(strconv.Itoa(nd.srv.Pid())); err != nil {
			return s, fmt.Errorf("%s cpu: %w", nd.name, err)
		}
	}
	if s.selfCPU, err = procCPU("self"); err != nil {
		return s, fmt.Errorf("own cpu: %w", err)
	}
	if s.redisCPU, err = procCPU(strconv.Itoa(redis.Pid())); err != nil {
		return s, fmt.Errorf("redis-server cpu: %w", err)
	}
	if s.busyCPU, err = machineBusy(); err != nil {
		return s, fmt.Errorf("machine cpu: %w", err)
	}
	for i, nd := range nodes {
		s.nodes[i].recv = make([]RecvStats, len(nd.parts))
		for k, p := range nd.parts {
			s.nodes[i].recv[k] = p.Stats()
		}
	}
	for i, nd := range nodes {
		if s.nodes[i].metrics, err = fetchMetrics(ctx, r.http, nd.srv.URL("/metrics")); err != nil {
			return s, fmt.Errorf("%s: %w", nd.name, err)
		}
	}
	return s, nil
}

// sampleRTT scrapes every node once a second for d and returns the round trips of its links, node by node.
func (r *runner) sampleRTT(ctx context.Context, nodes []*node, d time.Duration) ([][]time.Duration, error) {
	out := make([][]time.Duration, len(nodes))
	end := time.Now().Add(d)
	for {
		step := min(time.Until(end), time.Second)
		if step <= 0 {
			return out, nil
		}
		if err := sleepNodes(ctx, nodes, step); err != nil {
			return out, err
		}
		if time.Until(end) <= 0 {
			return out, nil // the scrape at the window's end (sampleCascade) follows
		}
		for i, nd := range nodes {
			s, err := fetchMetrics(ctx, r.http, nd.srv.URL("/metrics"))
			if err != nil {
				return out, fmt.Errorf("%s: %w", nd.name, err)
			}
			out[i] = append(out[i], s.CascadeRTT...)
		}
	}
}

// fillCascade computes the run's figures from the two ends of the window and the round trips sampled
// in between (per node; the end scrapes' are added).
func fillCascade(run *CascadeRun, before, after cascadeSample, rtts [][]time.Duration) error {
	if len(before.nodes) != len(run.Nodes) || len(after.nodes) != len(run.Nodes) {
		return fmt.Errorf("cascade: %d nodes, samples of %d and %d", len(run.Nodes), len(before.nodes), len(after.nodes))
	}
	el := after.at.Sub(before.at)
	if el <= 0 {
		return fmt.Errorf("cascade: window of %v", el)
	}
	run.Window = el
	sec := el.Seconds()
	kbps := func(bytes float64) float64 { return bytes * 8 / 1000 / sec }
	var errs []error
	var nodeCores float64
	var allBefore, allAfter []RecvStats
	var allRTT []time.Duration
	for i := range run.Nodes {
		nr, b, a := &run.Nodes[i], before.nodes[i], after.nodes[i]
		m0, m1 := b.metrics, a.metrics
		nr.Cores = (a.cpu - b.cpu).Seconds() / sec
		nodeCores += nr.Cores
		nr.Participants = int(m1.Participants)
		nr.VideoEncoders, nr.AudioEncoders = int(m1.VideoEncoders), int(m1.AudioEncoders)
		nr.VideoDecoders, nr.AudioDecoders = int(m1.VideoDecoders), int(m1.AudioDecoders)
		nr.Links = int(m1.CascadeLinks)
		nr.DecodeErrors = m1.DecodeErrors - m0.DecodeErrors
		nr.SentKbps = kbps(m1.CascadeBytesSent - m0.CascadeBytesSent)
		nr.ReceivedKbps = kbps(m1.CascadeBytesReceived - m0.CascadeBytesReceived)
		nr.PacketsSent = m1.CascadePacketsSent - m0.CascadePacketsSent
		nr.PacketsReceived = m1.CascadePacketsReceived - m0.CascadePacketsReceived
		nr.PacketsDropped = m1.CascadePacketsDropped - m0.CascadePacketsDropped
		var samples []time.Duration
		if i < len(rtts) {
			samples = append(samples, rtts[i]...)
		}
		samples = append(append(samples, m0.CascadeRTT...), m1.CascadeRTT...)
		nr.RTT = rttOf(samples)
		allRTT = append(allRTT, samples...)
		if h, err := histogramDelta(m0.AudioLatency, m1.AudioLatency); err != nil {
			errs = append(errs, fmt.Errorf("%s audio latency: %w", nr.Name, err))
		} else {
			nr.AudioLatency = latencyOf(h)
		}
		if h, err := histogramDelta(m0.VideoLatency, m1.VideoLatency); err != nil {
			errs = append(errs, fmt.Errorf("%s video latency: %w", nr.Name, err))
		} else {
			nr.VideoLatency = latencyOf(h)
		}
		d, err := aggregate(b.recv, a.recv, el, run.Tier.FrameRate)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", nr.Name, err))
		}
		nr.Down = d
		allBefore, allAfter = append(allBefore, b.recv...), append(allAfter, a.recv...)
		if nr.Participants != nr.Local {
			errs = append(errs, fmt.Errorf("%s reports %d participants, want %d", nr.Name, nr.Participants, nr.Local))
		}
	}
	run.LoadCores = (after.selfCPU - before.selfCPU).Seconds() / sec
	run.RedisCores = (after.redisCPU - before.redisCPU).Seconds() / sec
	run.OtherCores = max((after.busyCPU-before.busyCPU).Seconds()/sec-nodeCores-run.LoadCores-run.RedisCores, 0)
	if d, err := aggregate(allBefore, allAfter, el, run.Tier.FrameRate); err == nil {
		run.Down = d
	}
	if len(run.Nodes) == 2 {
		l := &run.Link
		n1, n2 := run.Nodes[0], run.Nodes[1]
		l.Kbps12, l.Kbps21 = n1.SentKbps, n2.SentKbps
		if n1.Local > 0 {
			l.PerParticipantKbps12 = l.Kbps12 / float64(n1.Local)
		}
		if n2.Local > 0 {
			l.PerParticipantKbps21 = l.Kbps21 / float64(n2.Local)
		}
		l.PacketsSent = n1.PacketsSent + n2.PacketsSent
		l.PacketsDropped = n1.PacketsDropped + n2.PacketsDropped
		l.PacketsUnreceived = max(n1.PacketsSent-n2.PacketsReceived, 0) + max(n2.PacketsSent-n1.PacketsReceived, 0)
		l.RTT = rttOf(allRTT)
		l.HopP50, l.HopMax = l.RTT.P50/2, l.RTT.Max/2
	}
	return errors.Join(errs...)
}

// compare sets the single-node run of the same tier and N beside the cascaded one.
func (c *CascadeRun) compare(single Run) {
	if single.Window == 0 || single.Error != "" {
		return
	}
	held := single.RealTime
	al, vl := single.AudioLatency, single.VideoLatency
	c.SingleCores, c.SingleRealTime, c.SingleAudioLatency, c.SingleVideoLatency = single.ServerCores, &held, &al, &vl
	if total := c.NodesCores(); single.ServerCores > 0 && total > 0 {
		c.CoresRatio = total / single.ServerCores
	}
}

// NodesCores is both nodes' CPU together.
func (c CascadeRun) NodesCores() float64 {
	var t float64
	for _, n := range c.Nodes {
		t += n.Cores
	}
	return t
}

// judgeCascade decides whether a cascaded room held in real time: it completed, every participant on
// either node received at least 29 of 30 frames per second (scaled), no audio ran dry, and both nodes
// still ran their link at the end.
func judgeCascade(c *CascadeRun) (bool, string) {
	if c.Error != "" {
		return false, c.Error
	}
	var why []string
	if want := c.Tier.RealTimeFPS(); c.Down.FPSMin < want {
		why = append(why, fmt.Sprintf("min fps %.1f < %.1f", c.Down.FPSMin, want))
	}
	if c.Down.AudioUnderruns > 0 {
		why = append(why, fmt.Sprintf("%d audio underruns", c.Down.AudioUnderruns))
	}
	for _, n := range c.Nodes {
		if n.Links != 1 {
			why = append(why, fmt.Sprintf("%s runs %d cascade links", n.Name, n.Links))
		}
	}
	return len(why) == 0, strings.Join(why, ", ")
}

// largestCascade returns the largest N of tier whose cascaded room held in real time, 0 if none did.
func largestCascade(runs []CascadeRun, tier Tier) int {
	best := 0
	for _, r := range runs {
		if r.Tier == tier && r.RealTime {
			best = max(best, r.N)
		}
	}
	return best
}

// freeAddr returns a loopback address with a TCP port that was free a moment ago: a node must know its
// address before it starts, for its -public-url.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// randomToken returns the nodes' shared admin token.
func randomToken() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// redisProc is a redis-server on a unix socket in a temporary directory, persistence off.
type redisProc struct {
	cmd  *exec.Cmd
	dir  string
	sock string
	done chan struct{}
}

// redisArgs are redis-server's flags: no TCP port, the socket in dir, nothing saved.
func redisArgs(dir string) []string {
	return []string{"--port", "0", "--unixsocket", filepath.Join(dir, "redis.sock"), "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir}
}

// startRedis starts bin (redis-server) with its output to logPath and waits until it answers PING.
func startRedis(ctx context.Context, bin, logPath string) (*redisProc, error) {
	// The socket's path must fit a sockaddr_un (108 bytes): a short temporary directory, not -logdir.
	dir, err := os.MkdirTemp("", "mcubench-redis-")
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, redisArgs(dir)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C reaches the benchmark, which stops it last
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &redisProc{cmd: cmd, dir: dir, sock: filepath.Join(dir, "redis.sock"), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := redisPing(p.sock)
		if err == nil {
			return p, nil
		}
		exited := false
		select {
		case <-p.done:
			exited, err = true, fmt.Errorf("redis-server exited (%v)", err)
		default:
		}
		if exited || time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("redis-server did not start: %v (log: %s)", err, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisPing sends PING to the redis-server on the unix socket sock and expects +PONG.
func redisPing(sock string) error {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Pid returns redis-server's process ID.
func (p *redisProc) Pid() int { return p.cmd.Process.Pid }

// Stop ends redis-server (SIGTERM, then SIGKILL after 5 s) and removes its directory.
func (p *redisProc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	os.RemoveAll(p.dir)
}

// writeCascadeIntro explains the cascade tables.
func writeCascadeIntro(b *strings.Builder) {
	b.WriteString("Cascade (-cascade): one room of N participants over two nodes of a cluster sharing a redis-server " +
		"(unix socket) on this machine: node1 plain, node2 with -cascade-rooms all. The first N/2 participants join " +
		"through node1 (which so owns the room), the other N/2 through node2, which keeps them and links to node1 " +
		"(one WebRTC data-channel link over loopback). Over the link each node forwards its own participants' " +
		"original media (not re-encoded); each node decodes all N, and composes, encodes and mixes for its own N/2. " +
		"The window starts once every participant receives video and audio, both nodes run the link and decode " +
		"all N voices, plus the warm-up. The first table has one row per node (its participants' downstream, " +
		"its mixer latency from a packet's arrival at that node, over the link for the other node's participants); " +
		"the second is the link and the room as a whole.\n\n" +
		"Link kbit/s: mcu_cascade_bytes_total over the window (RTP plus a 5-byte header; no SCTP, DTLS, UDP, IP " +
		"overheads), each way, and per participant forwarded (divided by N/2). Dropped: packets the link dropped " +
		"(full queue or SCTP buffer, unknown stream); unreceived: sent by one node less received by the other " +
		"(the drops on the way in, media the link's SCTP gave up after its 200 ms lifetime, a few in flight at " +
		"the window's ends). RTT: mcu_cascade_link_rtt_seconds of both nodes, scraped " +
		"every second over the window (each node pings once a second, so neighbouring samples may repeat one " +
		"measurement). **One hop = RTT / 2**: the trip of a message on the link's reliable control channel, which " +
		"shares the SCTP association, DTLS and UDP with the media: it includes both nodes' SCTP/DTLS/UDP send and " +
		"receive paths, queueing behind media in the association, and both processes' scheduling delay on this " +
		"shared 2-core machine (halving assumes the two ways are alike); it excludes the sending node's ingest " +
		"and media queue before the link, the receiving node's decode, compose, encode and mix (its mixer latency, " +
		"in the first table) and any wire delay (loopback here; between machines add the network's one-way delay). " +
		"So a participant hears and sees one on the other node after about one hop plus its own node's mixer latency, " +
		"against that mixer latency alone in a room on one server. " +
		"Cores: both nodes' CPU together; \"one server\" is the same room on one server, measured right after " +
		"(the table below), and the ratio is both nodes' cores over it. Real time: every participant on either " +
		"node receives >= 29/30 of the frame rate, no audio underrun, and both nodes still run the link.\n\n")
}

// writeCascadeTables writes the per-node table and the link table of tier's cascaded runs.
func writeCascadeTables(b *strings.Builder, runs []CascadeRun, t Tier) {
	b.WriteString("| N | node | local | cores | RSS MiB | fps min / avg | missing frames | freezes | audio underruns | " +
		"audio lost | audio p50 / p99 ms | video p50 / p99 ms | encoders video / audio | decoders video / audio | " +
		"link out / in kbit/s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range runs {
		if c.Tier != t {
			continue
		}
		if c.Window == 0 {
			fmt.Fprintf(b, "| %d | - | - | - | - | - | - | - | - | - | - | - | - | - | - |\n", c.N)
			continue
		}
		for _, nd := range c.Nodes {
			d := nd.Down
			fmt.Fprintf(b, "| %d | %s | %d | %.2f | %.0f | %.1f / %.1f | %d | %d | %d | %d | %s | %s | %d / %d | %d / %d | %.0f / %.0f |\n",
				c.N, nd.Name, nd.Local, nd.Cores, float64(nd.RSSBytes)/(1<<20), d.FPSMin, d.FPSAvg, d.MissingFrames,
				d.Freezes, d.AudioUnderruns, d.AudioPacketsLost, pq(nd.AudioLatency), pq(nd.VideoLatency),
				nd.VideoEncoders, nd.AudioEncoders, nd.VideoDecoders, nd.AudioDecoders, nd.SentKbps, nd.ReceivedKbps)
		}
	}
	b.WriteString("\n| N | link 1→2 / 2→1 kbit/s | per participant 1→2 / 2→1 kbit/s | packets sent / dropped / unreceived | " +
		"RTT p50 / max ms | one hop (RTT/2) p50 / max ms | nodes' cores | load / redis / other cores | " +
		"one server cores | ratio | one server video p50 / p99 ms | real time |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range runs {
		if c.Tier != t {
			continue
		}
		verdict := "yes"
		if !c.RealTime {
			verdict = "**no**: " + cell(c.NotRealTime)
		}
		if c.Window == 0 {
			fmt.Fprintf(b, "| %d | - | - | - | - | - | - | - | - | - | - | %s |\n", c.N, verdict)
			continue
		}
		l := c.Link
		single, ratio, singleLat := "-", "-", "-"
		if c.SingleCores > 0 {
			single = fmt.Sprintf("%.2f", c.SingleCores)
			if c.SingleRealTime != nil && !*c.SingleRealTime {
				single += " (not real time)"
			}
			ratio = fmt.Sprintf("%.2f", c.CoresRatio)
		}
		if c.SingleVideoLatency != nil {
			singleLat = pq(*c.SingleVideoLatency)
		}
		rtt, hop := "-", "-"
		if l.RTT.Samples > 0 {
			rtt = fmt.Sprintf("%.1f / %.1f", ms(l.RTT.P50), ms(l.RTT.Max))
			hop = fmt.Sprintf("%.1f / %.1f", ms(l.HopP50), ms(l.HopMax))
		}
		fmt.Fprintf(b, "| %d | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f / %.0f | %s | %s | %.2f | %.2f / %.2f / %.2f | %s | %s | %s | %s |\n",
			c.N, l.Kbps12, l.Kbps21, l.PerParticipantKbps12, l.PerParticipantKbps21, l.PacketsSent, l.PacketsDropped,
			l.PacketsUnreceived, rtt, hop, c.NodesCores(), c.LoadCores, c.RedisCores, c.OtherCores, single, ratio, singleLat, verdict)
	}
}
