package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// serverProc is one run of the real server binary as a child process. Start it with startServer, stop
// it with stop. Its methods are not safe for concurrent use, except exited.
type serverProc struct {
	cmd     *exec.Cmd
	addr    string // host:port the server listens on
	pid     string
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// addrLine matches the line the server prints on stdout once it listens.
var addrLine = regexp.MustCompile(`Open http://(\S+?)/`)

// startServer starts bin with args plus -http 127.0.0.1:0, writes its stderr (the logs) to logPath, and
// returns once it has printed its address and answers /healthz, or with an error (and the process
// stopped) after timeout.
func startServer(ctx context.Context, bin string, args []string, logPath string, timeout time.Duration) (*serverProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"-http", "127.0.0.1:0"}, args...)...)
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
	s := &serverProc{cmd: cmd, pid: strconv.Itoa(cmd.Process.Pid), logPath: logPath, done: make(chan struct{})}
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
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url("/healthz"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return fail(fmt.Errorf("server exited: %v", s.waitErr))
		case <-ctx.Done():
			return fail(fmt.Errorf("server not healthy within %v", timeout))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *serverProc) url(path string) string { return "http://" + s.addr + path }

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
// when the server did not exit cleanly (killed, or a non-zero status).
func (s *serverProc) stop(grace time.Duration) error {
	if ok, err := s.exited(); ok {
		return fmt.Errorf("server had already exited: %v", err)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.waitErr != nil {
			return fmt.Errorf("server exit after SIGTERM: %w", s.waitErr)
		}
		return nil
	case <-time.After(grace):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return errors.New("server did not exit within " + grace.String() + " of SIGTERM; killed")
}
