package main

// One room across nodes (cascading): a node that serves participants of a room another node owns (the
// owner was full, or -cascade-rooms pins the room here) announces itself as a member of the room
// (cluster.Announce); every member links to every other, one WebRTC connection per pair of nodes
// (signaling/cascade), the node with the smaller ID dialing. Over a link each side forwards its local
// participants' original media; each composes and mixes for its own participants. The offer goes as
// an HTTP POST to the other node's /cascade/ROOM, authenticated like the operators' API: the shared
// -admin-token, or a token signed with an -api-keys key that grants roomAdmin over every room. Without
// either, cascading is off and every participant of a room goes to its owner.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/cascade"
	"github.com/openmcu/mcu/signaling/cluster"
)

// Cascading's limits and pace.
const (
	// defaultMaxLinks bounds the links a node runs at once (-max-cascade-links).
	defaultMaxLinks = 32
	// cascadeTick is how often a room's members are announced and looked up, and dead links redialed.
	cascadeTick = 2 * time.Second
	// exchangeTimeout bounds a link's offer/answer exchange, candidate gathering included.
	exchangeTimeout = 10 * time.Second
	// maxSDP bounds an offer or answer read from the other node.
	maxSDP = 64 << 10
	// nodeHeader names the dialing node in its offer.
	nodeHeader = "MCU-Node"
	// nodeTokenTTL is the validity of the token a node signs for its offer.
	nodeTokenTTL = time.Minute
)

// errCascadeOff refuses a link on a node that cannot authenticate the others.
var errCascadeOff = errors.New("cascading is off: set -admin-token or -api-keys on every node")

// cascader runs this node's links to the other nodes of its cascaded rooms.
type cascader struct {
	n      *clusterNode
	self   string // this node's ID
	cfg    cascade.Config
	pinned []string // -cascade-rooms: "all" or names
	max    int
	bearer func() (string, error) // the credential this node presents; nil: cascading off
	client *http.Client
	log    *slog.Logger

	mu    sync.Mutex
	rooms map[string]context.CancelFunc // the rooms open here, their member loops
	links map[linkKey]*cascade.Link
	done  cascade.Stats // the counters of the links that ended

	dialed, accepted, refused, failed atomic.Uint64
	wg                                sync.WaitGroup
}

// linkKey names a link: a room and the other node.
type linkKey struct{ room, peer string }

// newCascader builds the cascading of node n, called id in the cluster.
func newCascader(n *clusterNode, cfg Config, keys auth.Keys, id string) *cascader {
	c := &cascader{n: n, self: id, pinned: cfg.CascadeRooms, max: cfg.MaxCascadeLinks, log: n.log.With("component", "cascade"),
		client: &http.Client{Timeout: exchangeTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		rooms: map[string]context.CancelFunc{}, links: map[linkKey]*cascade.Link{}}
	if c.max <= 0 {
		c.max = defaultMaxLinks
	}
	m := cfg.MCU
	c.cfg = cascade.Config{Interfaces: m.Interfaces, IncludeLoopback: m.IncludeLoopback, PortMin: m.UDPPortMin,
		PortMax: m.UDPPortMax, NAT1To1IPs: m.NAT1To1IPs, Logger: n.log}
	for _, s := range m.ICEServers {
		c.cfg.ICEServers = append(c.cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	switch names := keys.Names(); {
	case cfg.AdminToken != "":
		token := cfg.AdminToken
		c.bearer = func() (string, error) { return token, nil }
	case len(names) > 0:
		c.bearer = func() (string, error) {
			return keys.Sign(names[0], auth.Claims{Name: "node " + id, Video: &auth.VideoGrant{RoomAdmin: true}}, time.Now(), nodeTokenTTL)
		}
	default:
		n.log.Warn("cascading is off (no -admin-token or -api-keys): a room's participants all go to its owner")
	}
	return c
}

// on reports whether this node can link rooms to other nodes.
func (c *cascader) on() bool { return c != nil && c.bearer != nil }

// serveHere reports whether a join of room, which the node of lease owns, stays on this node, cascaded:
// the room is pinned here or its owner is full, and this node serves and has room.
func (c *cascader) serveHere(ctx context.Context, room string, lease cluster.Lease) bool {
	if !c.on() {
		return false
	}
	nodes, err := c.n.cl.Nodes(ctx)
	if err != nil {
		return false
	}
	var self, owner *cluster.Node
	for i := range nodes {
		switch nodes[i].ID {
		case c.self:
			self = &nodes[i]
		case lease.Node:
			owner = &nodes[i]
		}
	}
	if self == nil || self.State != cluster.StateServing || c.n.m.Stats().Participants >= self.Load.Capacity {
		return false
	}
	if slices.Contains(c.pinned, "all") || slices.Contains(c.pinned, room) {
		return true
	}
	return owner != nil && owner.Load.Full()
}

// roomStarted starts announcing room and linking it to its other members.
func (c *cascader) roomStarted(room string) {
	if !c.on() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	if _, ok := c.rooms[room]; ok {
		c.mu.Unlock()
		cancel()
		return
	}
	c.rooms[room] = cancel
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.members(ctx, room)
	}()
}

// roomFinished stops linking room: it withdraws, and its links end.
func (c *cascader) roomFinished(room string) {
	if !c.on() {
		return
	}
	c.mu.Lock()
	cancel := c.rooms[room]
	delete(c.rooms, room)
	var ls []*cascade.Link
	for k, l := range c.links {
		if k.room == room {
			ls = append(ls, l)
		}
	}
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	for _, l := range ls {
		_ = l.Close()
	}
}

// members is a room's loop: every cascadeTick it announces the room, claims it if nobody owns it (its
// owner died), and dials the members with a larger ID that it has no link to.
func (c *cascader) members(ctx context.Context, room string) {
	defer func() {
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.n.cl.Withdraw(wctx, room); err != nil {
			c.log.Debug("withdraw", "room", room, "err", err)
		}
	}()
	t := time.NewTicker(cascadeTick)
	defer t.Stop()
	self := c.self
	for {
		if err := c.n.cl.Announce(ctx, room); err != nil {
			c.log.Debug("announce", "room", room, "err", err)
		}
		if _, ok, err := c.n.cl.Owner(ctx, room); err == nil && !ok {
			if l, err := c.n.cl.Claim(ctx, room); err == nil && l.Mine {
				c.log.Info("room had no owner: claimed it", "room", room)
			}
		}
		if ms, err := c.n.cl.Members(ctx, room); err == nil {
			for _, peer := range ms {
				if peer.ID <= self || c.linked(room, peer.ID) {
					continue
				}
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					if err := c.dial(ctx, room, peer); err != nil && ctx.Err() == nil {
						c.failed.Add(1)
						c.log.Warn("cascade link refused", "room", room, "peer", peer.ID, "err", err)
					}
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// linked reports whether a link of room to peer runs.
func (c *cascader) linked(room, peer string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.links[linkKey{room, peer}]
	return ok
}

// dial links room to peer and runs the link until it ends.
func (c *cascader) dial(ctx context.Context, room string, peer cluster.Node) error {
	k := linkKey{room, peer.ID}
	c.mu.Lock()
	if _, ok := c.links[k]; ok || len(c.links) >= c.max {
		c.mu.Unlock()
		return nil
	}
	c.links[k] = nil // reserved while dialing
	c.mu.Unlock()
	target, err := url.JoinPath(peer.URL, "cascade", room)
	if err != nil {
		c.drop(k, nil)
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	l, err := cascade.Dial(dctx, c.n.m, room, c.cfg, cascade.SignalerFunc(func(ctx context.Context, offer string) (string, error) {
		return c.exchange(ctx, target, offer)
	}))
	cancel()
	if err != nil {
		c.drop(k, nil)
		return err
	}
	c.dialed.Add(1)
	c.run(ctx, k, l)
	return nil
}

// exchange posts the offer to the other node and returns its answer.
func (c *cascader) exchange(ctx context.Context, target, offer string) (string, error) {
	token, err := c.bearer()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader([]byte(offer)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(nodeHeader, c.self)
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSDP+1))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("%s answered %s: %s", target, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	if len(body) > maxSDP {
		return "", fmt.Errorf("%s answered more than %d bytes", target, maxSDP)
	}
	return string(body), nil
}

// run runs a link under k until it ends, then forgets it and keeps its counters.
func (c *cascader) run(ctx context.Context, k linkKey, l *cascade.Link) {
	c.mu.Lock()
	c.links[k] = l
	c.mu.Unlock()
	c.log.Info("cascade link open", "room", k.room, "peer", k.peer)
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		return l.Run(ctx)
	}()
	_ = l.Close()
	c.drop(k, l)
	c.log.Info("cascade link ended", "room", k.room, "peer", k.peer, "err", err)
}

// drop forgets the link of k if it is still l (nil: a reservation), and adds its counters to done.
func (c *cascader) drop(k linkKey, l *cascade.Link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.links[k]; ok && cur == l {
		delete(c.links, k)
	}
	if l != nil {
		c.done.Add(l.Stats())
	}
}

// ServeHTTP accepts another node's link: POST /cascade/ROOM with the offer, answered 201 with the
// answer. The room must be open here; a link the same node had for the room is replaced (it redialed).
func (c *cascader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.on() {
		c.refused.Add(1)
		http.Error(w, errCascadeOff.Error(), http.StatusNotFound)
		return
	}
	room, peer := r.PathValue("room"), r.Header.Get(nodeHeader)
	if !mcu.ValidName(room) || !validNodeID(peer) || peer == c.self {
		c.refused.Add(1)
		http.Error(w, "bad room or node", http.StatusBadRequest)
		return
	}
	if !c.n.m.HasRoom(room) {
		c.refused.Add(1)
		http.Error(w, "the room is not open on this node", http.StatusNotFound)
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, maxSDP+1))
	if err != nil || len(offer) > maxSDP {
		c.refused.Add(1)
		http.Error(w, "offer too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	k := linkKey{room, peer}
	c.mu.Lock()
	old, had := c.links[k]
	if !had && len(c.links) >= c.max {
		c.mu.Unlock()
		c.refused.Add(1)
		http.Error(w, "too many cascade links", http.StatusServiceUnavailable)
		return
	}
	c.links[k] = nil // reserved while answering
	c.mu.Unlock()
	if old != nil {
		_ = old.Close() // its Run's drop leaves the reservation alone
	}
	ctx, cancel := context.WithTimeout(r.Context(), exchangeTimeout)
	l, answer, err := cascade.Accept(ctx, c.n.m, room, c.cfg, string(offer))
	cancel()
	if err != nil {
		c.drop(k, nil)
		c.refused.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.accepted.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(context.Background(), k, l)
	}()
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// validNodeID accepts the node IDs nodeID produces or an operator would choose.
func validNodeID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// cascadeStats are the numbers of a node's links, for the metrics.
type cascadeStats struct {
	Links []linkStat
	// Totals over every link, ended or running.
	Totals                            cascade.Stats
	Dialed, Accepted, Refused, Failed uint64
}

// linkStat is one running link.
type linkStat struct {
	Room, Peer string
	RTT        time.Duration
}

// stats returns the links' numbers now.
func (c *cascader) stats() cascadeStats {
	if !c.on() {
		return cascadeStats{}
	}
	c.mu.Lock()
	out := cascadeStats{Totals: c.done}
	for k, l := range c.links {
		if l == nil {
			continue
		}
		s := l.Stats()
		out.Links = append(out.Links, linkStat{Room: k.room, Peer: k.peer, RTT: s.RTT})
		out.Totals.Add(s)
	}
	c.mu.Unlock()
	out.Dialed, out.Accepted, out.Refused, out.Failed = c.dialed.Load(), c.accepted.Load(), c.refused.Load(), c.failed.Load()
	return out
}

// close ends every room loop and link and waits for them.
func (c *cascader) close() {
	if !c.on() {
		return
	}
	c.mu.Lock()
	for room, cancel := range c.rooms {
		cancel()
		delete(c.rooms, room)
	}
	ls := make([]*cascade.Link, 0, len(c.links))
	for _, l := range c.links {
		if l != nil {
			ls = append(ls, l)
		}
	}
	c.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	c.wg.Wait()
}
