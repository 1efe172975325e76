package main

// Several servers, one service: with -redis, nodes share a registry and lease rooms through Redis
// (signaling/cluster). A client that reaches a node that does not serve its room is sent to the one that
// does: a WebSocket join is answered "moved", WHIP/WHEP 307, a SIP INVITE 302.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/cluster"
)

// errTakenOver ends a room whose lease another node holds now (after a partition).
var errTakenOver = errors.New("mcu: the room moved to another server")

// clusterSettings are the knobs of several servers sharing rooms.
func (c *Config) clusterSettings() []setting {
	out := secretSettings("redis", "Redis URL of a cluster (redis://[:PASSWORD@]HOST:PORT/DB, rediss:// for TLS, unix:///PATH); empty = this server alone", &c.Redis)
	return append(out,
		strSetting("node-id", "this node's name in the cluster (default HOSTNAME-HTTPPORT)", &c.NodeID),
		intSetting("node-capacity", "participants this node takes before new rooms go to other nodes (default -max-total-participants)", &c.NodeCapacity),
		durationSetting("drain-timeout", "with -redis, how long SIGTERM waits for this node's rooms to empty (no new rooms meanwhile)", &c.DrainTimeout),
		listSetting("cascade-rooms", "with -redis, rooms whose participants joining here stay here, linked to the node that owns the room (all, or names, comma separated); a room whose owner is full is cascaded anyway", &c.CascadeRooms),
		intSetting("max-cascade-links", "with -redis, the links to other nodes for cascaded rooms this node runs at once (default 32)", &c.MaxCascadeLinks))
}

// nodeID is NodeID or its default: the host name and the HTTP port.
func (c Config) nodeID() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, host)
	if host == "" {
		host = "node"
	}
	addr := c.HTTP
	if c.tlsOn() {
		addr = c.HTTPS
	}
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "" {
		host += "-" + p
	}
	return host
}

// clusterNode is this server as a node of a cluster: its registration and leases, and the routing of
// clients to the node that serves their room.
type clusterNode struct {
	cl   *cluster.Cluster
	m    *mcu.MCU
	cfg  Config
	log  *slog.Logger
	self string    // this node's public URL
	casc *cascader // its rooms' links to other nodes

	mu        sync.Mutex
	origins   map[string]bool // hosts of the nodes' public URLs (refreshOrigins)
	sources   []string        // their origins, HTTP and WebSocket, for the pages' connect-src
	refreshed time.Time       // when refreshOrigins last read the registry
}

// newClusterNode joins the cluster of cfg.Redis, or returns nil without one.
func newClusterNode(ctx context.Context, cfg Config, m *mcu.MCU, keys auth.Keys, log *slog.Logger) (*clusterNode, error) {
	if cfg.Redis == "" {
		return nil, nil
	}
	cluster.SetRedisLogger(log.With("component", "redis"))
	cc := cluster.DefaultConfig()
	cc.RedisURL, cc.NodeID, cc.PublicURL = cfg.Redis, cfg.nodeID(), cfg.publicURL()
	if cfg.SIP.Port != 0 {
		if u, err := url.Parse(cc.PublicURL); err == nil {
			host := u.Hostname()
			if cfg.SIP.PublicHost != "" {
				host = cfg.SIP.PublicHost
			}
			cc.SIP = net.JoinHostPort(host, strconv.Itoa(cfg.SIP.Port))
		}
	}
	n := &clusterNode{m: m, cfg: cfg, log: log.With("component", "cluster"), self: cc.PublicURL}
	capacity := cfg.NodeCapacity
	if capacity <= 0 {
		capacity = cfg.MCU.MaxTotalParticipants
	}
	cl, err := cluster.New(cc, cluster.Params{Log: n.log, Version: "openmcu", OnLost: n.lost,
		Load: func() cluster.Load {
			st := m.Stats()
			return cluster.Load{CPU: cpuLoad(), Participants: st.Participants, Rooms: st.Rooms,
				Encoders: st.VideoEncoders + st.AudioEncoders, Capacity: capacity}
		}})
	if err != nil {
		return nil, err
	}
	if err := cl.Start(ctx); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.cl = cl
	n.casc = newCascader(n, cfg, keys, cl.ID())
	n.log.Info("cluster joined", "url", cc.PublicURL, "sip", cc.SIP, "cascading", n.casc.on())
	return n, nil
}

// cpuLoad is the one-minute load average per core (0..1 and more), 0 where /proc has none.
func cpuLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l / float64(runtime.NumCPU())
}

// lost ends a room another node took over (cluster.Params.OnLost).
func (n *clusterNode) lost(room string) {
	n.log.Warn("room lease lost: ending it here", "room", room)
	go func() {
		if err := n.m.CloseRoom(room, errTakenOver); err != nil && !errors.Is(err, mcu.ErrNotFound) {
			n.log.Warn("close lost room", "room", room, "err", err)
		}
	}()
}

// route says which node serves room: "" this one (its lease is claimed, or the room is cascaded here),
// or another's public URL. A room open here stays here; a new one is placed (cluster.Place); when every
// node is full, this one takes it. A room another node owns stays here, cascaded, when -cascade-rooms
// pins it here or its owner is full (cascader.serveHere).
func (n *clusterNode) route(ctx context.Context, room string) (string, error) {
	if n == nil || !mcu.ValidName(room) || n.m.HasRoom(room) {
		return "", nil // a bad name is refused here, by the join, and never reaches Redis
	}
	lease, err := n.cl.Place(ctx, room)
	if errors.Is(err, cluster.ErrFull) {
		lease, err = n.cl.Claim(ctx, room) // every node is full: overflow here rather than refuse
	}
	if err != nil {
		return "", err
	}
	if lease.Mine || lease.URL == n.self {
		if !lease.Claimed() {
			if lease, err = n.cl.Claim(ctx, room); err != nil {
				return "", err
			}
			if !lease.Mine {
				return lease.URL, nil
			}
		}
		return "", nil
	}
	if n.casc.serveHere(ctx, room, lease) {
		return "", nil
	}
	return lease.URL, nil
}

// owner is the public URL of the node that owns room when it is another one ("" for this one or
// nobody): the API sends requests about the room there.
func (n *clusterNode) owner(ctx context.Context, room string) (string, error) {
	if !mcu.ValidName(room) {
		return "", nil
	}
	l, ok, err := n.cl.Owner(ctx, room)
	if err != nil || !ok || l.Mine || l.URL == n.self {
		return "", err
	}
	return l.URL, nil
}

// sipRoute is route for SIP: "" here, or the host:port of the SIP server of the node that serves room.
func (n *clusterNode) sipRoute(ctx context.Context, room string) (string, error) {
	to, err := n.route(ctx, room)
	if err != nil || to == "" {
		return "", err
	}
	nodes, err := n.cl.Nodes(ctx)
	if err != nil {
		return "", err
	}
	for _, nd := range nodes {
		if nd.URL == to && nd.SIP != "" {
			return nd.SIP, nil
		}
	}
	return "", fmt.Errorf("the node serving %q (%s) has no SIP server", room, to)
}

// allowOrigin accepts the pages of the cluster's other nodes (a page moved to this node's WebSocket). An
// origin not known yet makes it read the registry again (at most once a second): a node that just
// started is not refused until the next refresh.
func (n *clusterNode) allowOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	n.mu.Lock()
	known, stale := n.origins[host], time.Since(n.refreshed) > time.Second
	n.mu.Unlock()
	if known || !stale {
		return known
	}
	n.refreshOrigins()
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.origins[host]
}

// connectSources are the other nodes' origins, HTTP and WebSocket, which the pages may connect to
// (web.Options.ConnectSources): a page's socket moved to the owner of its room, a viewer's WHEP. They are
// read again when older than a second, so that a page served just after a node started can reach it.
func (n *clusterNode) connectSources() []string {
	n.mu.Lock()
	stale := time.Since(n.refreshed) > time.Second
	n.mu.Unlock()
	if stale {
		n.refreshOrigins()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sources
}

// refreshOrigins reads the nodes' hosts from the registry.
func (n *clusterNode) refreshOrigins() {
	n.mu.Lock()
	n.refreshed = time.Now()
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nodes, err := n.cl.Nodes(ctx)
	if err != nil {
		return
	}
	hosts := make(map[string]bool, len(nodes))
	var sources []string
	for _, nd := range nodes {
		u, err := url.Parse(nd.URL)
		if err != nil || u.Host == "" {
			continue
		}
		hosts[strings.ToLower(u.Host)] = true
		if nd.URL != n.self {
			ws := map[string]string{"https": "wss", "http": "ws"}[u.Scheme]
			sources = append(sources, u.Scheme+"://"+u.Host, ws+"://"+u.Host)
		}
	}
	n.mu.Lock()
	n.origins, n.sources = hosts, sources
	n.mu.Unlock()
}

// maintain refreshes the known node hosts every few seconds until ctx ends, and releases the leases of
// rooms that never opened here (a join refused after its room was placed) or closed without their
// release reaching Redis: a lease found without its room twice in a row.
func (n *clusterNode) maintain(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	empty := map[string]bool{}
	for {
		n.refreshOrigins()
		seen := map[string]bool{}
		for _, l := range n.cl.Leases() {
			if n.m.HasRoom(l.Room) {
				continue
			}
			if empty[l.Room] {
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if err := n.cl.Release(rctx, l.Room); err != nil {
					n.log.Debug("release unused lease", "room", l.Room, "err", err)
				}
				cancel()
				continue
			}
			seen[l.Room] = true
		}
		empty = seen
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// OnRoomFinished releases the lease of a room that closed here and ends its links to other nodes.
func (n *clusterNode) OnRoomFinished(room string) {
	n.casc.roomFinished(room)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := n.cl.Release(ctx, room); err != nil {
			n.log.Debug("release room", "room", room, "err", err)
		}
	}()
}

// OnRoomStarted starts linking the room to the other nodes that serve it (cascading).
func (n *clusterNode) OnRoomStarted(room string) { n.casc.roomStarted(room) }

func (n *clusterNode) OnParticipantJoined(string, mcu.ParticipantDetail)      {}
func (n *clusterNode) OnParticipantLeft(string, mcu.ParticipantDetail, error) {}

// Nodes lists the cluster for the API.
func (n *clusterNode) Nodes(ctx context.Context) ([]api.Node, error) {
	nodes, err := n.cl.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Node, 0, len(nodes))
	for _, nd := range nodes {
		out = append(out, api.Node{ID: nd.ID, URL: nd.URL, State: string(nd.State), Version: nd.Version,
			Participants: nd.Load.Participants, Rooms: nd.Load.Rooms, Capacity: nd.Load.Capacity, CPU: nd.Load.CPU,
			Updated: nd.Updated, Self: nd.URL == n.self})
	}
	return out, nil
}

// drain stops taking new rooms and waits until this node's rooms are empty or timeout passes.
func (n *clusterNode) drain(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := n.cl.SetDraining(ctx, true)
	cancel()
	if err != nil {
		n.log.Warn("drain: could not tell the cluster", "err", err)
	}
	deadline := time.Now().Add(timeout)
	n.log.Info("draining: no new rooms; waiting for this node's rooms to empty", "rooms", n.m.Stats().Rooms, "timeout", timeout)
	for n.m.Stats().Rooms > 0 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	if r := n.m.Stats().Rooms; r > 0 {
		n.log.Warn("drain deadline passed: ending the rooms left", "rooms", r)
	}
}

// stats are this node's cluster numbers for the metrics (false without a cluster).
func (n *clusterNode) stats() (clusterStats, bool) {
	if n == nil {
		return clusterStats{}, false
	}
	st := n.cl.Stats()
	out := clusterStats{Node: n.cl.ID(), Healthy: st.Healthy, Leases: st.Leases, ClaimsWon: st.ClaimsWon,
		ClaimsLost: st.ClaimsLost, Lost: st.Lost, DeadTaken: st.DeadTaken, RenewFailures: st.RenewFailures,
		Cascade: n.casc.stats()}
	for _, l := range n.cl.Leases() {
		out.Rooms = append(out.Rooms, l.Room)
	}
	return out, true
}

// Close leaves the cluster: leases released, the node's record removed.
func (n *clusterNode) Close() error {
	if n == nil {
		return nil
	}
	n.casc.close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return n.cl.Close(ctx)
}
