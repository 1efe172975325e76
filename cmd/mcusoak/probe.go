package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/openmcu/mcu/cmd/internal/serverproc"
)

// Sample is the server's state at the end of one cycle: every participant has left, the goroutines
// have settled and a GC has run. Plain data.
type Sample struct {
	// Cycle is 1 for the first cycle; 0 is the idle server before it.
	Cycle int
	// At is the time since the soak started.
	At         time.Duration
	Goroutines int
	Mem        MemStats
	Proc       ProcMem
}

// GoKept is the resident memory the Go runtime holds beyond live objects: fragmentation in heap spans,
// freed heap pages not yet returned to the OS, stacks and the runtime's own metadata.
func (s Sample) GoKept() int64 { return s.Mem.GoResident() - s.Mem.HeapAlloc }

// NonGo is the anonymous resident memory the Go runtime does not account for: C allocations through
// cgo (x264, libavcodec, libopus, libvpx and glibc's malloc arenas that hold them) and C threads'
// stacks. It is an estimate: Go's mapped memory is not all resident, so it can read a little low.
func (s Sample) NonGo() int64 { return s.Proc.RSSAnon - s.Mem.GoResident() }

// Profiles are the raw profiles taken with a sample, for saving.
type Profiles struct {
	// Goroutines is /debug/pprof/goroutine?debug=1 (stacks grouped, as text).
	Goroutines []byte
	// Heap is /debug/pprof/heap after a GC, for go tool pprof.
	Heap []byte
}

// probe reads the server's state over HTTP (/metrics, /debug/pprof) and /proc. Not safe for concurrent
// use: its requests go one at a time over kept-alive connections, so that the server runs the same
// number of connection goroutines at every sample.
type probe struct {
	srv  *serverproc.Proc
	http *http.Client
}

func newProbe(srv *serverproc.Proc) *probe {
	return &probe{srv: srv, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Hour}}}
}

// close drops the kept-alive connections.
func (p *probe) close() { p.http.CloseIdleConnections() }

func (p *probe) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return b, nil
}

// occupancy returns the rooms and participants the server reports in /metrics.
func (p *probe) occupancy(ctx context.Context) (Occupancy, error) {
	b, err := p.get(ctx, p.srv.URL("/metrics"))
	if err != nil {
		return Occupancy{}, err
	}
	return parseOccupancy(bytes.NewReader(b))
}

// waitIdle waits until the server reports no room and no participant.
func (p *probe) waitIdle(ctx context.Context, timeout time.Duration) error {
	var last Occupancy
	err := poll(ctx, timeout, func() (bool, error) {
		o, err := p.occupancy(ctx)
		last = o
		return err == nil && o == Occupancy{}, err
	})
	if err != nil {
		return fmt.Errorf("server still has %d rooms and %d participants: %w", last.Rooms, last.Participants, err)
	}
	return nil
}

// goroutines returns the server's goroutine count and the profile it comes from.
func (p *probe) goroutines(ctx context.Context) (int, []byte, error) {
	b, err := p.get(ctx, p.srv.DebugURL("/debug/pprof/goroutine?debug=1"))
	if err != nil {
		return 0, nil, err
	}
	n, err := parseGoroutineTotal(bytes.NewReader(b))
	return n, b, err
}

// settleGoroutines waits until the goroutine count is at most limit (any, when limit < 0) and the same
// on two readings in a row, for goroutines that are still ending, and returns the last reading. Past
// timeout it returns that reading without an error: the verdict judges it.
func (p *probe) settleGoroutines(ctx context.Context, limit int, timeout time.Duration) (int, []byte, error) {
	prev := -1
	var n int
	var prof []byte
	var fetchErr error
	err := poll(ctx, timeout, func() (bool, error) {
		if n, prof, fetchErr = p.goroutines(ctx); fetchErr != nil {
			return false, fetchErr
		}
		ok := n == prev && (limit < 0 || n <= limit)
		prev = n
		return ok, nil
	})
	if fetchErr != nil || ctx.Err() != nil {
		return n, prof, err
	}
	return n, prof, nil // settled, or timed out: n is what it is
}

// heap runs three GCs in the server and returns the heap profile after the second and the memory
// statistics after the third. One GC is not enough: what sync.Pools hold survives the first (in their
// victim caches), and so do objects with a cleanup or finalizer.
func (p *probe) heap(ctx context.Context) (MemStats, []byte, error) {
	if _, err := p.get(ctx, p.srv.DebugURL("/debug/pprof/heap?gc=1&debug=1")); err != nil {
		return MemStats{}, nil, err
	}
	prof, err := p.get(ctx, p.srv.DebugURL("/debug/pprof/heap?gc=1"))
	if err != nil {
		return MemStats{}, nil, err
	}
	b, err := p.get(ctx, p.srv.DebugURL("/debug/pprof/heap?gc=1&debug=1"))
	if err != nil {
		return MemStats{}, nil, err
	}
	m, err := parseMemStats(bytes.NewReader(b))
	return m, prof, err
}

// sample takes the end-of-cycle sample: goroutines settled (to limit, see settleGoroutines), then GCs,
// then the kernel's view of the process.
func (p *probe) sample(ctx context.Context, limit int, settle time.Duration) (Sample, Profiles, error) {
	var s Sample
	var pr Profiles
	var err error
	if s.Goroutines, pr.Goroutines, err = p.settleGoroutines(ctx, limit, settle); err != nil {
		return s, pr, fmt.Errorf("goroutines: %w", err)
	}
	if s.Mem, pr.Heap, err = p.heap(ctx); err != nil {
		return s, pr, fmt.Errorf("heap: %w", err)
	}
	if s.Proc, err = readProcStatus(p.srv.Pid()); err != nil {
		return s, pr, fmt.Errorf("server memory: %w", err)
	}
	return s, pr, nil
}

// readProcStatus reads the memory part of /proc/PID/status.
func readProcStatus(pid int) (ProcMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ProcMem{}, err
	}
	return parseProcStatus(b)
}
