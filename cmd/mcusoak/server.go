package main

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
	"strconv"
	"syscall"
	"time"
)

// serverProc is one run of the real server binary as a child process, with its profiler on a second
// port. Start it with startServer, stop it with stop. Its methods are not safe for concurrent use,
// except exited.
type serverProc struct {
	cmd       *exec.Cmd
	addr      string // host:port of the public HTTP server (/metrics)
	debugAddr string // host:port of /debug/pprof/
	pid       int
	logPath   string
	done      chan struct{} // closed when the process has exited
	waitErr   error         // valid after done
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

// startServer starts bin with -http 127.0.0.1:0, -debug-addr on a free port and args, in the
// environment of this process plus env (KEY=VALUE), with its stderr (the logs) written to logPath. It
// returns once the server has printed its address and both ports answer, or with an error (and the
// process stopped) after timeout.
func startServer(ctx context.Context, bin string, args, env []string, logPath string, timeout time.Duration) (*serverProc, error) {
	debugAddr, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("debug port: %w", err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	all := append([]string{"-http", "127.0.0.1:0", "-debug-addr", debugAddr}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = append(os.Environ(), env...)
	// A process group of its own: Ctrl-C reaches the soak only, which then stops the server itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &serverProc{cmd: cmd, debugAddr: debugAddr, pid: cmd.Process.Pid, logPath: logPath, done: make(chan struct{})}
	addrLine := regexp.MustCompile(`Open http://(\S+?)/`) // printed on stdout once it listens
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
		<-readDone // Wait closes the pipe, so reading must be over first
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error) (*serverProc, error) {
		_ = s.stop(5 * time.Second)
		return nil, fmt.Errorf("%w (server log: %s)", err, logPath)
	}
	select {
	case s.addr = <-addrc:
	case <-s.done:
		return fail(fmt.Errorf("server exited before listening: %v", s.waitErr))
	case <-ctx.Done():
		return fail(fmt.Errorf("server printed no address within %v", timeout))
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, u := range []string{s.url("/healthz"), s.debugURL("/debug/pprof/")} {
		for !answers(ctx, u) {
			select {
			case <-s.done:
				return fail(fmt.Errorf("server exited: %v", s.waitErr))
			case <-ctx.Done():
				return fail(fmt.Errorf("%s does not answer within %v", u, timeout))
			case <-tick.C:
			}
		}
	}
	return s, nil
}

// answers reports whether a GET of url returns 200.
func answers(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *serverProc) url(path string) string      { return "http://" + s.addr + path }
func (s *serverProc) debugURL(path string) string { return "http://" + s.debugAddr + path }

// exited reports whether the process has ended, and how.
func (s *serverProc) exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.waitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM and waits up to grace for the process to exit, then kills it. It returns an error
// when the server did not exit cleanly (it had already exited, was killed, or exited non-zero).
func (s *serverProc) stop(grace time.Duration) error {
	if ok, err := s.exited(); ok {
		return fmt.Errorf("server had already exited: %v", err)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.done:
		if s.waitErr != nil {
			return fmt.Errorf("server exit after SIGTERM: %w", s.waitErr)
		}
		return nil
	case <-t.C:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return errors.New("server did not exit within " + grace.String() + " of SIGTERM; killed")
}

// procStatus reads the server's /proc/PID/status.
func (s *serverProc) procStatus() (ProcMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid) + "/status")
	if err != nil {
		return ProcMem{}, err
	}
	return parseProcStatus(b)
}
