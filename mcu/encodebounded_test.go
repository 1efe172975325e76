package mcu

import (
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
)

// blockingEncoder is a video encoder whose Encode returns only when release is closed.
type blockingEncoder struct {
	codec.VideoEncoder
	release chan struct{}
}

func (e blockingEncoder) Encode(*codec.VideoFrame) ([]byte, bool, error) {
	<-e.release
	return []byte{1}, false, nil
}

// TestEncodeBoundedCountsWait: with one encode slot, an encoder that comes while another encodes waits
// for it to finish, and the wait is counted in VideoEncodeWait (an encoder that finds a free slot
// counts nothing).
func TestEncodeBoundedCountsWait(t *testing.T) {
	m := &MCU{encodeSlots: make(chan struct{}, 1)}
	first := blockingEncoder{release: make(chan struct{})}
	second := blockingEncoder{release: make(chan struct{})}
	close(second.release)
	done := make(chan struct{}, 2)
	go func() { m.encodeBounded(first, nil); done <- struct{}{} }()
	for m.encodesRunning.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	if w := m.stats.videoEncodeWait.Load(); w != 0 {
		t.Fatalf("an encoder that found a free slot counted a wait of %v", time.Duration(w))
	}
	go func() { m.encodeBounded(second, nil); done <- struct{}{} }()
	for m.encodesWaiting.Load() != 1 {
		select {
		case <-done:
			t.Fatal("the second encode ran while the first held the only slot")
		default:
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
	close(first.release)
	<-done
	<-done
	if w := time.Duration(m.stats.videoEncodeWait.Load()); w < 5*time.Millisecond {
		t.Errorf("the second encoder waited at least 5ms for the slot, counted %v", w)
	}
	if p := m.stats.VideoEncodesPeak.Load(); p != 1 {
		t.Errorf("%d encodes at once with one slot", p)
	}
	if m.encodesRunning.Load() != 0 || m.encodesWaiting.Load() != 0 || len(m.encodeSlots) != 0 {
		t.Errorf("after both: %d running, %d waiting, %d slots taken", m.encodesRunning.Load(), m.encodesWaiting.Load(), len(m.encodeSlots))
	}
}
