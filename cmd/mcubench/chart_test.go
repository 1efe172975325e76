package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// svgElements decodes an SVG document, failing the test unless it is well-formed XML, and returns its
// elements' names with the attributes and text of each circle's title.
func svgElements(t *testing.T, svg []byte) (names map[string]int, titles []string) {
	t.Helper()
	names = map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(svg))
	inTitle := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			names[tok.Name.Local]++
			inTitle = tok.Name.Local == "title"
			if tok.Name.Local == "svg" && tok.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg namespace %q", tok.Name.Space)
			}
		case xml.CharData:
			if inTitle {
				titles = append(titles, string(tok))
			}
		case xml.EndElement:
			inTitle = false
		}
	}
	return names, titles
}

func chart(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteChart(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteChart(t *testing.T) {
	rep := sampleReport()
	svg := chart(t, rep)
	names, titles := svgElements(t, svg)
	// The 720p tier has two measured runs (N 4 and 9; 16 failed): each has server and ffmpeg (N = 4 only:
	// 9's anchor failed) and the four latency percentiles where it has samples (N = 4 only). The 360p
	// tier has no runs and no panels.
	for _, want := range []string{
		"server N=4: 0.52 cores", "server N=9: 1.95 cores", "ffmpeg N=4: 0.40 cores",
		"audio p50 N=4: 22.00 ms", "audio p99 N=4: 38.00 ms", "video p50 N=4: 31.00 ms", "video p99 N=4: 74.00 ms",
	} {
		if !strings.Contains(strings.Join(titles, "\n"), want) {
			t.Errorf("chart lacks point %q; points:\n%s", want, strings.Join(titles, "\n"))
		}
	}
	if len(titles) != 7 || names["circle"] != 7 {
		t.Errorf("%d points, %d circles, want 7", len(titles), names["circle"])
	}
	s := string(svg)
	for _, want := range []string{"CPU cores, 1280x720@30, 1.5 Mbit/s", "Mixer latency, 1280x720@30, 1.5 Mbit/s",
		"N (participants)", ">cores</text>", ">ms</text>", ">server</text>", ">ffmpeg</text>", ">audio p99</text>",
		`<polyline class="server"`, "hollow: not real time"} {
		if !strings.Contains(s, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(s, "640x360") {
		t.Error("a panel for the tier without runs")
	}
	// N = 9 did not hold real time: its point is hollow.
	if !strings.Contains(s, `fill="white" stroke="#1f77b4"><title>server N=9`) {
		t.Error("the run that missed real time is not hollow")
	}
	// The x axis is labelled with the room sizes.
	for _, want := range []string{">4</text>", ">9</text>"} {
		if !strings.Contains(s, want) {
			t.Errorf("x axis lacks %q", want)
		}
	}
	if !bytes.Equal(svg, chart(t, sampleReport())) {
		t.Error("the same report gave another chart")
	}
}

func TestWriteChartSingleNNoFFmpeg(t *testing.T) {
	tier := Tier{640, 360, 30, 500_000}
	rep := &Report{Tiers: []Tier{tier}, Settings: Settings{SkipFFmpeg: true}, Runs: []Run{{Tier: tier, N: 4,
		Window: 8 * time.Second, ServerCores: 0.3, RealTime: true,
		VideoLatency: Latency{P50: 23 * time.Millisecond, P99: 29 * time.Millisecond, Samples: 100}}}}
	svg := chart(t, rep)
	names, titles := svgElements(t, svg)
	want := "server N=4: 0.30 cores\nvideo p50 N=4: 23.00 ms\nvideo p99 N=4: 29.00 ms"
	if got := strings.Join(titles, "\n"); got != want {
		t.Errorf("points:\n%s\nwant:\n%s", got, want)
	}
	s := string(svg)
	if strings.Contains(s, "ffmpeg") || strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Errorf("chart without ffmpeg shows ffmpeg or bad numbers:\n%s", s)
	}
	if names["polyline"] != 0 { // one point per series: no lines
		t.Errorf("%d lines through single points", names["polyline"])
	}
	if !strings.Contains(s, ">4</text>") {
		t.Error("x axis lacks the single N")
	}

	// ffmpeg measured for some N only (not 16): its line breaks at the gap, the points are there.
	rep.Settings.SkipFFmpeg = false
	for _, n := range []int{9, 16, 25, 36} {
		r := Run{Tier: tier, N: n, Window: 8 * time.Second, ServerCores: float64(n) / 10, RealTime: true}
		if n != 16 {
			r.Anchor = &AnchorResult{Cores: float64(n) / 20}
		}
		rep.Runs = append(rep.Runs, r)
	}
	rep.Runs[0].Anchor = &AnchorResult{Cores: 0.2}
	svg = chart(t, rep)
	_, titles = svgElements(t, svg)
	all := strings.Join(titles, "\n")
	for _, want := range []string{"ffmpeg N=4: 0.20 cores", "ffmpeg N=9: 0.45 cores", "ffmpeg N=25: 1.25 cores", "server N=16: 1.60 cores"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(all, "ffmpeg N=16") {
		t.Error("a point for the missing ffmpeg value")
	}
	if got := strings.Count(string(svg), `<polyline class="ffmpeg"`); got != 2 {
		t.Errorf("%d ffmpeg line segments, want 2 (4 to 9, 25 to 36)", got)
	}
}

func TestWriteChartEmpty(t *testing.T) {
	svg := chart(t, &Report{Tiers: []Tier{{640, 360, 30, 500_000}}})
	svgElements(t, svg)
	if !strings.Contains(string(svg), "no measured runs") {
		t.Error("empty chart does not say so")
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.07: 0.1, 0.3: 0.5, 1: 1, 1.2: 2, 4: 5, 7: 10, 23: 50, 0: 1} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}
