package mediatest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
)

// RTMPReceiver is Debian's ffmpeg listening for one RTMP publisher on loopback and copying what it gets
// into an FLV file: a real RTMP receiver, as YouTube's or nginx-rtmp's ingest would be.
type RTMPReceiver struct {
	// URL is where to publish (rtmp://127.0.0.1:PORT/app/key); Out the FLV file ffmpeg writes.
	URL, Out string
	// Port is the TCP port it listens on.
	Port int

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

// Write keeps ffmpeg's output (for the log of a failed test).
func (r *RTMPReceiver) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(b)
}

// StartRTMPReceiver starts ffmpeg on a free port and waits (bounded) until it listens. The test's
// cleanup kills it.
func StartRTMPReceiver(t *testing.T) *RTMPReceiver {
	t.Helper()
	return StartRTMPReceiverOn(t, FreePort(t), filepath.Join(t.TempDir(), "out.flv"))
}

// StartRTMPReceiverOn starts ffmpeg listening on port, writing to out.
func StartRTMPReceiverOn(t *testing.T, port int, out string) *RTMPReceiver {
	t.Helper()
	NeedFFmpeg(t)
	r := &RTMPReceiver{URL: fmt.Sprintf("rtmp://127.0.0.1:%d/app/key", port), Out: out, Port: port,
		done: make(chan error, 1)}
	// -timeout: ffmpeg gives up by itself if nobody publishes.
	r.cmd = exec.Command("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-timeout", "30", "-listen", "1",
		"-i", r.URL, "-c", "copy", "-y", r.Out)
	r.cmd.Stdout, r.cmd.Stderr = r, r
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGCONT)
		r.Kill()
		if t.Failed() {
			r.mu.Lock()
			t.Logf("ffmpeg receiver on port %d said:\n%s", port, r.logs.String())
			r.mu.Unlock()
		}
	})
	codectest.Eventually(t, 10*time.Second, fmt.Sprintf("ffmpeg listening on port %d", port), func() bool {
		return listening(port)
	})
	return r
}

// Wait waits (bounded) for ffmpeg to finish its file, after the publisher left.
func (r *RTMPReceiver) Wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("the receiver did not finish within 20 s of the publisher's end")
	}
}

// Kill kills ffmpeg (a receiver that goes away in the middle of a stream) and waits for it.
func (r *RTMPReceiver) Kill() {
	r.cmd.Process.Kill()
	err := <-r.done
	r.done <- err
}

// Stop stops ffmpeg (SIGSTOP): it neither reads nor closes.
func (r *RTMPReceiver) Stop() error { return r.cmd.Process.Signal(syscall.SIGSTOP) }

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// listening reports whether a socket listens on 127.0.0.1:port, from /proc/net/tcp: connecting to
// find out would take ffmpeg's one connection.
func listening(port int) bool {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
			return true
		}
	}
	return false
}
