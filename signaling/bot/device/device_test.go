package device

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/opus"
	"github.com/openmcu/mcu/signaling/bot/live"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNoCamera checks the error path on a machine without that camera (this one has none): a missing
// node, a node that is not a V4L2 device, and no path at all each fail with ErrNoDevice.
func TestNoCamera(t *testing.T) {
	t.Logf("devices found: %q", List())
	for _, path := range []string{"/dev/video-none", "/dev/null", ""} {
		src, err := OpenCamera(CameraConfig{Path: path}, live.VideoEncoder{})
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), path) {
			t.Errorf("OpenCamera(%q) = %v, %v; want an error naming it and wrapping ErrNoDevice", path, src, err)
		}
		if src != nil {
			src.Close()
		}
	}
	if _, err := OpenCamera(CameraConfig{Path: "/dev/video0"}, live.VideoEncoder{Bitrate: 1}); err == nil ||
		errors.Is(err, ErrNoDevice) {
		t.Errorf("a 1 bit/s encoder: %v, want a configuration error before the device is looked at", err)
	}
}

// TestMicrophone opens the default microphone and reads a few Opus packets from it. Where there is
// none (only miniaudio's null device, as on this machine), OpenMicrophone must say so with ErrNoDevice,
// and the same pipeline (malgo, mediadevices' driver, the Opus adapter) is read from the null device.
func TestMicrophone(t *testing.T) {
	src, name, err := OpenMicrophone(live.OpusEncoder{})
	if errors.Is(err, ErrNoDevice) {
		t.Logf("no microphone: %v; reading the null device instead", err)
		for _, d := range List() {
			if strings.HasPrefix(d, "microphone") && !strings.Contains(d, nullLabel) {
				t.Errorf("microphone %q listed, yet: %v", d, err)
			}
		}
		src, name, err = openMicrophone(live.OpusEncoder{}, true)
	}
	if errors.Is(err, ErrNoDevice) {
		t.Skipf("no capture device at all: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	t.Logf("microphone %q", name)
	for i := range 5 {
		s, err := src.ReadSample()
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if n, err := opus.PacketSamples(s.Data); err != nil || n != codec.FrameSamples || s.Duration != codec.FrameDuration {
			t.Errorf("sample %d: %d samples (%v), duration %v; want 960 and 20 ms", i, n, err, s.Duration)
		}
	}
	if err := src.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
