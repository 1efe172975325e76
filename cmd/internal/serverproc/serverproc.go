// Package serverproc runs the real server binary (bin/mcu) as a child process for the commands that
// measure it from outside (cmd/mcubench, cmd/mcusoak): it starts the server on a free loopback port, learns
// the address from the line the server prints on stdout ("Open http://ADDR/"), waits until /healthz (and
// optionally the profiler's /debug/pprof/) answer, and stops it with SIGTERM, then SIGKILL.
package serverproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"
)

// DefaultTimeout bounds Start when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options say how to start the server. Plain data.
type Options struct {
	// Bin is the server binary.
	Bin string
	// Args are its flags, after the "-http 127.0.0.1:0 -turn-port 0 -ice-tcp-port 0" (and "-debug-addr ADDR") that Start passes
	// first, so that Args can override them.
	Args []string
	// Env holds KEY=VALUE pairs added to this process's environment for the server.
	Env []string
	// LogPath is the file (created or truncated) that receives the server's stderr: its logs.
	LogPath string
	// Timeout bounds the start: the address line and every readiness check (default DefaultTimeout).
	Timeout time.Duration
	// DebugAddr starts the server's profiler (-debug-addr) on a free loopback port and waits until
	// its /debug/pprof/ answers too.
	DebugAddr bool
	// OwnProcessGroup puts the server in a process group of its own, so that a Ctrl-C in the terminal
	// reaches this process only, which then stops the server itself.
	OwnProcessGroup bool
}

// Proc is one run of the server binary as a child process. Start it with Start and end it with Stop.
// Its methods are safe for concurrent use.
type Proc struct {
	cmd       *exec.Cmd
	addr      string // host:port of the public HTTP server
	debugAddr string // host:port of /debug/pprof/, or ""
	logPath   string
	done      chan struct{} // closed when the process has exited
	waitErr   error         // valid after done
}

// addrLine matches the line the server prints on stdout once it listens.
var addrLine = regexp.MustCompile(`Open http://(\S+?)/`)

// Start starts the server as opts say and returns once it has printed its address and answers /healthz
// (and /debug/pprof/ with Options.DebugAddr). On failure, or when the start takes longer than
// Options.Timeout, it stops the process and returns an error that names the log file. Two goroutines
// follow the process (its stdout and its exit); they end when it exits.
func Start(ctx context.Context, opts Options) (*Proc, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// No embedded TURN and no ICE-TCP port unless Args ask (their defaults, 3478 and 7881, would collide
	// between servers running at once).
	flags := []string{"-http", "127.0.0.1:0", "-turn-port", "0", "-ice-tcp-port", "0"}
	debugAddr := ""
	if opts.DebugAddr {
		var err error
		if debugAddr, err = freePort(); err != nil {
			return nil, fmt.Errorf("debug port: %w", err)
		}
		flags = append(flags, "-debug-addr", debugAddr)
	}
	logFile, err := os.Create(opts.LogPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.Bin, append(flags, opts.Args...)...)
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	if opts.OwnProcessGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", opts.Bin, err)
	}
	p := &Proc{cmd: cmd, debugAddr: debugAddr, logPath: opts.LogPath, done: make(chan struct{})}
	addrc := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := addrLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		<-readDone // the pipe reaches EOF when the process exits; Wait closes it, so reads must be over
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()

	if err := p.waitReady(ctx, addrc, timeout); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, fmt.Errorf("%w (server log: %s)", err, opts.LogPath)
	}
	return p, nil
}

// waitReady waits for the address on addrc, then until every readiness URL answers.
func (p *Proc) waitReady(ctx context.Context, addrc <-chan string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case p.addr = <-addrc:
	case <-p.done:
		return fmt.Errorf("server exited before listening: %v", p.waitErr)
	case <-ctx.Done():
		return fmt.Errorf("server printed no address within %v", timeout)
	}
	urls := []string{p.URL("/healthz")}
	if p.debugAddr != "" {
		urls = append(urls, p.DebugURL("/debug/pprof/"))
	}
	// No kept-alive connections: the server must not keep a connection goroutine for them.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, u := range urls {
		for !answers(ctx, client, u) {
			select {
			case <-p.done:
				return fmt.Errorf("server exited: %v", p.waitErr)
			case <-ctx.Done():
				return fmt.Errorf("%s does not answer within %v", u, timeout)
			case <-tick.C:
			}
		}
	}
	return nil
}

// answers reports whether a GET of url returns 200.
func answers(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePort returns a loopback address with a TCP port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Addr returns the host:port of the server's public HTTP listener.
func (p *Proc) Addr() string { return p.addr }

// DebugAddr returns the host:port of the server's profiler, or "" when it was started without
// Options.DebugAddr.
func (p *Proc) DebugAddr() string { return p.debugAddr }

// URL returns the address of path on the server's public HTTP listener: http://ADDR/path.
func (p *Proc) URL(path string) string { return "http://" + p.addr + path }

// DebugURL returns the address of path on the server's profiler (see Options.DebugAddr).
func (p *Proc) DebugURL(path string) string { return "http://" + p.debugAddr + path }

// Pid returns the server's process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// LogPath returns the file that receives the server's stderr.
func (p *Proc) LogPath() string { return p.logPath }

// Done returns a channel that is closed once the process has exited (see Exited for how).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended and, if it has, how: nil for a zero exit status,
// otherwise what exec.Cmd.Wait returned.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then kills it and waits for that. It
// returns an error when the server did not exit cleanly: it had already exited, was killed, or exited
// non-zero. Once Stop returns, the process and the goroutines that follow it have ended.
func (p *Proc) Stop(grace time.Duration) error {
	if ok, err := p.Exited(); ok {
		return fmt.Errorf("server had already exited: %v", err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("server exit after SIGTERM: %w", p.waitErr)
		}
		return nil
	case <-t.C:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return errors.New("server did not exit within " + grace.String() + " of SIGTERM; killed")
}
