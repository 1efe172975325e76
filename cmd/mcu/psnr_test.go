package main

import (
	"net/http/httptest"
	"testing"

	"github.com/openmcu/mcu/mcu"
)

// fixedStats is a statsSource that always returns the same snapshot.
type fixedStats mcu.Stats

func (s fixedStats) Stats() mcu.Stats { return mcu.Stats(s) }

// TestPSNRMetric checks that Stats.VideoPSNR is served as the histogram mcu_video_encode_psnr_db, buckets
// in dB, cumulative, the pictures above the last bound only in +Inf.
func TestPSNRMetric(t *testing.T) {
	src := fixedStats{VideoPSNR: mcu.PSNRHistogram{Bounds: []float64{20, 22}, Counts: []uint64{1, 2, 3}, Count: 6, Sum: 190.5}}
	srv := httptest.NewServer(metricsHandler(src, metricsSources{}))
	defer srv.Close()
	got := scrape(t, srv)
	for key, want := range map[string]float64{`mcu_video_encode_psnr_db_bucket{le="20"}`: 1,
		`mcu_video_encode_psnr_db_bucket{le="22"}`: 3, `mcu_video_encode_psnr_db_bucket{le="+Inf"}`: 6,
		`mcu_video_encode_psnr_db_sum`: 190.5, `mcu_video_encode_psnr_db_count`: 6} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %t), want %v", key, v, ok, want)
		}
	}
}
