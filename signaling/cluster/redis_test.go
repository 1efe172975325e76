package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmcu/mcu/signaling/cluster/clustertest"
)

// Durations of the test nodes: short, so that expiries take a second or two, yet with timeouts as long
// as Validate allows, so that a loaded machine (-race, other packages' tests) does not make Redis look down.
const (
	testHeartbeat = 150 * time.Millisecond
	testNodeTTL   = 900 * time.Millisecond
	testLeaseTTL  = 1500 * time.Millisecond
	testTimeout   = 450 * time.Millisecond
)

// redisServer is a real redis-server (clustertest.Redis).
type redisServer = clustertest.Redis

// startRedis starts a redis-server for t (clustertest.StartRedis).
func startRedis(t *testing.T) *redisServer { return clustertest.StartRedis(t) }

// proxy forwards unix-socket connections to the Redis server. Cut, it drops every byte both ways on the
// connections it has and the ones it accepts: a network partition between one node and Redis, whose
// calls then time out as they would on a real network.
type proxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

var proxyCount atomic.Int64

// newProxy starts a proxy to r and stops it at t's end.
func newProxy(t *testing.T, r *redisServer) *proxy {
	t.Helper()
	sock := filepath.Join(r.Dir, fmt.Sprintf("proxy%d.sock", proxyCount.Add(1)))
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: r.Sock}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "unix://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

// pipe copies src to dst, dropping what it reads while the proxy is cut.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = src.Close()
	_ = dst.Close()
}

// setCut cuts (true) or heals (false) the link. Healing closes the connections that lived through the cut
// (their byte streams lost pieces), as a real network's would time out.
func (p *proxy) setCut(cut bool) {
	p.cut.Store(cut)
	if !cut {
		p.closeConns()
	}
}

func (p *proxy) closeConns() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (p *proxy) close() {
	_ = p.ln.Close()
	p.closeConns()
	p.wg.Wait()
}

// testNode is a Cluster with a settable load, recording its OnLost calls.
type testNode struct {
	*Cluster
	load atomic.Pointer[Load]

	mu   sync.Mutex
	lost []string
}

func (n *testNode) setLoad(l Load) { n.load.Store(&l) }

func (n *testNode) lostRooms() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.lost)
}

// testConfig is a node's Config for the tests, with keys under prefix.
func testConfig(redisURL, id, prefix string) Config {
	cfg := DefaultConfig()
	cfg.RedisURL = redisURL
	cfg.NodeID = id
	cfg.PublicURL = "https://" + id + ".example.org:8443"
	cfg.HeartbeatInterval = testHeartbeat
	cfg.NodeTTL = testNodeTTL
	cfg.LeaseTTL = testLeaseTTL
	cfg.RedisTimeout = testTimeout
	cfg.KeyPrefix = prefix
	return cfg
}

// startNode starts a node and closes it at t's end.
func startNode(t *testing.T, redisURL, id string, load Load) *testNode {
	t.Helper()
	return startNodeConfig(t, testConfig(redisURL, id, "test:"), load)
}

// startNodeConfig is startNode with a configuration of its own.
func startNodeConfig(t *testing.T, cfg Config, load Load) *testNode {
	t.Helper()
	id := cfg.NodeID
	n := &testNode{}
	n.setLoad(load)
	c, err := New(cfg, Params{
		Log:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version: "v-test",
		Load:    func() Load { return *n.load.Load() },
		OnLost: func(room string) {
			n.mu.Lock()
			n.lost = append(n.lost, room)
			n.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	n.Cluster = c
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	var err2 error
	waitFor(t, 5*time.Second, "Start("+id+")", func() bool {
		err2 = c.Start(t.Context())
		return err2 == nil || !errors.Is(err2, ErrUnavailable) // a timeout on a loaded machine: again
	})
	if err2 != nil {
		t.Fatalf("Start(%s): %v", id, err2)
	}
	return n
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
