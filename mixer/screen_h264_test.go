package mixer_test

import (
	"fmt"
	"image"
	"math"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/h264"
	. "github.com/openmcu/mcu/mixer"
)

// textScreen returns a w x h screen of black 12 px text on white, line under line, like a shared editor.
func textScreen(t *testing.T, w, h int) *codec.VideoFrame {
	t.Helper()
	f := solid(w, h, codec.RGBToYUV(255, 255, 255))
	const px = 12
	for line, y := 0, 4; ; line++ {
		text := fmt.Sprintf("%4d  func (c *Compositor) AddScreen(id, owner ParticipantID, name string) { c.mu.Lock(); defer c.mu.Unlock() } // %d", line+1, line*7919%1000)
		m, err := RenderText(text, px, w-16)
		if err != nil {
			t.Fatal(err)
		}
		if y+m.Rect.Dy() > h {
			return f
		}
		for my := range m.Rect.Dy() {
			row := f.Y[(y+my)*f.StrideY:]
			for mx := range m.Rect.Dx() {
				a := int(m.Pix[my*m.Stride+mx])
				p := &row[8+mx]
				*p = byte(int(*p) - (int(*p)-16)*a/255)
			}
		}
		y += m.Rect.Dy() + 2
	}
}

// lumaPSNR compares the luma of r in two pictures, in dB.
func lumaPSNR(a, b *codec.VideoFrame, r image.Rectangle) float64 {
	var se float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			d := float64(a.Y[y*a.StrideY+x]) - float64(b.Y[y*b.StrideY+x])
			se += d * d
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(r.Dx()*r.Dy())/se)
}

// TestScreenTextSurvivesH264 checks that small text on a shared screen stays legible for the receivers of
// the presentation: a 1920x1080 screen of 12 px text is composed into the presentation layout at 1280x720,
// encoded with H.264 at 1.5 Mbit/s as a browser would receive it, and decoded; the screen's area of the
// decoded picture must be within 30 dB (luma PSNR) of the same area of the composed canvas.
func TestScreenTextSurvivesH264(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	for i, id := range []ParticipantID{"p0", "p1"} {
		c.AddSource(id, string(id))
		if err := c.PushFrame(id, solid(640, 360, palette[i])); err != nil {
			t.Fatal(err)
		}
	}
	c.AddScreen("s", "p0", "p0's screen")
	if err := c.AddReceiver("viewer", ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
		t.Fatal(err)
	}
	screen := textScreen(t, 1920, 1080)
	cfg := h264.DefaultConfig()
	cfg.Bitrate = 1_500_000
	enc, err := h264.NewEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := av.NewVideoDecoder(codec.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	r := PresentationRects(2, 1280, 720, 1920, 1080)[0]
	const frames = 10
	var psnr float64
	for tick := range frames {
		// The screen sends a picture every frame, unchanged, as a browser sharing a still editor does.
		if err := c.PushFrame("s", screen); err != nil {
			t.Fatal(err)
		}
		c.ComposeOnce(time.Unix(0, int64(tick)*int64(time.Second/30)))
		canvas := take(t, l.outputOf(t, "viewer"))
		au, _, err := enc.Encode(canvas)
		if err != nil {
			t.Fatal(err)
		}
		pic, err := dec.Decode(au)
		if err != nil || pic == nil {
			t.Fatalf("frame %d: decode: %v (picture %v)", tick, err, pic != nil)
		}
		psnr = lumaPSNR(pic, canvas, r)
		t.Logf("frame %d: %d bytes, screen area %v luma PSNR %.2f dB", tick, len(au), r, psnr)
	}
	if psnr < 30 {
		t.Errorf("after %d frames at %d bit/s the screen's text is %.2f dB from the composed canvas, want at least 30 dB", frames, cfg.Bitrate, psnr)
	}
}
