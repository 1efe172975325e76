package mcu_test

import (
	"runtime"
	"testing"
	"time"
)

// TestEncodesBoundedByCores: with Go on one core, four participants with four distinct views have
// four encoder goroutines offered a picture at every tick, yet never more than one x264 encode runs
// at once (an encode is a cgo call that gives its P away, so without the bound they overlap). Whether
// an encoder ever finds the slot taken depends on the scheduler (small pictures encode in less time
// than a goroutine switch), so the count of waits is TestEncodeBoundedCountsWait's, not this test's.
func TestEncodesBoundedByCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	m := newMCU(t, smallConfig())
	for i, name := range []string{"Ann", "Bob", "Cid", "Dee"} {
		p := join(t, m, "r", name, i, 300+100*float64(i))
		defer p.client.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := m.Stats(); s.VideoFramesOut >= 400 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s := m.Stats()
	if s.VideoFramesOut < 400 || s.VideoEncoders != 4 {
		t.Fatalf("%d pictures encoded by %d encoders, want 400 or more by 4", s.VideoFramesOut, s.VideoEncoders)
	}
	if s.VideoEncodesPeak != 1 {
		t.Errorf("at most %d encodes ran at once, want 1 (GOMAXPROCS 1)", s.VideoEncodesPeak)
	}
	t.Logf("%d pictures, encoders waited %v in all", s.VideoFramesOut, s.VideoEncodeWait)
}
