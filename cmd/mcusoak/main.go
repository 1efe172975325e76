// Command mcusoak is a churn soak of the conference server: it finds what participants leave behind.
//
// It starts the real server binary (its profiler on a second port) and runs cycles: -rooms rooms of
// -bots synthetic participants each (signaling/bot, real WebRTC media) join, stay -cycle once they all
// receive video and audio, and leave. After each cycle it waits until the server reports no room and
// no participant (/metrics) and its goroutine count settles, runs GCs in it (/debug/pprof/heap?gc=1),
// and prints a line: goroutines, threads, the Go heap (live, in use, idle, released), what Go has
// mapped, and the RSS with its anonymous and file-backed parts; non-go is the anonymous memory Go does
// not account for: C allocations through cgo.
//
// After -warmup cycles it judges: goroutines must return to the baseline after every cycle; the live
// Go heap must not trend up (a line fitted over the judged cycles); non-Go memory must not still grow
// over the second half of them (growth that levels off passes). It says which share of the RSS grew,
// exits 1 on failure, and stops the server in every case (Ctrl-C too). The baseline's and the last
// cycle's goroutine and heap profiles are kept in -logdir for
// `go tool pprof -top -base heap-baseline.pb.gz heap-last.pb.gz`.
//
// By default (-malloc release) the server runs with glibc tunables that make it return freed C memory,
// so that non-Go memory is C memory in use and its growth a C leak. With -malloc default, glibc keeps
// freed memory in its arenas as a deployed server's does, and the RSS climbs without any leak.
//
//	go run ./cmd/mcusoak -server bin/mcu -duration 3m
//	go run ./cmd/mcusoak -server bin/mcu -duration 1h -malloc default
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
)

func main() {
	err := run(os.Args[1:])
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "mcusoak:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "mcusoak:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

type options struct {
	server, serverArgs, logDir string
	malloc                     string // release or default
	serverEnv                  listFlag
	set                        Settings
	heapRate, heapFloor        float64 // MiB
	rssRate, rssFloor          float64 // MiB
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("mcusoak", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "bin/mcu", "server binary")
	fs.StringVar(&o.serverArgs, "server-args", "", "extra server flags, space separated (they override the soak's)")
	fs.StringVar(&o.malloc, "malloc", "release", "glibc malloc of the server: release (GLIBC_TUNABLES="+glibcTunables+
		": freed C memory goes back to the OS, so growth of non-Go memory is a C leak) or default (as deployed: glibc keeps freed memory)")
	fs.Var(&o.serverEnv, "server-env", "KEY=VALUE added to the server's environment (repeatable), e.g. MALLOC_ARENA_MAX=2")
	fs.DurationVar(&o.set.Duration, "duration", 3*time.Minute, "run cycles for about this long")
	fs.IntVar(&o.set.Cycles, "cycles", 0, "run exactly this many cycles instead (0 = as many as -duration allows)")
	fs.DurationVar(&o.set.Hold, "cycle", 10*time.Second, "time the participants stay in each cycle, once they receive media")
	fs.IntVar(&o.set.Rooms, "rooms", 1, "rooms per cycle")
	fs.IntVar(&o.set.Bots, "bots", 4, "participants per room")
	fs.IntVar(&o.set.Limits.Warmup, "warmup", 3, "cycles before the baseline, not judged")
	fs.IntVar(&o.set.Limits.GoroutineSlack, "goroutine-slack", 0, "goroutines above the baseline a cycle may end with")
	fs.Float64Var(&o.heapRate, "heap-rate", 0.2, "fail when the live Go heap grows faster than this, MiB per cycle ...")
	fs.Float64Var(&o.heapFloor, "heap-floor", 2, "... and by more than this over the judged cycles, MiB")
	fs.Float64Var(&o.rssRate, "rss-rate", 0.0625, "fail when non-Go memory still grows faster than this at the end, MiB per cycle ...")
	fs.Float64Var(&o.rssFloor, "rss-floor", 8, "... and that pace would add more than this over the judged cycles, MiB")
	fs.DurationVar(&o.set.JoinTimeout, "join-timeout", 20*time.Second, "time for every participant to receive media")
	fs.DurationVar(&o.set.Settle, "settle", 15*time.Second, "time for the server to remove the participants and end their goroutines")
	fs.StringVar(&o.logDir, "logdir", "", "directory for the server log and profiles (default: a new temporary directory, kept)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	l := o.set.Limits
	switch {
	case fs.NArg() > 0:
		return o, usagef("unexpected arguments %q", fs.Args())
	case o.set.Rooms < 1 || o.set.Bots < 1 || o.set.Cycles < 0 || l.Warmup < 0 || l.GoroutineSlack < 0:
		return o, usagef("-rooms and -bots must be positive; -cycles, -warmup, -goroutine-slack not negative")
	case o.set.Hold <= 0 || o.set.Duration <= 0 || o.set.JoinTimeout <= 0 || o.set.Settle <= 0:
		return o, usagef("-cycle, -duration, -join-timeout and -settle must be positive")
	}
	if o.malloc != "release" && o.malloc != "default" {
		return o, usagef("-malloc %q: want release or default", o.malloc)
	}
	for _, kv := range o.serverEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return o, usagef("-server-env %q: want KEY=VALUE", kv)
		}
	}
	const mb = 1 << 20
	o.set.Limits.HeapRate, o.set.Limits.HeapFloor = o.heapRate*mb, o.heapFloor*mb
	o.set.Limits.RSSRate, o.set.Limits.RSSFloor = o.rssRate*mb, o.rssFloor*mb
	o.set.Limits.CReleased = o.malloc == "release"
	return o, nil
}

// serverFlags are the server's flags: one modest tier (640x360@30, no lower tiers), no SIP, media on
// loopback, room for every bot, then the user's -server-args.
func serverFlags(o options) []string {
	a := []string{"-canvas", "640x360", "-fps", "30", "-video-bitrate", "500000", "-tiers", "", "-sip-port", "0", "-turn-port", "0", "-ice-tcp-port", "0",
		"-include-loopback", "true", "-interfaces", "lo", "-log-level", "warn",
		"-max-participants", strconv.Itoa(max(o.set.Bots, 25))}
	return append(a, strings.Fields(o.serverArgs)...)
}

// serverEnv is what the soak adds to the server's environment: glibc's tunables for -malloc release,
// then the user's -server-env (the last value of a key wins).
func serverEnv(o options) []string {
	var env []string
	if o.malloc == "release" {
		env = append(env, "GLIBC_TUNABLES="+glibcTunables)
	} else {
		env = append(env, "MCU_GLIBC_DEFAULTS=1") // the server would set the tunables on itself
	}
	return append(env, o.serverEnv...)
}

func run(args []string) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.server); err != nil {
		return fmt.Errorf("server binary: %w (run make build)", err)
	}
	if o.logDir == "" {
		if o.logDir, err = os.MkdirTemp("", "mcusoak-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return err
	}
	o.set.LogDir = o.logDir
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logPath := filepath.Join(o.logDir, "server.log")
	env := serverEnv(o)
	srv, err := serverproc.Start(ctx, serverproc.Options{Bin: o.server, Args: serverFlags(o), Env: env,
		LogPath: logPath, Timeout: 15 * time.Second, DebugAddr: true, OwnProcessGroup: true})
	if err != nil {
		return err
	}
	log.Info("mcusoak", "pid", srv.Pid(), "http", srv.Addr(), "debug", srv.DebugAddr(), "logdir", o.logDir,
		"rooms", o.set.Rooms, "bots", o.set.Bots, "cycle", o.set.Hold, "duration", o.set.Duration,
		"cycles", o.set.Cycles, "env", strings.Join(env, " "))
	p := newProbe(srv)
	defer func() {
		p.close()
		if serr := srv.Stop(10 * time.Second); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	botLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	load, err := newBotLoad(srv.URL(""), botLog)
	if err != nil {
		return err
	}
	s := &soak{set: o.set, srv: srv, probe: p, load: load, out: os.Stdout}
	samples, runErr := s.run(ctx)

	v := judge(samples, o.set.Limits)
	writeSummary(os.Stdout, samples, o.set.Limits.Warmup, v)
	fmt.Printf("profiles: %s (go tool pprof -top -base heap-baseline.pb.gz heap-last.pb.gz); server log: %s\n",
		o.logDir, logPath)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if runErr != nil {
		return runErr
	}
	if !v.Pass {
		return fmt.Errorf("%d check(s) failed", len(v.Failures))
	}
	return nil
}
