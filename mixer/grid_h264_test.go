package mixer_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/av"
	"github.com/openmcu/mcu/codec/h264"
	. "github.com/openmcu/mcu/mixer"
)

// TestGridSurvivesH264 is the media core end to end without a network: four sources of distinct colours
// are composed into each receiver's view, encoded with H.264 as a browser would receive it, decoded, and
// each receiver's picture shows the other three colours at its tile centres and never its own.
func TestGridSurvivesH264(t *testing.T) {
	c, l := newTestCompositor(t, DefaultCompositorConfig())
	const n = 4
	for i := range n {
		id := ParticipantID(fmt.Sprint("p", i))
		c.AddSource(id, fmt.Sprint("Person ", i))
		if err := c.AddReceiver(id, ReceiverOptions{Width: 1280, Height: 720, FrameRate: 30}); err != nil {
			t.Fatal(err)
		}
	}
	encoders := map[*Output]*h264.Encoder{}
	decoders := map[*Output]*av.VideoDecoder{}
	defer func() {
		for _, e := range encoders {
			e.Close()
		}
		for _, d := range decoders {
			d.Close()
		}
	}()
	var rects = Grid.Rects(n-1, 1280, 720)
	for tick := range 10 {
		for i := range n {
			if err := c.PushFrame(ParticipantID(fmt.Sprint("p", i)), solid(640, 360, palette[i])); err != nil {
				t.Fatal(err)
			}
		}
		c.ComposeOnce(time.Unix(0, int64(tick)*int64(time.Second/30)))
		for i := range n {
			id := ParticipantID(fmt.Sprint("p", i))
			out := l.outputOf(t, id)
			enc, dec := encoders[out], decoders[out]
			if enc == nil {
				var err error
				if enc, err = h264.NewEncoder(h264.DefaultConfig()); err != nil {
					t.Fatal(err)
				}
				if dec, err = av.NewVideoDecoder(codec.H264); err != nil {
					t.Fatal(err)
				}
				encoders[out], decoders[out] = enc, dec
			}
			canvas := take(t, out)
			au, _, err := enc.Encode(canvas)
			if err != nil {
				t.Fatal(err)
			}
			pic, err := dec.Decode(au)
			if err != nil || pic == nil {
				t.Fatalf("receiver %s tick %d: decode: %v (picture %v)", id, tick, err, pic != nil)
			}
			if tick < 9 {
				continue
			}
			got := tileColours(t, pic, rects, palette[:n])
			want := slices.DeleteFunc([]int{0, 1, 2, 3}, func(j int) bool { return j == i })
			if !slices.Equal(got, want) {
				t.Errorf("receiver %s sees colours %v after H.264, want %v (everyone but itself)", id, got, want)
			}
		}
	}
}
