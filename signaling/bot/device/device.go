// Package device gives a bot real media: a V4L2 camera and a microphone, through pion/mediadevices'
// drivers (pkg/driver/camera: V4L2 through github.com/blackjack/webcam; pkg/driver/microphone: miniaudio
// through github.com/gen2brain/malgo, which opens ALSA or PulseAudio at run time and needs no -dev
// package to build) and mediadevices.GetUserMedia, encoded by package live's adapters over codec/vp8 or
// codec/h264 and codec/opus. With it cmd/mcubot is a headless room client for a small Linux box.
//
// Importing this package registers the drivers when the program starts: mediadevices lists
// /dev/v4l/by-id, /dev/v4l/by-path and /dev/video*, and opens a miniaudio context and lists its capture
// devices (miniaudio's null backend is always there, so this does not fail on a machine without sound;
// OpenMicrophone does not use it). Only commands that offer real devices should import it. The drivers exist once
// per process: a camera or a microphone can be open for one bot at a time.
//
// The cgo of the drivers is mediadevices' and malgo's; this package has none. Built without cgo it has no
// drivers (mediadevices' V4L2 code and malgo need cgo): every Open fails with ErrNoDevice.
package device

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/camera"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/signaling/bot/live"
)

// ErrNoDevice is wrapped by the errors of OpenCamera and OpenMicrophone when there is no such device.
var ErrNoDevice = errors.New("no such device")

// CameraConfig describes the camera to open and the picture to ask it for. Zero fields take the defaults
// noted. It is plain data.
type CameraConfig struct {
	// Path is the camera's device node, /dev/videoN, or a link to it (/dev/v4l/by-id/...).
	Path string
	// Width, Height and FrameRate are the picture wanted (default 640x360 at 30 fps): the driver picks
	// the closest the camera offers, and the encoder takes whatever size it delivers.
	Width, Height, FrameRate int
}

// formats are the camera pixel formats the bot takes (all that mediadevices decodes, but depth).
var formats = prop.FrameFormatOneOf{frame.FormatI420, frame.FormatNV12, frame.FormatNV21, frame.FormatYUYV,
	frame.FormatUYVY, frame.FormatMJPEG}

// OpenCamera opens the camera at cfg.Path through mediadevices.GetUserMedia and returns it as a
// live.VideoSource encoded with enc (enc.FrameRate defaults to the camera's). It fails with an error
// wrapping ErrNoDevice when the path is not a V4L2 capture device that mediadevices found at start.
func OpenCamera(cfg CameraConfig, enc live.VideoEncoder) (*live.VideoSource, error) {
	if cfg.Width == 0 || cfg.Height == 0 {
		cfg.Width, cfg.Height = 640, 360
	}
	if cfg.FrameRate == 0 {
		cfg.FrameRate = 30
	}
	if enc.FrameRate == 0 {
		enc.FrameRate = cfg.FrameRate
	}
	if err := enc.Validate(); err != nil {
		return nil, err
	}
	d, err := findCamera(cfg.Path)
	if err != nil {
		return nil, err
	}
	stream, err := mediadevices.GetUserMedia(mediadevices.MediaStreamConstraints{
		Video: func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = prop.StringExact(d.ID())
			c.Width, c.Height = prop.Int(cfg.Width), prop.Int(cfg.Height)
			c.FrameRate = prop.Float(cfg.FrameRate)
			c.FrameFormat = formats
		},
		Codec: live.NewCodecSelector(enc, live.OpusEncoder{}),
	})
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Path, err)
	}
	tracks := stream.GetVideoTracks()
	if len(tracks) != 1 {
		closeAll(stream.GetTracks())
		return nil, fmt.Errorf("camera %s: %d video tracks", cfg.Path, len(tracks))
	}
	src, err := live.NewVideoSource(tracks[0], enc)
	if err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Path, err)
	}
	return src, nil
}

// findCamera returns the camera driver of the device node at path (or of the node a link points to).
func findCamera(path string) (driver.Driver, error) {
	if path == "" {
		return nil, fmt.Errorf("camera: no device path: %w", ErrNoDevice)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("camera %s: %w", path, ErrNoDevice)
		}
		return nil, fmt.Errorf("camera %s: %w", path, err)
	}
	node := filepath.Base(target)
	var found []string
	for _, d := range driver.GetManager().Query(driver.FilterAnd(driver.FilterVideoRecorder(),
		driver.FilterDeviceType(driver.Camera))) {
		// Labels are "NAME;NODE": the name it was found under and the /dev node it is (video0).
		label := d.Info().Label
		if _, n, ok := strings.Cut(label, camera.LabelSeparator); ok && n == node {
			return d, nil
		}
		found = append(found, label)
	}
	return nil, fmt.Errorf("camera %s: not a V4L2 capture device (cameras found: %d %q): %w", path, len(found),
		found, ErrNoDevice)
}

// OpenMicrophone opens the default capture device (or the best one mediadevices finds: 48 kHz, mono
// preferred) through mediadevices.GetUserMedia and returns it as a live.Source encoded with enc, and the
// device's name. miniaudio's null device does not count: it "captures" silence as fast as it is read,
// not in real time, so a machine without a sound system fails with ErrNoDevice.
func OpenMicrophone(enc live.OpusEncoder) (*live.Source, string, error) {
	return openMicrophone(enc, false)
}

// nullLabel is the label of miniaudio's null device: its device ID, "null", in hex.
const nullLabel = "6e756c6c"

// openMicrophone is OpenMicrophone; allowNull lets tests use the null device.
func openMicrophone(enc live.OpusEncoder, allowNull bool) (*live.Source, string, error) {
	var ids prop.StringOneOf
	for _, d := range driver.GetManager().Query(driver.FilterAnd(driver.FilterAudioRecorder(),
		driver.FilterDeviceType(driver.Microphone))) {
		if d.Info().Label != nullLabel || allowNull {
			ids = append(ids, d.ID())
		}
	}
	if len(ids) == 0 {
		return nil, "", fmt.Errorf("microphone: none found but miniaudio's null device (no ALSA or PulseAudio capture device): %w", ErrNoDevice)
	}
	stream, err := mediadevices.GetUserMedia(mediadevices.MediaStreamConstraints{
		Audio: func(c *mediadevices.MediaTrackConstraints) {
			c.DeviceID = ids
			c.SampleRate = prop.Int(codec.SampleRate)
			c.ChannelCount = prop.Int(1)
		},
		Codec: live.NewCodecSelector(live.VideoEncoder{}, enc),
	})
	if err != nil {
		return nil, "", fmt.Errorf("microphone: %w", err)
	}
	tracks := stream.GetAudioTracks()
	if len(tracks) != 1 {
		closeAll(stream.GetTracks())
		return nil, "", fmt.Errorf("microphone: %d audio tracks", len(tracks))
	}
	name := tracks[0].ID()
	for _, d := range driver.GetManager().Query(driver.FilterID(tracks[0].ID())) {
		name = d.Info().Name
	}
	src, err := live.NewAudioSource(tracks[0])
	if err != nil {
		return nil, "", fmt.Errorf("microphone %s: %w", name, err)
	}
	return src, name, nil
}

// List returns the cameras and microphones mediadevices found, one line each: kind, label and name,
// tab-separated, sorted.
func List() []string {
	var out []string
	for _, d := range driver.GetManager().Query(func(driver.Driver) bool { return true }) {
		info := d.Info()
		if info.DeviceType != driver.Camera && info.DeviceType != driver.Microphone {
			continue
		}
		out = append(out, fmt.Sprintf("%s\t%s\t%s", info.DeviceType, info.Label, info.Name))
	}
	slices.Sort(out)
	return out
}

func closeAll(tracks []mediadevices.Track) {
	for _, t := range tracks {
		t.Close()
	}
}
