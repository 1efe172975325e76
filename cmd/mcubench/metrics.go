package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/openmcu/mcu/mcu"
)

// Scrape is what the benchmark reads from one scrape of the server's /metrics. Plain data.
type Scrape struct {
	Participants  float64
	VideoEncoders float64
	AudioEncoders float64
	VideoDecoders float64
	// Counters, cumulative since the server started.
	VideoFramesOut     float64
	VideoFramesDropped float64
	AudioPacketsLost   float64
	DecodeErrors       float64
	// AudioLatency and VideoLatency are mcu_mixer_latency_seconds{kind}, cumulative.
	AudioLatency, VideoLatency mcu.Histogram
	// VideoPSNRCount and VideoPSNRSum are the count and sum (dB) of mcu_video_encode_psnr_db, cumulative:
	// the luma PSNR of each picture the server encoded (-measure-psnr); zero without it.
	VideoPSNRCount, VideoPSNRSum float64
	// AudioDecoders is mcu_decoders{kind="audio"}: every participant's voice, local or remote, is decoded.
	AudioDecoders float64
	// Cascading (a node of a cluster; all zero otherwise): the links running now, the media bytes and
	// packets over them (cumulative), and each link's last measured round trip.
	CascadeLinks                                                      float64
	CascadeBytesSent, CascadeBytesReceived                            float64
	CascadePacketsSent, CascadePacketsReceived, CascadePacketsDropped float64
	CascadeRTT                                                        []time.Duration
	// Plain-RTP (SIP) packets, cumulative: mcu_rtp_packets_total{kind}.
	RTPReceived, RTPSent, RTPDropped, RTPUnsent float64
	// VideoShedLevel is mcu_video_shed_level now; VideoFramesShed is mcu_video_frames_shed_total,
	// cumulative (pictures not drawn to leave CPU time to audio).
	VideoShedLevel, VideoFramesShed float64
}

// fetchMetrics scrapes url (the server's /metrics) and parses it.
func fetchMetrics(ctx context.Context, c *http.Client, url string) (Scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Scrape{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Scrape{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Scrape{}, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the server's metrics from Prometheus text. The gauges and histograms the benchmark
// needs must be present (a server without them is not the one this benchmark measures); counters that
// are missing read as zero.
func parseMetrics(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Scrape{}, fmt.Errorf("parse metrics: %w", err)
	}
	var s Scrape
	var errs []error
	need := func(name string) *dto.MetricFamily {
		f := fams[name]
		if f == nil {
			errs = append(errs, fmt.Errorf("metric %s missing", name))
		}
		return f
	}
	s.Participants = value(need("mcu_participants"), "")
	enc := need("mcu_encoders")
	s.VideoEncoders, s.AudioEncoders = value(enc, "video"), value(enc, "audio")
	s.VideoDecoders = value(fams["mcu_decoders"], "video")
	s.AudioDecoders = value(fams["mcu_decoders"], "audio")
	s.CascadeLinks = value(fams["mcu_cascade_links"], "")
	bytes, packets := fams["mcu_cascade_bytes_total"], fams["mcu_cascade_packets_total"]
	s.CascadeBytesSent = valueOf(labelled(bytes, "direction", "sent"))
	s.CascadeBytesReceived = valueOf(labelled(bytes, "direction", "received"))
	s.CascadePacketsSent = valueOf(labelled(packets, "direction", "sent"))
	s.CascadePacketsReceived = valueOf(labelled(packets, "direction", "received"))
	s.CascadePacketsDropped = valueOf(labelled(packets, "direction", "dropped"))
	if f := fams["mcu_cascade_link_rtt_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			s.CascadeRTT = append(s.CascadeRTT, time.Duration(math.Round(valueOf(m)*1e9)))
		}
	}
	rtp := fams["mcu_rtp_packets_total"]
	s.RTPReceived = valueOf(labelled(rtp, "kind", "received"))
	s.RTPSent = valueOf(labelled(rtp, "kind", "sent"))
	s.RTPDropped = valueOf(labelled(rtp, "kind", "dropped"))
	s.RTPUnsent = valueOf(labelled(rtp, "kind", "unsent"))
	s.VideoFramesOut = value(fams["mcu_video_frames_out_total"], "")
	s.VideoFramesDropped = value(fams["mcu_video_frames_dropped_total"], "")
	s.AudioPacketsLost = value(fams["mcu_audio_packets_lost_total"], "")
	s.DecodeErrors = value(fams["mcu_decode_errors_total"], "")
	s.VideoShedLevel = value(fams["mcu_video_shed_level"], "")
	s.VideoFramesShed = value(fams["mcu_video_frames_shed_total"], "")
	if m := metric(fams["mcu_video_encode_psnr_db"], ""); m != nil && m.Histogram != nil {
		s.VideoPSNRCount, s.VideoPSNRSum = float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum()
	}
	lat := need("mcu_mixer_latency_seconds")
	for _, k := range []struct {
		kind string
		h    *mcu.Histogram
	}{{"audio", &s.AudioLatency}, {"video", &s.VideoLatency}} {
		m := metric(lat, k.kind)
		if lat != nil && (m == nil || m.Histogram == nil) {
			errs = append(errs, fmt.Errorf("metric mcu_mixer_latency_seconds{kind=%q} missing", k.kind))
			continue
		}
		if m != nil {
			*k.h = histogram(m.Histogram)
		}
	}
	if len(errs) > 0 {
		return Scrape{}, fmt.Errorf("parse metrics: %v", errs)
	}
	return s, nil
}

// metric returns the sample of f whose kind label is kind ("" for an unlabelled metric), or nil.
func metric(f *dto.MetricFamily, kind string) *dto.Metric { return labelled(f, "kind", kind) }

// labelled returns the sample of f whose label name has value v ("" for a sample without that label),
// or nil.
func labelled(f *dto.MetricFamily, name, v string) *dto.Metric {
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		k := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				k = l.GetValue()
			}
		}
		if k == v {
			return m
		}
	}
	return nil
}

// value returns the gauge, counter or untyped value of f{kind}, zero when absent.
func value(f *dto.MetricFamily, kind string) float64 { return valueOf(metric(f, kind)) }

// valueOf returns the gauge, counter or untyped value of m, zero when m is nil.
func valueOf(m *dto.Metric) float64 {
	switch {
	case m == nil:
		return 0
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// histogram turns a Prometheus histogram (cumulative buckets by upper bound) into per-bucket counts,
// the +Inf bucket last.
func histogram(h *dto.Histogram) mcu.Histogram {
	var out mcu.Histogram
	var prev uint64
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		out.Bounds = append(out.Bounds, time.Duration(math.Round(b.GetUpperBound()*1e9)))
		out.Counts = append(out.Counts, b.GetCumulativeCount()-prev)
		prev = b.GetCumulativeCount()
	}
	out.Count = h.GetSampleCount()
	out.Counts = append(out.Counts, out.Count-min(prev, out.Count))
	out.Sum = time.Duration(h.GetSampleSum() * 1e9)
	return out
}

// histogramDelta returns the observations made between two snapshots of one histogram (after minus
// before). The bounds must match; counts that went down (a restarted server) are an error.
func histogramDelta(before, after mcu.Histogram) (mcu.Histogram, error) {
	if before.Count == 0 && len(before.Counts) == 0 {
		return after, nil
	}
	if !slices.Equal(before.Bounds, after.Bounds) || len(before.Counts) != len(after.Counts) {
		return mcu.Histogram{}, fmt.Errorf("histogram buckets changed between scrapes")
	}
	d := mcu.Histogram{Bounds: after.Bounds, Counts: make([]uint64, len(after.Counts))}
	for i := range after.Counts {
		if after.Counts[i] < before.Counts[i] {
			return mcu.Histogram{}, fmt.Errorf("histogram bucket %d went down (%d -> %d)", i, before.Counts[i], after.Counts[i])
		}
		d.Counts[i] = after.Counts[i] - before.Counts[i]
		d.Count += d.Counts[i]
	}
	d.Sum = after.Sum - before.Sum
	return d, nil
}

// Latency is the p50 and p99 of a latency histogram delta, and how many observations it holds.
type Latency struct {
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Samples uint64        `json:"samples"`
}

func latencyOf(h mcu.Histogram) Latency {
	return Latency{P50: h.Quantile(0.5), P99: h.Quantile(0.99), Samples: h.Count}
}

// psnrOver returns the mean luma PSNR (dB) of the pictures the server encoded between two scrapes, from
// the histogram's sum and count (exact, where a quantile would be bucketed): the same mean of per-picture
// PSNRs as libx264's "PSNR Mean Y". 0 when none was measured.
func psnrOver(before, after Scrape) float64 {
	n := after.VideoPSNRCount - before.VideoPSNRCount
	if n <= 0 {
		return 0
	}
	return (after.VideoPSNRSum - before.VideoPSNRSum) / n
}
