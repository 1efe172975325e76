package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/signaling/bot/replay"
)

func sampleReport() *Report {
	tier := Tier{1280, 720, 30, 1_500_000}
	ok := Run{Tier: tier, N: 4, Window: 10 * time.Second, ServerCores: 0.52, LoadCores: 0.1, OtherCores: 0.03, RSSBytes: 96 << 20,
		IdleRSSBytes: 16 << 20, VideoEncoders: 4, AudioEncoders: 5, RealTime: true,
		AudioLatency: Latency{P50: 22 * time.Millisecond, P99: 38 * time.Millisecond, Samples: 2000},
		VideoLatency: Latency{P50: 31 * time.Millisecond, P99: 74 * time.Millisecond, Samples: 1200},
		Down:         Downstream{Participants: 4, FPSMin: 29.6, FPSAvg: 29.9, MissingFrames: 5, Freezes: 1},
		Anchor:       &AnchorResult{Cores: 0.40, PSNR: 33.46}, Ratio: 1.3, VideoPSNR: 35.04}
	slow := Run{Tier: tier, N: 9, Window: 10 * time.Second, ServerCores: 1.95, Down: Downstream{Participants: 9, FPSMin: 17.2, FPSAvg: 22},
		NotRealTime: "min fps 17.2 < 29.0, 12 audio underruns", AnchorError: "ffmpeg: exit status 1: bad | thing"}
	failed := Run{Tier: tier, N: 16, Error: "3 of 16 participants received no video", NotRealTime: "3 of 16 participants received no video"}
	return &Report{
		Started: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC),
		Machine: Machine{CPUs: 2, CPU: "AMD EPYC", Kernel: "Linux 6.1", Go: "go1.26.8", FFmpeg: "ffmpeg version 5.1.9"},
		Command: "go run ./cmd/mcubench -n 4,9,16", Tiers: []Tier{tier, {640, 360, 30, 500_000}},
		Settings: Settings{Warmup: 3 * time.Second, Window: 10 * time.Second, FFmpegThreads: 1, FFmpegFrames: 300},
		Runs:     []Run{ok, slow, failed},
		Largest:  map[string]int{tier.String(): 4},
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b strings.Builder
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"Machine: 2 × AMD EPYC, Linux 6.1, go1.26.8, ffmpeg version 5.1.9.",
		"Command: `go run ./cmd/mcubench -n 4,9,16`",
		"-threads 1, 300 frames",
		"### 1280x720@30, 1.5 Mbit/s per video encoder",
		"| 4 | 0.52 | 0.10 | 0.03 | 96 | 24.0 / 20.0 | 29.6 / 29.9 | 5 | 1 | 0 | 0 | 22 / 38 | 31 / 74 | 4 / 5 | 0.40 | 1.30 | 35.0 / 33.5 | yes |",
		"| 9 | 1.95 |", "| - | - / - | **no**: min fps 17.2 < 29.0, 12 audio underruns |",
		"PSNR: x264's mean luma PSNR (dB) of each encoded picture",
		"failed: ffmpeg: exit status 1: bad / thing",
		"| 16 | - | - |", "**no**: 3 of 16 participants received no video |",
		"Largest N in real time: **4**.",
		"### 640x360@30, 500 kbit/s per video encoder",
		"Largest N in real time: **none** of those tried.",
		"Video content (the participants' clips, 2 s looped, and ffmpeg's inputs alike): **noise**: each participant's colour",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table row has as many cells as the header.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, "|") != 19 {
			t.Errorf("row with %d pipes, want 19: %s", strings.Count(line, "|"), line)
		}
	}
}

// TestWriteMarkdownContents: a report of both contents has a table per tier and content, each with its
// own runs, largest N and bitrates, and says what each content is; its chart has a row per content.
func TestWriteMarkdownContents(t *testing.T) {
	tier := Tier{640, 360, 30, 500_000}
	run := func(content string, n int, server, ff float64) Run {
		return Run{Tier: tier, N: n, Content: content, Window: 10 * time.Second, ServerCores: server, RealTime: true,
			InputKbps: 450, Down: Downstream{Participants: n, FPSMin: 30, FPSAvg: 30, VideoKbpsAvg: 480},
			Anchor: &AnchorResult{Cores: ff, InputKbps: 460}, Ratio: server / ff}
	}
	rep := &Report{
		Started: time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC), Tiers: []Tier{tier},
		Settings: Settings{Window: 10 * time.Second, FFmpegThreads: 1, FFmpegFrames: 300, Contents: []string{"noise", "camera"}},
		Runs:     []Run{run("noise", 4, 0.8, 0.5), run("noise", 9, 1.9, 1.2), run("camera", 4, 0.6, 0.4)},
	}
	rep.Largest = map[string]int{rep.largestKey(tier, "noise"): 9, rep.largestKey(tier, "camera"): 4}
	if k := rep.largestKey(tier, "camera"); k != "640x360@30:500k camera" {
		t.Errorf("largest key %q", k)
	}
	var b strings.Builder
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	noise, camera := strings.Index(md, "### 640x360@30, 500 kbit/s per video encoder, noise content"),
		strings.Index(md, "### 640x360@30, 500 kbit/s per video encoder, camera content")
	if noise < 0 || camera < noise {
		t.Fatalf("markdown lacks a noise then a camera table:\n%s", md)
	}
	for _, want := range []string{"**noise**: each participant's colour under luma noise", "**camera**: a camera-like scene"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	nt, ct := md[noise:camera], md[camera:]
	if !strings.Contains(nt, "| 9 | 1.90 |") || strings.Contains(ct, "| 9 |") || !strings.Contains(ct, "| 4 | 0.60 |") ||
		!strings.Contains(ct, "| 0.40 | 1.50 | - / - | yes |") {
		t.Errorf("runs in the wrong tables:\n%s", md)
	}
	if !strings.Contains(nt, "Largest N in real time: **9**.") || !strings.Contains(ct, "Largest N in real time: **4**.") {
		t.Errorf("largest N per content wrong:\n%s", md)
	}
	if !strings.Contains(ct, "(camera content), participants' clips / ffmpeg's inputs / views received per participant: N=4: 450 / 460 / 480.") {
		t.Errorf("camera table lacks its bitrates:\n%s", ct)
	}
	var svg strings.Builder
	if err := rep.WriteChart(&svg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(svg.String(), "500 kbit/s, noise content") || !strings.Contains(svg.String(), "500 kbit/s, camera content") {
		t.Errorf("chart lacks a row per content")
	}
}

func TestParseContentFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []replay.Content
	}{
		{nil, []replay.Content{replay.Noise}},
		{[]string{"-content", "camera"}, []replay.Content{replay.Camera}},
		{[]string{"-content", "camera, noise,camera"}, []replay.Content{replay.Camera, replay.Noise}},
		{[]string{"-cascade", "-content", "camera"}, []replay.Content{replay.Camera}},
	} {
		o, err := parseFlags(tt.args)
		if err != nil || !slices.Equal(o.contents, tt.want) {
			t.Errorf("parseFlags(%q): contents %v, %v; want %v", tt.args, o.contents, err, tt.want)
		}
	}
	for _, args := range [][]string{{"-content", "face"}, {"-content", ","}, {"-cascade", "-content", "noise,camera"}} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q): want an error", args)
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := sampleReport()
	rep.Runs[0].Content, rep.Settings.Contents = "camera", []string{"camera"}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 3 || back.Runs[0].Content != "camera" || back.Runs[0].ContentName() != "camera" || back.Runs[1].ContentName() != "noise" ||
		!slices.Equal(back.Settings.Contents, []string{"camera"}) || back.Runs[0].AudioLatency.P50 != 22*time.Millisecond || back.Runs[0].Anchor.Cores != 0.40 ||
		back.Runs[0].VideoPSNR != 35.04 || back.Runs[0].Anchor.PSNR != 33.46 || back.Runs[2].Error == "" || back.Largest["1280x720@30:1500k"] != 4 {
		t.Errorf("JSON round trip lost data: %s", b)
	}
}

func TestMachineParsing(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9R14\n"
	if got := cpuModel([]byte(cpuinfo)); got != "AMD EPYC 9R14" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := osName([]byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osName = %q", got)
	}
	m := describeMachine("")
	if m.CPUs < 1 || m.Go == "" || !strings.HasPrefix(m.Kernel, "Linux ") {
		t.Errorf("describeMachine = %+v", m)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"-n", "2,4", "-tiers", "640x360@30:500k", "-out", "my file.md", "-json", "it's.json"})
	if !strings.HasSuffix(got, ` -n 2,4 -tiers 640x360@30:500k -out 'my file.md' -json 'it'\''s.json'`) {
		t.Errorf("commandLine = %s", got)
	}
}
