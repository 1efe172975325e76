package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cascadeExposition writes the /metrics lines of a cluster node: links running, the voices it decodes,
// its link counters (bytes sent and received alike: 60 bytes a packet) and each link's round trip.
func cascadeExposition(links, voices int, bytes float64, rttSec float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE mcu_decoders gauge\nmcu_decoders{kind=\"audio\"} %d\nmcu_decoders{kind=\"video\"} %d\n", voices, voices)
	fmt.Fprintf(&b, "# TYPE mcu_cascade_links gauge\nmcu_cascade_links %d\n", links)
	b.WriteString("# TYPE mcu_cascade_link_rtt_seconds gauge\n")
	for i := range links {
		fmt.Fprintf(&b, "mcu_cascade_link_rtt_seconds{peer=\"node%d\",room=\"bench\"} %g\n", i+2, rttSec)
	}
	b.WriteString("# TYPE mcu_cascade_bytes_total counter\n")
	fmt.Fprintf(&b, "mcu_cascade_bytes_total{direction=\"received\"} %g\nmcu_cascade_bytes_total{direction=\"sent\"} %g\n", bytes, bytes)
	b.WriteString("# TYPE mcu_cascade_packets_total counter\n")
	fmt.Fprintf(&b, "mcu_cascade_packets_total{direction=\"dropped\"} 3\nmcu_cascade_packets_total{direction=\"received\"} %g\n"+
		"mcu_cascade_packets_total{direction=\"sent\"} %g\n", bytes/60, bytes/60)
	return b.String()
}

// cascadeBytes is what a fake node's link has carried after d: 1 Mbit/s.
func cascadeBytes(d time.Duration) float64 { return float64(int64(d.Seconds()*125_000/60)) * 60 }

func TestParseMetricsCascade(t *testing.T) {
	text := exposition(10, counts(5, 10), counts(7, 20)) + cascadeExposition(1, 20, 6000, 0.0015)
	s, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.CascadeLinks != 1 || s.AudioDecoders != 20 || s.CascadeBytesSent != 6000 || s.CascadeBytesReceived != 6000 ||
		s.CascadePacketsSent != 100 || s.CascadePacketsReceived != 100 || s.CascadePacketsDropped != 3 ||
		len(s.CascadeRTT) != 1 || s.CascadeRTT[0] != 1500*time.Microsecond {
		t.Errorf("cascade metrics = links %v, voices %v, bytes %v/%v, packets %v/%v/%v, rtt %v",
			s.CascadeLinks, s.AudioDecoders, s.CascadeBytesSent, s.CascadeBytesReceived, s.CascadePacketsSent,
			s.CascadePacketsReceived, s.CascadePacketsDropped, s.CascadeRTT)
	}
	// A server alone has none of them: zeros, no error.
	s, err = parseMetrics(strings.NewReader(exposition(2, counts(5, 10), counts(7, 20))))
	if err != nil || s.CascadeLinks != 0 || s.CascadeBytesSent != 0 || s.CascadeRTT != nil {
		t.Errorf("server without cascading: %+v, %v", s, err)
	}
}

func TestRTTOf(t *testing.T) {
	ms := time.Millisecond
	if got := rttOf([]time.Duration{0, 3 * ms, ms, 10 * ms, 2 * ms, 0}); got != (RTTFigures{P50: 2 * ms, Max: 10 * ms, Samples: 4}) {
		t.Errorf("rttOf = %+v; want p50 2ms (lower median of 1, 2, 3, 10), max 10ms, 4 samples (zeros left out)", got)
	}
	if got := rttOf([]time.Duration{0}); got != (RTTFigures{}) {
		t.Errorf("rttOf(no measurement) = %+v, want zero", got)
	}
}

// cascadeSamples returns the two ends of a 10 s window over two nodes of 2 local participants each:
// node1 sends 1 Mbit/s over the link and node2 600 kbit/s, node1 drops 4 packets, everybody receives 30
// fps except one of node2's participants (27 fps), node1 uses 1 core and node2 0.8.
func cascadeSamples(t *testing.T) (before, after cascadeSample) {
	t.Helper()
	scrape := func(text string) Scrape {
		s, err := parseMetrics(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t0 := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	before = cascadeSample{at: t0, selfCPU: time.Second, redisCPU: 0, busyCPU: 10 * time.Second, nodes: []nodeSample{
		{cpu: 5 * time.Second, metrics: scrape(exposition(2, counts(0, 100), counts(2, 100)) + cascadeExposition(1, 4, 0, 0.002)),
			recv: []RecvStats{{VideoFrames: 100}, {VideoFrames: 100}}},
		{cpu: 4 * time.Second, metrics: scrape(exposition(2, counts(0, 100), counts(2, 100)) + cascadeExposition(1, 4, 0, 0.003)),
			recv: []RecvStats{{VideoFrames: 100}, {VideoFrames: 100}}},
	}}
	n1 := scrape(exposition(2, counts(0, 200), counts(2, 100, 6, 50)) + cascadeExposition(1, 4, 1_250_000, 0.004))
	n1.CascadePacketsDropped += 4
	n2 := scrape(exposition(2, counts(0, 200), counts(2, 150)) + cascadeExposition(1, 4, 750_000, 0.001))
	after = cascadeSample{at: t0.Add(10 * time.Second), selfCPU: 3 * time.Second, redisCPU: 100 * time.Millisecond,
		busyCPU: 34 * time.Second, nodes: []nodeSample{
			{cpu: 15 * time.Second, metrics: n1, recv: []RecvStats{{VideoFrames: 400}, {VideoFrames: 400}}},
			{cpu: 12 * time.Second, metrics: n2, recv: []RecvStats{{VideoFrames: 400}, {VideoFrames: 370}}},
		}}
	return before, after
}

func newCascadeRun(n int) CascadeRun {
	return CascadeRun{Tier: Tier{640, 360, 30, 500_000}, N: n,
		Nodes: []NodeRun{{Name: "node1", Local: n / 2}, {Name: "node2", Local: n / 2}}}
}

func TestFillCascade(t *testing.T) {
	before, after := cascadeSamples(t)
	run := newCascadeRun(4)
	ms := time.Millisecond
	// RTT samples over the window: node1's link measured 2, 4, 4 ms, node2's 1, 1, 5 ms; the end scrapes add
	// 2 and 4 ms (node1), 3 and 1 ms (node2).
	err := fillCascade(&run, before, after, [][]time.Duration{{2 * ms, 4 * ms, 4 * ms}, {ms, ms, 5 * ms, 0}})
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := run.Nodes[0], run.Nodes[1]
	near := func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
	if run.Window != 10*time.Second || !near(n1.Cores, 1) || !near(n2.Cores, 0.8) || !near(run.NodesCores(), 1.8) ||
		!near(run.LoadCores, 0.2) || !near(run.RedisCores, 0.01) || !near(run.OtherCores, 0.39) {
		t.Errorf("cores: window %v, node1 %v, node2 %v, load %v, redis %v, other %v; want 10s, 1, 0.8, 0.2, 0.01, 0.39",
			run.Window, n1.Cores, n2.Cores, run.LoadCores, run.RedisCores, run.OtherCores)
	}
	l := run.Link
	if !near(l.Kbps12, 1000) || !near(l.Kbps21, 600) || !near(l.PerParticipantKbps12, 500) || !near(l.PerParticipantKbps21, 300) ||
		!near(n1.ReceivedKbps, 1000) || !near(n2.ReceivedKbps, 600) {
		t.Errorf("link: %+v, node1 in %v, node2 in %v; want 1000 / 600 kbit/s, 500 / 300 per participant", l, n1.ReceivedKbps, n2.ReceivedKbps)
	}
	if !near(l.PacketsSent, 2_000_000.0/60) || l.PacketsDropped != 4 || n1.PacketsDropped != 4 || n2.PacketsDropped != 0 {
		t.Errorf("packets: sent %v, dropped %v (node1 %v, node2 %v); want %v, 4 (4, 0)", l.PacketsSent, l.PacketsDropped,
			n1.PacketsDropped, n2.PacketsDropped, 2_000_000.0/60)
	}
	// The fake nodes receive what they send: node2 received 12500 packets of node1's 20833.
	if !near(l.PacketsUnreceived, 1_250_000.0/60-750_000.0/60) {
		t.Errorf("unreceived packets = %v, want %v", l.PacketsUnreceived, 1_250_000.0/60-750_000.0/60)
	}
	// Node1: 2, 4, 4, 2, 4 -> p50 4; node2: 1, 1, 5, 3, 1 -> p50 1; together 1 1 1 2 2 3 4 4 4 5 -> p50 2, max 5.
	if n1.RTT != (RTTFigures{4 * ms, 4 * ms, 5}) || n2.RTT != (RTTFigures{ms, 5 * ms, 5}) ||
		l.RTT != (RTTFigures{2 * ms, 5 * ms, 10}) || l.HopP50 != ms || l.HopMax != 2500*time.Microsecond {
		t.Errorf("rtt: node1 %+v, node2 %+v, link %+v, hop %v / %v", n1.RTT, n2.RTT, l.RTT, l.HopP50, l.HopMax)
	}
	if run.Down.Participants != 4 || !near(run.Down.FPSMin, 27) || !near(n1.Down.FPSMin, 30) || !near(n2.Down.FPSMin, 27) ||
		run.Down.MissingFrames != 30 {
		t.Errorf("downstream: room %+v, node1 %+v, node2 %+v", run.Down, n1.Down, n2.Down)
	}
	if n1.VideoLatency.Samples != 50 || n2.VideoLatency.Samples != 50 || n1.AudioLatency.Samples != 100 ||
		n1.VideoLatency.P50 <= 20*ms || n1.VideoLatency.P50 > 25*ms || n2.VideoLatency.P50 <= 2*ms || n2.VideoLatency.P50 > 5*ms {
		t.Errorf("latency: node1 %+v / %+v, node2 %+v", n1.AudioLatency, n1.VideoLatency, n2.VideoLatency)
	}
	if n1.Participants != 2 || n1.Links != 1 || n1.AudioDecoders != 4 || n1.VideoEncoders != 2 {
		t.Errorf("node1 gauges: %+v", n1)
	}
	if held, why := judgeCascade(&run); held || why != "min fps 27.0 < 29.0" {
		t.Errorf("judge = %v %q, want not real time for the min fps", held, why)
	}

	// A node that counts the wrong participants is an error; a mismatched sample count too.
	run = newCascadeRun(6)
	if err := fillCascade(&run, before, after, nil); err == nil || !strings.Contains(err.Error(), "node1 reports 2 participants, want 3") {
		t.Errorf("participants off: err = %v", err)
	}
	run = newCascadeRun(4)
	if err := fillCascade(&run, before, cascadeSample{at: after.at}, nil); err == nil {
		t.Error("samples without nodes: no error")
	}
}

func TestCascadeCompare(t *testing.T) {
	c := CascadeRun{Nodes: []NodeRun{{Cores: 1.2}, {Cores: 1.0}}}
	c.compare(Run{Window: time.Second, ServerCores: 1.6, RealTime: true, VideoLatency: Latency{P50: 30 * time.Millisecond, Samples: 9}})
	if c.SingleCores != 1.6 || c.CoresRatio != 2.2/1.6 || c.SingleRealTime == nil || !*c.SingleRealTime ||
		c.SingleVideoLatency == nil || c.SingleVideoLatency.P50 != 30*time.Millisecond {
		t.Errorf("compare: %+v", c)
	}
	c = CascadeRun{Nodes: []NodeRun{{Cores: 1.2}}}
	c.compare(Run{Error: "server exited"})
	if c.SingleCores != 0 || c.CoresRatio != 0 || c.SingleRealTime != nil {
		t.Errorf("compare with a failed run: %+v, want nothing set", c)
	}
}

func TestJudgeCascade(t *testing.T) {
	tier := Tier{640, 360, 30, 500_000}
	ok := CascadeRun{Tier: tier, Down: Downstream{FPSMin: 29.5}, Nodes: []NodeRun{{Name: "node1", Links: 1}, {Name: "node2", Links: 1}}}
	if held, why := judgeCascade(&ok); !held || why != "" {
		t.Errorf("judge(ok) = %v %q", held, why)
	}
	bad := ok
	bad.Nodes = []NodeRun{{Name: "node1", Links: 1}, {Name: "node2", Links: 0}}
	bad.Down.AudioUnderruns = 2
	if held, why := judgeCascade(&bad); held || why != "2 audio underruns, node2 runs 0 cascade links" {
		t.Errorf("judge(bad) = %v %q", held, why)
	}
	failed := CascadeRun{Error: "node2: server exited"}
	if held, why := judgeCascade(&failed); held || why != "node2: server exited" {
		t.Errorf("judge(failed) = %v %q", held, why)
	}
	if n := largestCascade([]CascadeRun{{Tier: tier, N: 8, RealTime: true}, {Tier: tier, N: 20}, {Tier: Tier{1280, 720, 30, 1}, N: 40, RealTime: true}}, tier); n != 8 {
		t.Errorf("largestCascade = %d, want 8", n)
	}
}

func sampleCascadeReport(t *testing.T) *Report {
	before, after := cascadeSamples(t)
	ms := time.Millisecond
	ok := newCascadeRun(4)
	if err := fillCascade(&ok, before, after, [][]time.Duration{{2 * ms}, {ms}}); err != nil {
		t.Fatal(err)
	}
	ok.Down.FPSMin = 29.5 // as if all held
	ok.compare(Run{Window: time.Second, ServerCores: 1.2, RealTime: true, VideoLatency: Latency{P50: 31 * ms, P99: 74 * ms, Samples: 9}})
	ok.RealTime, ok.NotRealTime = judgeCascade(&ok)
	failed := CascadeRun{Tier: ok.Tier, N: 8, Error: "not ready within 23s: node2 runs 0 cascade links, want 1"}
	failed.RealTime, failed.NotRealTime = judgeCascade(&failed)
	single := Run{Tier: ok.Tier, N: 4, Window: time.Second, ServerCores: 1.2, RealTime: true,
		Down: Downstream{Participants: 4, FPSMin: 30, FPSAvg: 30}}
	return &Report{
		Started: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC),
		Machine: Machine{CPUs: 2, CPU: "AMD EPYC", Kernel: "Linux 6.1", Go: "go1.26.8"},
		Command: "go run ./cmd/mcubench -cascade -n 4,8", Tiers: []Tier{ok.Tier},
		Settings: Settings{Warmup: 3 * time.Second, Window: 10 * time.Second, SkipFFmpeg: true, Cascade: true},
		Runs:     []Run{single}, Largest: map[string]int{ok.Tier.String(): 4},
		Cascade: []CascadeRun{ok, failed}, LargestCascade: map[string]int{ok.Tier.String(): 4},
	}
}

func TestWriteMarkdownCascade(t *testing.T) {
	var b strings.Builder
	if err := sampleCascadeReport(t).WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"**One hop = RTT / 2**",
		"| packets sent / dropped / unreceived | RTT p50 / max ms | one hop (RTT/2) p50 / max ms |",
		"### Cascade: one room over two nodes, 640x360@30, 500 kbit/s per video encoder",
		"| 4 | node1 | 2 | 1.00 | 0 | 30.0 / 30.0 | 0 | 0 | 0 | 0 | 0 / 1 | 22 / 25 | 2 / 3 | 4 / 4 | 1000 / 1000 |",
		"| 4 | node2 | 2 | 0.80 | 0 | 27.0 / 28.5 | 30 | 0 | 0 | 0 | 0 / 1 | 4 / 5 | 2 / 3 | 4 / 4 | 600 / 600 |",
		"| 8 | - | - | - | - | - | - | - | - | - | - | - | - | - | - |",
		"| 4 | 1000 / 600 | 500 / 300 | 33333 / 4 / 8333 | 2.0 / 4.0 | 1.0 / 2.0 | 1.80 | 0.20 / 0.01 / 0.39 | 1.20 | 1.50 | 31 / 74 | yes |",
		"| 8 | - | - | - | - | - | - | - | - | - | - | **no**: not ready within 23s: node2 runs 0 cascade links, want 1 |",
		"Largest cascaded N in real time: **4** (2 + 2).",
		"#### The same rooms on one server, 640x360@30, 500 kbit/s per video encoder",
		"| 4 | 1.20 | 0.00 | 0.00 | 0 | - | 30.0 / 30.0 |",
		"Largest N in real time: **4**.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "ffmpeg:") {
		t.Error("cascade report describes the ffmpeg anchor, which it does not run")
	}
	// Every row of a table has as many cells as its header.
	cols := 0
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		if cols == 0 {
			cols = strings.Count(line, "|")
		} else if n := strings.Count(line, "|"); n != cols {
			t.Errorf("row with %d pipes, header has %d: %s", n, cols, line)
		}
	}
}

func TestReportJSONCascade(t *testing.T) {
	b, err := json.Marshal(sampleCascadeReport(t))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Cascade) != 2 || len(back.Cascade[0].Nodes) != 2 || back.Cascade[0].Link.Kbps12 != 1000 ||
		back.Cascade[0].Link.HopP50 != time.Millisecond || back.Cascade[0].CoresRatio != 1.5 || !back.Settings.Cascade ||
		back.LargestCascade["640x360@30:500k"] != 4 || !strings.Contains(string(b), `"kbps_node1_to_node2":1000`) {
		t.Errorf("JSON round trip lost data: %s", b)
	}
}

func TestParseFlagsCascade(t *testing.T) {
	o, err := parseFlags([]string{"-cascade"})
	if err != nil || o.tiers != cascadeTiers || o.counts != cascadeCounts || o.step != 0 || !o.skipFFmpeg || !o.single {
		t.Errorf("-cascade defaults: %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-cascade", "-n", "8", "-tiers", "320x180", "-step", "4", "-single=false"})
	if err != nil || o.tiers != "320x180" || o.counts != "8" || o.step != 4 || o.single {
		t.Errorf("-cascade with flags: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"-cascade", "-step", "3"}); err == nil {
		t.Error("-cascade -step 3: no error")
	}
	if o, err := parseFlags(nil); err != nil || o.cascade || o.tiers != DefaultTiers {
		t.Errorf("no -cascade: %+v, %v", o, err)
	}
}

func TestNodeArgs(t *testing.T) {
	r := &runner{}
	tier := Tier{640, 360, 30, 500_000}
	got := strings.Join(r.nodeArgs(tier, 40, 1, "127.0.0.1:8082"), " ")
	for _, want := range []string{"-max-participants 40", "-http 127.0.0.1:8082 -public-url http://127.0.0.1:8082 -node-id node2",
		"-sip-port 0", "-drain-timeout 3s", "-cascade-rooms all"} {
		if !strings.Contains(got, want) {
			t.Errorf("node2 args %q lack %q", got, want)
		}
	}
	if got := strings.Join(r.nodeArgs(tier, 40, 0, "127.0.0.1:8081"), " "); strings.Contains(got, "-cascade-rooms") ||
		!strings.Contains(got, "-node-id node1") {
		t.Errorf("node1 args = %q; want node1 without -cascade-rooms", got)
	}
}

// TestRedisPing talks to a fake redis on a unix socket.
func TestRedisPing(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "r.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answers := []string{"+PONG\r\n", "-NOAUTH Authentication required.\r\n"}
	go func() {
		for _, a := range answers {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte(a))
			c.Close()
		}
	}()
	if err := redisPing(sock); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := redisPing(sock); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("ping of a redis wanting a password: %v", err)
	}
	if err := redisPing(filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Error("ping of no socket: no error")
	}
}

func TestStartRedisFails(t *testing.T) {
	bin, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false(1)")
	}
	log := filepath.Join(t.TempDir(), "redis.log")
	if _, err := startRedis(context.Background(), bin, log); err == nil || !strings.Contains(err.Error(), "redis-server did not start") ||
		!strings.Contains(err.Error(), log) {
		t.Errorf("startRedis(false) = %v; want an error naming the log", err)
	}
}

// TestMeasureCascade runs a cascade measurement against two fake nodes (the test binary, whose /metrics
// report 2 participants, one link and 4 voices) and a real redis-server, when installed.
func TestMeasureCascade(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server in PATH")
	}
	load := &clockLoad{fps: 40, failAt: -1}
	r := testRunner(t, load)
	r.redis = bin
	run := r.measureCascade(context.Background(), Tier{640, 360, 30, 500_000}, 4)
	if run.Error != "" || !run.RealTime {
		t.Fatalf("measureCascade: error %q, real time %v (%s)", run.Error, run.RealTime, run.NotRealTime)
	}
	if load.closed.Load() != 4 || len(run.Nodes) != 2 || run.Nodes[1].Down.Participants != 2 || run.Down.Participants != 4 {
		t.Errorf("closed %d participants, run %+v", load.closed.Load(), run)
	}
	// The fake link carries 1 Mbit/s (in steps of a packet, over a short window: loosely) and answers 1.2 ms.
	if k := run.Link.Kbps12; k < 500 || k > 1600 || run.Link.PerParticipantKbps12 != k/2 || run.Link.RTT.P50 != 1200*time.Microsecond ||
		run.Link.HopP50 != 600*time.Microsecond || run.Nodes[0].RSSBytes <= 0 {
		t.Errorf("link %+v, node1 %+v", run.Link, run.Nodes[0])
	}
}
