package cluster

import (
	"cmp"
	"context"
	"math/rand/v2"
)

// Place decides where room is served, for a client that asks this node for it:
//  1. a room that has an owner stays there: its lease (Mine if this node holds it);
//  2. else, if this node is serving and has capacity (Params.Load: participants < capacity), this node
//     claims it: a lease that is Mine (or, if another node claimed it a moment earlier, that node's);
//  3. else the better of two random other serving nodes that have capacity (the power of two choices:
//     lower participants/capacity, then lower CPU), returned unclaimed (Token 0, Mine false): send the
//     client there, and that node claims the room when the client arrives;
//  4. else ErrFull: no serving node can take a new room. A caller that prefers to overload itself rather
//     than refuse may then Claim the room.
//
// Place never returns a draining node, nor this node when it is full, for a new room. If Redis does not
// answer, a room this node holds is still Mine; anything else is an error wrapping ErrUnavailable.
// See the package documentation for the forwarding protocol and its race.
func (c *Cluster) Place(ctx context.Context, room string) (Lease, error) {
	if err := c.check(room); err != nil {
		return Lease{}, err
	}
	c.mu.Lock()
	_, mine := c.leases[room]
	draining := c.draining
	c.mu.Unlock()
	if mine || !draining && !c.p.Load().Full() {
		return c.Claim(ctx, room) // one round trip: the owner if there is one, else this node
	}
	l, ok, err := c.Owner(ctx, room)
	switch {
	case err != nil:
		return Lease{}, err
	case ok && l.Node == c.cfg.NodeID && !l.Mine:
		return c.Claim(ctx, room) // this node's from before a restart: Claim takes it back
	case ok && c.dead(ctx, l):
		return c.Claim(ctx, room) // its owner is gone: Claim takes it over, even on a full node
	case ok:
		return l, nil
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Lease{}, err
	}
	n, ok := choose(nodes, c.cfg.NodeID, rand.IntN)
	if !ok {
		return Lease{}, ErrFull
	}
	return Lease{Room: room, Node: n.ID, URL: n.URL}, nil
}

// choose picks the better of two random nodes among the serving ones with capacity, other than self
// (deterministic when there are two or fewer). intN(n) returns a random number in [0, n).
func choose(nodes []Node, self string, intN func(int) int) (Node, bool) {
	var fit []Node
	for _, n := range nodes {
		if n.ID != self && n.State == StateServing && !n.Load.Full() {
			fit = append(fit, n)
		}
	}
	switch len(fit) {
	case 0:
		return Node{}, false
	case 1:
		return fit[0], true
	case 2:
		return better(fit[0], fit[1]), true
	}
	i := intN(len(fit))
	j := intN(len(fit) - 1)
	if j >= i {
		j++
	}
	return better(fit[i], fit[j]), true
}

// better is the less loaded of a and b: the smaller share of its capacity in use, then the lower CPU,
// then the smaller ID (so the choice never depends on the order).
func better(a, b Node) Node {
	ra := float64(a.Load.Participants) / float64(a.Load.Capacity)
	rb := float64(b.Load.Participants) / float64(b.Load.Capacity)
	if c := cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a.Load.CPU, b.Load.CPU), cmp.Compare(a.ID, b.ID)); c <= 0 {
		return a
	}
	return b
}
