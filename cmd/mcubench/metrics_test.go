package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/mcu"
)

// latencyBoundsSec are the server's latency buckets (mcu/latency.go), in seconds.
var latencyBoundsSec = []float64{0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08,
	0.1, 0.15, 0.2, 0.3, 0.5, 1}

// exposition writes /metrics text as the server does, with per-bucket (not cumulative) counts given for
// each latency histogram: counts[i] observations in bucket i, the last entry above the last bound.
func exposition(participants int, audio, video []uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE mcu_participants gauge\nmcu_participants %d\n", participants)
	fmt.Fprintf(&b, "# TYPE mcu_encoders gauge\nmcu_encoders{kind=\"audio\"} 3\nmcu_encoders{kind=\"video\"} %d\n", participants)
	b.WriteString("# TYPE mcu_video_frames_out_total counter\nmcu_video_frames_out_total 900\n")
	b.WriteString("# TYPE mcu_mixer_latency_seconds histogram\n")
	for _, h := range []struct {
		kind   string
		counts []uint64
	}{{"audio", audio}, {"video", video}} {
		var cum, n uint64
		var sum float64
		for i, bound := range latencyBoundsSec {
			if i < len(h.counts) {
				cum += h.counts[i]
				sum += float64(h.counts[i]) * bound
			}
			fmt.Fprintf(&b, "mcu_mixer_latency_seconds_bucket{kind=%q,le=\"%g\"} %d\n", h.kind, bound, cum)
		}
		n = cum
		if len(h.counts) > len(latencyBoundsSec) {
			n += h.counts[len(latencyBoundsSec)]
		}
		fmt.Fprintf(&b, "mcu_mixer_latency_seconds_bucket{kind=%q,le=\"+Inf\"} %d\n", h.kind, n)
		fmt.Fprintf(&b, "mcu_mixer_latency_seconds_sum{kind=%q} %g\n", h.kind, sum)
		fmt.Fprintf(&b, "mcu_mixer_latency_seconds_count{kind=%q} %d\n", h.kind, n)
	}
	b.WriteString("# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n")
	return b.String()
}

// counts returns per-bucket counts with c observations in bucket i.
func counts(pairs ...int) []uint64 {
	out := make([]uint64, len(latencyBoundsSec)+1)
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] += uint64(pairs[i+1])
	}
	return out
}

func TestParseMetrics(t *testing.T) {
	// Audio: 100 in (25, 30] ms. Video: 10 in (1, 2] ms and 90 above 1 s.
	s, err := parseMetrics(strings.NewReader(exposition(4, counts(7, 100), counts(1, 10, 18, 90))))
	if err != nil {
		t.Fatal(err)
	}
	if s.Participants != 4 || s.VideoEncoders != 4 || s.AudioEncoders != 3 || s.VideoFramesOut != 900 {
		t.Errorf("gauges: participants %v, encoders video %v audio %v, frames out %v; want 4, 4, 3, 900",
			s.Participants, s.VideoEncoders, s.AudioEncoders, s.VideoFramesOut)
	}
	a := s.AudioLatency
	if a.Count != 100 || len(a.Bounds) != 18 || len(a.Counts) != 19 || a.Counts[7] != 100 || a.Bounds[7] != 30*time.Millisecond {
		t.Errorf("audio histogram = %+v; want 100 observations in bucket 7 (<= 30 ms) of 18 bounds", a)
	}
	v := s.VideoLatency
	if v.Count != 100 || v.Counts[1] != 10 || v.Counts[18] != 90 {
		t.Errorf("video histogram counts = %v (count %d); want 10 in bucket 1 and 90 above the last bound", v.Counts, v.Count)
	}
	if d := a.Sum - 3*time.Second; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("audio sum = %v, want 3s", a.Sum)
	}
}

// TestPSNROverWindow reads mcu_video_encode_psnr_db from two scrapes and takes the mean over the window;
// a server that does not measure PSNR has none.
func TestPSNROverWindow(t *testing.T) {
	psnr := func(count int, sum float64) string {
		return fmt.Sprintf("# TYPE mcu_video_encode_psnr_db histogram\nmcu_video_encode_psnr_db_bucket{le=\"20\"} 0\n"+
			"mcu_video_encode_psnr_db_bucket{le=\"+Inf\"} %d\nmcu_video_encode_psnr_db_sum %g\nmcu_video_encode_psnr_db_count %d\n",
			count, sum, count)
	}
	parse := func(text string) Scrape {
		t.Helper()
		s, err := parseMetrics(strings.NewReader(exposition(2, counts(), counts()) + text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Before the window: 10 black pictures at 100 dB. During it: 300 pictures averaging 35 dB.
	before, after := parse(psnr(10, 1000)), parse(psnr(310, 1000+300*35))
	if before.VideoPSNRCount != 10 || before.VideoPSNRSum != 1000 {
		t.Errorf("scrape: %v pictures, sum %v dB; want 10 and 1000", before.VideoPSNRCount, before.VideoPSNRSum)
	}
	if got := psnrOver(before, after); got != 35 {
		t.Errorf("PSNR over the window = %v dB, want 35", got)
	}
	none := parse("")
	if got := psnrOver(none, none); got != 0 || none.VideoPSNRCount != 0 {
		t.Errorf("without the metric: PSNR %v over %v pictures, want none", got, none.VideoPSNRCount)
	}
}

func TestParseMetricsMissing(t *testing.T) {
	text := "# TYPE mcu_participants gauge\nmcu_participants 3\n"
	if _, err := parseMetrics(strings.NewReader(text)); err == nil || !strings.Contains(err.Error(), "mcu_mixer_latency_seconds") {
		t.Errorf("metrics without the latency histograms: err = %v, want one naming mcu_mixer_latency_seconds", err)
	}
	if _, err := parseMetrics(strings.NewReader("not metrics {{{")); err == nil {
		t.Error("garbage parsed without error")
	}
}

// TestLatencyOverWindow takes the delta of two scrapes: observations before the window (all fast) must
// not pull down the window's quantiles.
func TestLatencyOverWindow(t *testing.T) {
	before, err := parseMetrics(strings.NewReader(exposition(3, counts(0, 1000), counts(2, 500))))
	if err != nil {
		t.Fatal(err)
	}
	// During the window: audio 100 more in (40, 50] ms; video 98 in (20, 25] and 2 in (100, 150] ms.
	after, err := parseMetrics(strings.NewReader(exposition(3, counts(0, 1000, 9, 100), counts(2, 500, 6, 98, 13, 2))))
	if err != nil {
		t.Fatal(err)
	}
	ad, err := histogramDelta(before.AudioLatency, after.AudioLatency)
	if err != nil {
		t.Fatal(err)
	}
	if l := latencyOf(ad); l.Samples != 100 || l.P50 <= 40*time.Millisecond || l.P50 > 50*time.Millisecond {
		t.Errorf("audio latency over the window = %+v; want 100 samples, p50 in (40, 50] ms", l)
	}
	vd, err := histogramDelta(before.VideoLatency, after.VideoLatency)
	if err != nil {
		t.Fatal(err)
	}
	l := latencyOf(vd)
	if l.Samples != 100 || l.P50 <= 20*time.Millisecond || l.P50 > 25*time.Millisecond ||
		l.P99 <= 100*time.Millisecond || l.P99 > 150*time.Millisecond {
		t.Errorf("video latency over the window = %+v; want 100 samples, p50 in (20, 25] ms, p99 in (100, 150] ms", l)
	}
	if _, err := histogramDelta(after.AudioLatency, before.AudioLatency); err == nil {
		t.Error("a histogram that went down (server restarted) gave no error")
	}
	empty := latencyOf(mustDelta(t, before.AudioLatency, before.AudioLatency))
	if empty.Samples != 0 || empty.P50 != 0 {
		t.Errorf("no observations in the window: %+v, want zero", empty)
	}
}

func mustDelta(t *testing.T, a, b mcu.Histogram) mcu.Histogram {
	t.Helper()
	d, err := histogramDelta(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
