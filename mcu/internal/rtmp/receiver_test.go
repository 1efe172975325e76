package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu/internal/fmp4/fmp4test"
)

// receiver is Debian's ffmpeg listening for one RTMP publisher on loopback and copying what it gets into
// an FLV file: a real RTMP receiver, as YouTube's or nginx-rtmp's ingest would be.
type receiver struct {
	cmd  *exec.Cmd
	url  string // where to publish
	out  string // the FLV file
	logs bytes.Buffer
	done chan struct{} // closed when ffmpeg has exited
}

// startReceiver starts ffmpeg and waits (bounded) until it listens.
func startReceiver(t *testing.T) *receiver {
	t.Helper()
	fmp4test.NeedFFmpeg(t)
	port := freePort(t)
	r := &receiver{
		url:  fmt.Sprintf("rtmp://127.0.0.1:%d/app/key", port),
		out:  filepath.Join(t.TempDir(), "out.flv"),
		done: make(chan struct{}),
	}
	// -timeout: ffmpeg gives up by itself if nobody publishes.
	r.cmd = exec.Command("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-timeout", "30", "-listen", "1",
		"-i", r.url, "-c", "copy", "-y", r.out)
	r.cmd.Stdout, r.cmd.Stderr = &r.logs, &r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGCONT)
		r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("ffmpeg receiver said:\n%s", r.logs.String())
		}
	})
	codectest.Eventually(t, 10*time.Second, fmt.Sprintf("ffmpeg listening on port %d", port), func() bool {
		return listening(port)
	})
	return r
}

// wait waits (bounded) for ffmpeg to finish its file.
func (r *receiver) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the receiver did not finish within 20 s of the publisher's Close")
	}
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t *testing.T) int {
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

// dialTimeout bounds Dial in tests.
func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
