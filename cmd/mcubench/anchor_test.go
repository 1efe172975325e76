package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/cmd/internal/botload"
	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/signaling/bot/replay"
)

func TestAnchorArgs(t *testing.T) {
	a := Anchor{FFmpeg: "ffmpeg", Inputs: []string{"a.h264", "b.h264", "c.h264"}, InputRate: 30,
		Tier: Tier{1280, 720, 30, 1_500_000}, Frames: 300, Threads: 1, KeyframeInterval: 10 * time.Second}
	args := strings.Join(a.Args(), " ")
	for _, want := range []string{
		"-threads 1 -framerate 30 -i a.h264", "-threads 1 -framerate 30 -i c.h264", "-filter_complex_threads 1",
		"-map [v2] -c:v libx264 -preset ultrafast -tune zerolatency -profile:v baseline -b:v 1500k -maxrate 1500k -bufsize 750k -g 300",
		"-frames:v 300 -threads 1 -f null -",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("ffmpeg args lack %q:\n%s", want, args)
		}
	}
	if got := strings.Count(args, "-f null -"); got != 3 {
		t.Errorf("%d null outputs, want 3 (one per view):\n%s", got, args)
	}
	// Every encoder measures PSNR and prints it at the info level.
	if got := strings.Count(args, "-bf 0 -flags +psnr -r 30"); got != 3 || !strings.Contains(args, "-loglevel info") {
		t.Errorf("%d encoders measure PSNR (want 3), loglevel info %t:\n%s", got, strings.Contains(args, "-loglevel info"), args)
	}
	a.Threads = 0
	if args := strings.Join(a.Args(), " "); strings.Contains(args, "threads") {
		t.Errorf("Threads 0 (ffmpeg's default) still sets threads:\n%s", args)
	}
}

func TestAnchorFilterGraph(t *testing.T) {
	tests := []struct {
		n    int
		want []string
	}{
		// Two participants: each view is the other one, scaled to the whole canvas.
		{2, []string{"[0:v]scale=1280:720:flags=bilinear,split=1[s0_1];", "[s1_0]pad=1280:720:0:0:black[v0]", "[s0_1]pad=1280:720:0:0:black[v1]"}},
		// Four: three 640x360 tiles in the server's 2x2 grid (two on top, one centred below), without self.
		{4, []string{"[3:v]scale=640:360:flags=bilinear,split=3[s3_0][s3_1][s3_2];",
			"[s1_0][s2_0][s3_0]xstack=inputs=3:layout=0_0|640_0|320_360:fill=black,pad=1280:720:0:0:black[v0]",
			"[s0_3][s1_3][s2_3]xstack=inputs=3:layout=0_0|640_0|320_360:fill=black,pad=1280:720:0:0:black[v3]"}},
	}
	for _, tt := range tests {
		a := Anchor{Inputs: make([]string, tt.n), Tier: Tier{1280, 720, 30, 1_500_000}}
		g := a.FilterGraph()
		for _, w := range tt.want {
			if !strings.Contains(g, w) {
				t.Errorf("n=%d: graph lacks %q:\n%s", tt.n, w, g)
			}
		}
		if got := strings.Count(g, "[v"); got != tt.n {
			t.Errorf("n=%d: %d views in the graph, want %d:\n%s", tt.n, got, tt.n, g)
		}
	}
}

// TestAnchorRun runs the real ffmpeg on three participants' inputs, writes the three views, and checks by
// content that each view shows the other two participants' colours where the server's grid puts them,
// and never its own; and that the null-muxer run reports CPU time.
func TestAnchorRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg")
	}
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	dir := t.TempDir()
	const n, frames = 3, 15
	in := &anchorInputs{ffmpeg: ff, dir: dir, frames: frames}
	files, err := in.files(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	tier := Tier{640, 360, 30, 500_000}
	a := Anchor{FFmpeg: ff, Inputs: files, InputRate: inputRate, Tier: tier, Frames: frames, Threads: 1,
		KeyframeInterval: 10 * time.Second}
	for k := range n {
		a.Outputs = append(a.Outputs, filepath.Join(dir, fmt.Sprintf("view-%d.h264", k)))
	}
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	palette := make([]codec.YUV, n)
	for i := range palette {
		palette[i] = participantColour(i)
	}
	rects := mixer.Grid.Rects(n-1, tier.Width, tier.Height)
	for k := range n {
		pic := lastPicture(t, ff, a.Outputs[k], tier.Width, tier.Height)
		var want, got []int
		for j := range n {
			if j != k {
				want = append(want, j)
			}
		}
		for _, r := range rects {
			x, y := (r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2
			got = append(got, nearest(palette, pic.At(x, y)))
		}
		if !slices.Equal(got, want) {
			t.Errorf("view %d shows participants %v at its tile centres, want %v", k, got, want)
		}
	}

	a.Outputs = nil
	res, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.CPU <= 0 || res.MediaSec != 0.5 || res.Cores != res.CPU.Seconds()/0.5 {
		t.Errorf("anchor result %+v: want CPU > 0 over 0.5 s of media", res)
	}
	if res.PSNR < 20 || res.PSNR > 99 {
		t.Errorf("anchor PSNR %.2f dB, want libx264's mean luma PSNR of block noise, 20..99", res.PSNR)
	}
	t.Logf("ffmpeg's views of %d noise inputs at %s: luma PSNR %.2f dB", n, tier, res.PSNR)
}

// TestX264PSNR reads the mean luma PSNR of each libx264 encoder from ffmpeg's log, not the lines per
// picture type.
func TestX264PSNR(t *testing.T) {
	log := `  split -> Stream #0:0 (libx264)
[libx264 @ 0x55d06f204d80] frame I:1     Avg QP:20.00  size:  7154  PSNR Mean Y:52.94 U:48.02 V:47.11 Avg:48.72 Global:48.72
[libx264 @ 0x55d06f204d80] frame P:29    Avg QP:17.62  size:   632  PSNR Mean Y:53.74 U:48.40 V:48.33 Avg:49.53 Global:49.49
[libx264 @ 0x55d06f204d80] PSNR Mean Y:53.716 U:48.388 V:48.286 Avg:49.507 Global:49.458 kb/s:203.89
[libx264 @ 0x55d06f205ec0] frame P:29    Avg QP:46.21  size:   225  PSNR Mean Y:32.72 U:35.67 V:35.55 Avg:34.40 Global:34.34
[libx264 @ 0x55d06f205ec0] PSNR Mean Y:32.754 U:35.707 V:35.593 Avg:34.431 Global:34.372 kb/s:79.15
`
	if got, want := x264PSNR(log), (53.716+32.754)/2; got != want {
		t.Errorf("x264PSNR = %v, want %v (the two encoders' summaries averaged)", got, want)
	}
	if got := x264PSNR("[libx264 @ 0x1] frame I:1 PSNR Mean Y:40.00\n"); got != 0 {
		t.Errorf("x264PSNR without a summary = %v, want 0", got)
	}
}

// TestAnchorInputsCamera: the camera content's inputs are the participants' own clips, looped to the
// frames asked for; ffmpeg decodes them whole, to the participant's colour on average, at a bitrate below
// the noise's.
func TestAnchorInputsCamera(t *testing.T) {
	bots, err := botload.New(botload.Config{Content: replay.Camera}, botload.Params{Colour: participantColour})
	if err != nil {
		t.Fatal(err)
	}
	const n, frames = 2, 75 // past the 60 frames of a loop
	in := &anchorInputs{dir: t.TempDir(), frames: frames, content: replay.Camera, clip: bots.Clip}
	files, err := in.files(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		c, err := bots.Clip(i)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for k := range frames {
			want += len(c.VideoFrame(k))
		}
		if st, err := os.Stat(f); err != nil || st.Size() != int64(want) {
			t.Errorf("input %d: %v, %v; want %d bytes, the clip's frames 0..59 then 0..14", i, st, err, want)
		}
	}
	if again, err := in.files(context.Background(), n); err != nil || !slices.Equal(again, files) {
		t.Errorf("files again = %v, %v; want the same files %v", again, err, files)
	}
	if kbps := in.kbps(files); kbps < 200 || kbps > 500 {
		t.Errorf("camera inputs at %.0f kbit/s, want below the 500 kbit/s target", kbps)
	}
	if testing.Short() {
		return
	}
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg")
	}
	for i, f := range files {
		pic := lastPicture(t, ff, f, inputWidth, inputHeight)
		if got := pic.Mean(pic.Bounds()); nearest([]codec.YUV{participantColour(i)}, got) != 0 {
			t.Errorf("input %d decodes to a mean of %v, want near %v", i, got, participantColour(i))
		}
	}
}

// lastPicture decodes an H.264 file with ffmpeg and returns its last picture.
func lastPicture(t *testing.T, ff, file string, w, h int) *codec.VideoFrame {
	t.Helper()
	out, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-i", file, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-").Output()
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	size := w * h * 3 / 2
	if len(out) < size || len(out)%size != 0 {
		t.Fatalf("decode %s: %d bytes, not whole %dx%d pictures", file, len(out), w, h)
	}
	last := out[len(out)-size:]
	return &codec.VideoFrame{Width: w, Height: h, Y: last[:w*h], U: last[w*h : w*h*5/4], V: last[w*h*5/4:],
		StrideY: w, StrideU: w / 2, StrideV: w / 2}
}

// nearest returns the index of the palette colour closest to c, or -1 when even that one is further than
// an H.264 round trip moves a flat colour (20 levels in YUV).
func nearest(palette []codec.YUV, c codec.YUV) int {
	best, bestD := -1, 1<<30
	for i, p := range palette {
		dy, du, dv := int(p.Y)-int(c.Y), int(p.U)-int(c.U), int(p.V)-int(c.V)
		if d := dy*dy + du*du + dv*dv; d < bestD {
			best, bestD = i, d
		}
	}
	if bestD > 20*20 {
		return -1
	}
	return best
}

func TestParticipantColoursDistinct(t *testing.T) {
	const n = 64
	for i := range n {
		for j := range i {
			a, b := participantColour(i), participantColour(j)
			dy, du, dv := int(a.Y)-int(b.Y), int(a.U)-int(b.U), int(a.V)-int(b.V)
			if dy*dy+du*du+dv*dv < 25 {
				t.Errorf("participants %d and %d have nearly the same colour: %v, %v", j, i, b, a)
			}
		}
	}

}
