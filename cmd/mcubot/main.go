// Command mcubot joins synthetic participants (package signaling/bot) to a room of a running MCU through
// its WebSocket signalling, as browsers would, and reports once a second what they receive.
//
//	mcubot -url http://127.0.0.1:8080 -room NAME -n 5 [-name bot] [-canvas 640x360] [-fps 30]
//	       [-bitrate 500000] [-codec h264|vp8] [-duration 0] [-decode] [-layout grid|speaker]
//
// Bot i is called NAME-i and sends colour i and tone i of a palette of 12 colours and 12 tones that are no
// simple multiples of each other (bots beyond 12 repeat them). Each distinct colour and tone is encoded
// once, as a 2 s mcutest.Clip that every bot with it replays, and bots do not decode what they receive
// (unless -decode), so that a bot costs little more than its packetization and SRTP.
//
// Every second a status line goes to stdout: bots connected, received frame rate per bot (min, average,
// max), received video bitrate, packets lost, freezes (frame gaps over three intervals at -expect-fps),
// audio underruns (gaps over 60 ms) and keyframe requests, all over that second. -duration 0 runs until
// SIGINT or SIGTERM; either way the bots leave the room before mcubot exits (status 0, or 1 when a bot
// could not join).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/mcu/mcutest"
	"github.com/openmcu/mcu/signaling/bot"
)

// palette holds the bots' colours (sRGB) and tones: distinct hues, and tones none of which is near a
// small-integer multiple of another, so that each stays apart in a mix.
var palette = [...]struct {
	r, g, b uint8
	hz      float64
}{
	{220, 30, 30, 311}, {30, 200, 30, 367}, {30, 30, 220, 433}, {230, 220, 30, 509},
	{220, 30, 220, 587}, {30, 210, 210, 661}, {240, 140, 20, 743}, {130, 60, 200, 827},
	{140, 200, 40, 919}, {240, 240, 240, 1013}, {120, 70, 30, 1097}, {20, 110, 110, 1201},
}

// options are the command's flags.
type options struct {
	url, room, name, layout, vcodec, logLevel string
	n, width, height, fps, bitrate, expectFPS int
	duration, joinInterval                    time.Duration
	decode                                    bool
	interfaces                                []string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mcubot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server address")
	fs.StringVar(&o.room, "room", "bench", "room to join")
	fs.IntVar(&o.n, "n", 5, "number of bots")
	fs.StringVar(&o.name, "name", "bot", "name prefix: bots are NAME-0, NAME-1, ...")
	canvas := fs.String("canvas", "640x360", "size of the video each bot sends, WIDTHxHEIGHT")
	fs.IntVar(&o.fps, "fps", 30, "frame rate of the video each bot sends")
	fs.IntVar(&o.bitrate, "bitrate", 500_000, "bitrate of the video each bot sends, bit/s")
	fs.StringVar(&o.vcodec, "codec", "h264", "video codec the bots send and receive: h264 or vp8")
	fs.IntVar(&o.expectFPS, "expect-fps", 30, "frame rate the server sends (freezes are gaps over 3 intervals)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to stay after joining; 0 = until SIGINT/SIGTERM")
	fs.DurationVar(&o.joinInterval, "join-interval", 200*time.Millisecond, "pause between two bots' joins")
	fs.BoolVar(&o.decode, "decode", false, "decode received video and audio (costs CPU)")
	fs.StringVar(&o.layout, "layout", "", "layout to ask for: grid or speaker (default: the server's)")
	ifaces := fs.String("interfaces", "", "comma-separated network interfaces for ICE (default: all)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	w, h, ok := strings.Cut(*canvas, "x")
	var errW, errH error
	o.width, errW = strconv.Atoi(w)
	o.height, errH = strconv.Atoi(h)
	if !ok || errW != nil || errH != nil || o.width < 16 || o.height < 16 || o.width%2 != 0 || o.height%2 != 0 {
		return o, fmt.Errorf("-canvas %q: want even WIDTHxHEIGHT of at least 16x16", *canvas)
	}
	if o.n < 1 || o.fps < 1 || o.fps > 120 || o.expectFPS < 1 || o.bitrate < 10_000 || o.duration < 0 {
		return o, errors.New("-n, -fps (1..120), -expect-fps and -bitrate (>= 10000) must be positive, -duration not negative")
	}
	if o.vcodec != "h264" && o.vcodec != "vp8" {
		return o, fmt.Errorf("-codec %q: want h264 or vp8", o.vcodec)
	}
	if *ifaces != "" {
		o.interfaces = strings.Split(*ifaces, ",")
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcubot:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "mcubot: -log-level:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log, os.Stdout); err != nil {
		log.Error("mcubot", "err", err)
		stop()
		os.Exit(1)
	}
}

// run joins the bots, reports every second until ctx ends or the duration has passed, and makes every
// bot leave.
func run(ctx context.Context, o options, log *slog.Logger, out io.Writer) error {
	vc := codec.H264
	if o.vcodec == "vp8" {
		vc = codec.VP8
	}
	clips := make([]*mcutest.Clip, min(o.n, len(palette)))
	for i := range clips {
		p := palette[i]
		clip, err := mcutest.NewClip(mcutest.ClipConfig{Colour: codec.RGBToYUV(p.r, p.g, p.b), ToneHz: p.hz,
			Width: o.width, Height: o.height, FrameRate: o.fps, VideoBitrate: o.bitrate, VideoCodec: vc})
		if err != nil {
			return fmt.Errorf("clip %d: %w", i, err)
		}
		clips[i] = clip
	}
	log.Info("clips encoded", "clips", len(clips), "video_bitrate", clips[0].VideoBitrate())

	var bots []*bot.Bot
	defer func() { closeAll(bots, log) }()
	for i := range o.n {
		if i > 0 && !pause(ctx, o.joinInterval) {
			return nil
		}
		b, err := bot.Join(ctx, bot.Config{URL: o.url, Room: o.room, Name: fmt.Sprintf("%s-%d", o.name, i),
			Layout: o.layout, Logger: log, Media: mcutest.Config{Clip: clips[i%len(clips)], NoDecode: !o.decode,
				ExpectedFrameRate: o.expectFPS, Interfaces: o.interfaces}})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("join bot %d: %w", i, err)
		}
		bots = append(bots, b)
	}
	fmt.Fprintf(out, "%d bots joined room %q at %s\n", len(bots), o.room, o.url)

	var end <-chan time.Time
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		end = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev := make([]mcutest.ReceiveStats, len(bots))
	for i, b := range bots {
		prev[i] = b.Stats()
	}
	start, last := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			return nil
		case now := <-tick.C:
			fmt.Fprintln(out, status(bots, prev, now.Sub(last), now.Sub(start)))
			last = now
		}
	}
}

// status formats one line about the window of length window that ends now, and moves prev to now.
func status(bots []*bot.Bot, prev []mcutest.ReceiveStats, window, since time.Duration) string {
	secs := window.Seconds()
	alive := 0
	minFPS, maxFPS, sumFPS := -1.0, 0.0, 0.0
	var bytes uint64
	var vLost, aLost int64
	var freezes, underruns, plis uint64
	for i, b := range bots {
		select {
		case <-b.Done():
			continue
		default:
		}
		alive++
		s := b.Stats()
		d := s.Sub(prev[i])
		prev[i] = s
		fps := float64(d.VideoFrames) / secs
		if minFPS < 0 || fps < minFPS {
			minFPS = fps
		}
		maxFPS = max(maxFPS, fps)
		sumFPS += fps
		bytes += d.VideoBytes
		vLost += d.VideoPacketsLost
		aLost += d.AudioPacketsLost
		freezes += d.VideoFreezes
		underruns += d.AudioUnderruns
		plis += d.PLIsSent
	}
	avg := 0.0
	if alive > 0 {
		avg = sumFPS / float64(alive)
		bytes /= uint64(alive)
	}
	return fmt.Sprintf("t=%3.0fs bots %d/%d  fps min/avg/max %4.1f/%4.1f/%4.1f  video %4.0f kbit/s/bot  lost video %d audio %d  freezes %d  underruns %d  plis %d",
		since.Seconds(), alive, len(bots), max(minFPS, 0), avg, maxFPS, float64(bytes*8)/secs/1000, vLost, aLost,
		freezes, underruns, plis)
}

// closeAll makes every bot leave, in parallel, and waits.
func closeAll(bots []*bot.Bot, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, b := range bots {
		wg.Go(func() {
			if err := b.Close(); err != nil {
				log.Warn("bot close", "participant", b.ID(), "err", err)
			}
		})
	}
	wg.Wait()
}

// pause waits d, or less if ctx ends first; it reports whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
