// Command mcubot joins synthetic participants (package signaling/bot) to a room of a running MCU through
// its WebSocket signalling, as browsers would, and reports once a second what they receive. With a
// camera and a microphone it is a headless room client instead.
//
//	mcubot -url http://127.0.0.1:8080 -room NAME -n 5 [-name bot] [-canvas 640x360] [-fps 30]
//	       [-bitrate 500000] [-codec vp8|h264] [-replay] [-duration 0] [-decode] [-layout grid|speaker]
//	mcubot -url http://SERVER:8080 -room NAME -name "Room 3" -camera /dev/video0 -mic
//
// Bot i is called NAME-i (NAME alone when there is one bot) and gets colour i and tone i of a palette of
// 12 colours and 12 tones that are no simple multiples of each other (bots beyond 12 repeat them). What
// it sends depends on the mode:
//   - default, live: a test pattern of its colour with its name, a clock and a moving bar, and a sine at
//     its tone, produced and encoded live through pion/mediadevices (package signaling/bot/live: VP8 by
//     codec/vp8 by default, Opus by codec/opus). Each bot encodes its own: measured 5.6-6.4 % of a core
//     per bot at 640x360@30 with VP8, 5.0-5.7 % with H.264 (4 bots, 2-core EPYC).
//   - -replay: a pre-encoded 2 s clip of its colour with moving noise and its tone (package
//     signaling/bot/replay), encoded once per distinct colour and replayed by every bot that has it: a
//     bot then costs little more than its packetization and SRTP (1.6-2.4 % of a core). The capacity
//     benchmark (cmd/mcubench) and the soak (cmd/mcusoak) load the server this way.
//   - -camera /dev/videoN and/or -mic: one bot (-n 1) that sends a V4L2 camera and/or the default
//     microphone (package signaling/bot/device); a kind without a device is receive-only. It decodes what
//     the server sends (-decode is on unless set to false): a headless room client for a small Linux box.
//     -list-devices prints the cameras and microphones found.
//
// -codec is the one video codec each bot offers, sends and receives (default vp8 for live media and
// devices, h264 with -replay). Bots do not decode what they receive unless -decode.
//
// Every second a status line goes to stdout: bots connected, received frame rate per bot (min, average,
// max), decoded pictures per second (with -decode), received video bitrate, packets lost, freezes (frame
// gaps over three intervals at -expect-fps), audio underruns (gaps over 60 ms) and keyframe requests,
// all over that second. -duration 0 runs until SIGINT or SIGTERM; either way the bots leave the room
// before mcubot exits (status 0, or 1 when a bot could not join or a device could not be opened).
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
	"github.com/openmcu/mcu/signaling/bot"
	"github.com/openmcu/mcu/signaling/bot/device"
	"github.com/openmcu/mcu/signaling/bot/live"
	"github.com/openmcu/mcu/signaling/bot/peer"
	"github.com/openmcu/mcu/signaling/bot/replay"
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
	url, room, name, layout, logLevel string
	vcodec                            codec.VideoCodec
	n, width, height, fps, bitrate    int
	expectFPS                         int
	duration, joinInterval            time.Duration
	decode, replay, mic, listDevices  bool
	camera                            string
	interfaces                        []string
}

// devices reports whether the bot sends a real camera or microphone.
func (o options) devices() bool { return o.camera != "" || o.mic }

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mcubot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server address")
	fs.StringVar(&o.room, "room", "bench", "room to join")
	fs.IntVar(&o.n, "n", 5, "number of bots (1 with -camera or -mic)")
	fs.StringVar(&o.name, "name", "bot", "name prefix: bots are NAME-0, NAME-1, ...; a single bot is NAME")
	canvas := fs.String("canvas", "640x360", "size of the video each bot sends (asked of the camera), WIDTHxHEIGHT")
	fs.IntVar(&o.fps, "fps", 30, "frame rate of the video each bot sends")
	fs.IntVar(&o.bitrate, "bitrate", 500_000, "bitrate of the video each bot sends, bit/s")
	vcodec := fs.String("codec", "", "video codec the bots send and receive: vp8 or h264 (default vp8, h264 with -replay)")
	fs.BoolVar(&o.replay, "replay", false, "replay pre-encoded clips instead of encoding live (cheap: for load)")
	fs.StringVar(&o.camera, "camera", "", "send this V4L2 camera (/dev/videoN) instead of a test pattern")
	fs.BoolVar(&o.mic, "mic", false, "send the default microphone instead of a tone")
	fs.BoolVar(&o.listDevices, "list-devices", false, "print the cameras and microphones found and exit")
	fs.IntVar(&o.expectFPS, "expect-fps", 30, "frame rate the server sends (freezes are gaps over 3 intervals)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to stay after joining; 0 = until SIGINT/SIGTERM")
	fs.DurationVar(&o.joinInterval, "join-interval", 200*time.Millisecond, "pause between two bots' joins")
	fs.BoolVar(&o.decode, "decode", false, "decode received video and audio (costs CPU; on by default with -camera or -mic)")
	fs.StringVar(&o.layout, "layout", "", "layout to ask for: grid or speaker (default: the server's)")
	ifaces := fs.String("interfaces", "", "comma-separated network interfaces for ICE (default: all)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	w, h, ok := strings.Cut(*canvas, "x")
	var errW, errH error
	o.width, errW = strconv.Atoi(w)
	o.height, errH = strconv.Atoi(h)
	if !ok || errW != nil || errH != nil || o.width < 64 || o.height < 64 || o.width%2 != 0 || o.height%2 != 0 {
		return o, fmt.Errorf("-canvas %q: want even WIDTHxHEIGHT of at least 64x64", *canvas)
	}
	if o.n < 1 || o.fps < 1 || o.fps > 120 || o.expectFPS < 1 || o.bitrate < 10_000 || o.duration < 0 {
		return o, errors.New("-n, -fps (1..120), -expect-fps and -bitrate (>= 10000) must be positive, -duration not negative")
	}
	switch *vcodec {
	case "vp8":
		o.vcodec = codec.VP8
	case "h264":
		o.vcodec = codec.H264
	case "":
		o.vcodec = codec.VP8
		if o.replay {
			o.vcodec = codec.H264
		}
	default:
		return o, fmt.Errorf("-codec %q: want vp8 or h264", *vcodec)
	}
	if o.devices() {
		switch {
		case o.replay:
			return o, errors.New("-replay sends clips: it cannot go with -camera or -mic")
		case set["n"] && o.n != 1:
			return o, fmt.Errorf("-camera and -mic are for one bot, not -n %d", o.n)
		}
		o.n = 1
		if !set["decode"] {
			o.decode = true
		}
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
	if o.listDevices {
		for _, d := range device.List() {
			fmt.Println(d)
		}
		return
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

// media makes each bot's sources according to the options. It is used by one goroutine.
type media struct {
	o     options
	log   *slog.Logger
	clips []*replay.Clip // with -replay: one per palette entry in use
}

// newMedia encodes the clips for -replay; other modes make their sources per bot.
func newMedia(o options, log *slog.Logger) (*media, error) {
	m := &media{o: o, log: log}
	if !o.replay {
		return m, nil
	}
	m.clips = make([]*replay.Clip, min(o.n, len(palette)))
	for i := range m.clips {
		p := palette[i]
		clip, err := replay.New(replay.Config{Colour: codec.RGBToYUV(p.r, p.g, p.b), ToneHz: p.hz,
			Width: o.width, Height: o.height, FrameRate: o.fps, VideoBitrate: o.bitrate, VideoCodec: o.vcodec})
		if err != nil {
			return nil, fmt.Errorf("clip %d: %w", i, err)
		}
		m.clips[i] = clip
	}
	log.Info("clips encoded", "clips", len(m.clips), "video_bitrate", m.clips[0].VideoBitrate())
	return m, nil
}

// sources returns what bot i, called name, sends. The caller owns them (bot.Join takes them over).
func (m *media) sources(i int, name string) (bot.Params, error) {
	o := m.o
	enc := live.VideoEncoder{Codec: o.vcodec, Bitrate: o.bitrate, FrameRate: o.fps}
	switch {
	case o.replay:
		clip := m.clips[i%len(m.clips)]
		return bot.Params{Video: replay.NewVideo(clip), Audio: replay.NewAudio(clip)}, nil
	case o.devices():
		var p bot.Params
		if o.camera != "" {
			v, err := device.OpenCamera(device.CameraConfig{Path: o.camera, Width: o.width, Height: o.height,
				FrameRate: o.fps}, enc)
			if err != nil {
				return p, err
			}
			p.Video = v
		}
		if o.mic {
			a, micName, err := device.OpenMicrophone(live.OpusEncoder{})
			if err != nil {
				if p.Video != nil {
					p.Video.Close()
				}
				return bot.Params{}, err
			}
			m.log.Info("microphone", "device", micName)
			p.Audio = a
		}
		return p, nil
	}
	c := palette[i%len(palette)]
	v, err := live.NewPatternSource(live.PatternConfig{Name: name, Colour: codec.RGBToYUV(c.r, c.g, c.b),
		Width: o.width, Height: o.height, FrameRate: o.fps}, enc)
	if err != nil {
		return bot.Params{}, err
	}
	a, err := live.NewToneSource(live.ToneConfig{Hz: c.hz}, live.OpusEncoder{})
	if err != nil {
		v.Close()
		return bot.Params{}, err
	}
	return bot.Params{Video: v, Audio: a}, nil
}

// botName returns bot i's name.
func botName(o options, i int) string {
	if o.n == 1 {
		return o.name
	}
	return fmt.Sprintf("%s-%d", o.name, i)
}

// run joins the bots, reports every second until ctx ends or the duration has passed, and makes every
// bot leave.
func run(ctx context.Context, o options, log *slog.Logger, out io.Writer) error {
	m, err := newMedia(o, log)
	if err != nil {
		return err
	}
	var bots []*bot.Bot
	defer func() { closeAll(bots, log) }()
	for i := range o.n {
		if i > 0 && !pause(ctx, o.joinInterval) {
			return nil
		}
		name := botName(o, i)
		p, err := m.sources(i, name)
		if err != nil {
			return fmt.Errorf("bot %s: %w", name, err)
		}
		p.Logger = log
		b, err := bot.Join(ctx, bot.Config{URL: o.url, Room: o.room, Name: name, Layout: o.layout,
			Media: peer.Config{VideoCodec: o.vcodec, NoDecode: !o.decode, ExpectedFrameRate: o.expectFPS,
				Interfaces: o.interfaces}}, p)
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
	prev := make([]peer.ReceiveStats, len(bots))
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
			fmt.Fprintln(out, status(bots, prev, now.Sub(last), now.Sub(start), o.decode))
			last = now
		}
	}
}

// status formats one line about the window of length window that ends now, and moves prev to now.
func status(bots []*bot.Bot, prev []peer.ReceiveStats, window, since time.Duration, decode bool) string {
	secs := window.Seconds()
	alive := 0
	minFPS, maxFPS, sumFPS := -1.0, 0.0, 0.0
	var bytes, pictures uint64
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
		pictures += d.PicturesDecoded
		vLost += d.VideoPacketsLost
		aLost += d.AudioPacketsLost
		freezes += d.VideoFreezes
		underruns += d.AudioUnderruns
		plis += d.PLIsSent
	}
	avg, decoded := 0.0, 0.0
	if alive > 0 {
		avg = sumFPS / float64(alive)
		decoded = float64(pictures) / float64(alive) / secs
		bytes /= uint64(alive)
	}
	line := fmt.Sprintf("t=%3.0fs bots %d/%d  fps min/avg/max %4.1f/%4.1f/%4.1f", since.Seconds(), alive, len(bots),
		max(minFPS, 0), avg, maxFPS)
	if decode {
		line += fmt.Sprintf("  decoded %4.1f fps/bot", decoded)
	}
	return line + fmt.Sprintf("  video %4.0f kbit/s/bot  lost video %d audio %d  freezes %d  underruns %d  plis %d",
		float64(bytes*8)/secs/1000, vLost, aLost, freezes, underruns, plis)
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
