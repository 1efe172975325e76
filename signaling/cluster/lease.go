package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// fenceTTL is how long a room's fence counter outlives its last claim. The counter only has to beat the
// clock when claims come faster than one per millisecond (see acquireScript), so it need not live forever.
const fenceTTL = 24 * time.Hour

// Results of acquireScript.
const (
	acquireHeld    = 0 // the lease exists and is not the one this node sent: the value returned is the holder's
	acquireRenewed = 1 // the lease is the one this node sent: its TTL was reset
	acquireClaimed = 2 // the lease was free: this node holds it now, with the value returned
)

// acquireScript claims a room, or renews this node's lease of it, atomically.
//
//	KEYS[1] the lease, KEYS[2] the room's fence counter
//	ARGV[1] node ID, ARGV[2] node URL, ARGV[3] lease TTL (ms), ARGV[4] fence counter TTL (ms),
//	ARGV[5] a token the new one must exceed (the one this node held, or 0),
//	ARGV[6] the lease value this node holds ("" if none)
//
// The lease value is "TOKEN NODE URL". A free room gets token max(INCR(fence), now in ms + 1, ARGV[5] + 1),
// with now from Redis's clock: tokens grow with every claim of the room, and keep growing across a Redis
// that restarted empty (the clock has moved on, and the node re-asserting passes its old token).
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[6] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, cur}
  end
  return {0, cur}
end
local t = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local min = tonumber(ARGV[5])
if min > floor then floor = min end
if t <= floor then
  t = floor + 1
  redis.call('SET', KEYS[2], string.format('%d', t))
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local v = string.format('%d', t) .. ' ' .. ARGV[1] .. ' ' .. ARGV[2]
redis.call('SET', KEYS[1], v, 'NX', 'PX', ARGV[3])
return {2, v}
`)

// releaseScript deletes a lease only if it is still the given one (compare-and-delete).
//
//	KEYS[1] the lease; ARGV[1] the value this node holds
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// nodesScript returns every live node record and drops the IDs whose record expired from the set.
//
//	KEYS[1] the set of node IDs; ARGV[1] the prefix of the record keys
var nodesScript = redis.NewScript(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then
    out[#out + 1] = v
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
`)

// Claim claims room for this node unless another node holds it, atomically. It returns the lease: this
// node's (Mine; a room this node already holds is renewed), or the other node's (Mine false: send the
// client to its URL). Claim ignores capacity and draining: Place decides where a new room should go; Claim
// is for the node the client was sent to (or for a node that prefers to overload itself rather than
// refuse, after ErrFull).
//
// If Redis does not answer, a room this node holds is still answered as Mine (its lease is kept, see the
// package documentation); any other room gets an error wrapping ErrUnavailable.
func (c *Cluster) Claim(ctx context.Context, room string) (Lease, error) {
	if err := c.check(room); err != nil {
		return Lease{}, err
	}
	c.mu.Lock()
	h, ok := c.leases[room]
	c.mu.Unlock()
	l, err := c.acquire(ctx, room, h)
	if err != nil {
		if ok {
			return c.lease(room, h), nil
		}
		return Lease{}, err
	}
	if !l.Mine && l.Node != c.cfg.NodeID && c.dead(ctx, l) {
		// Its owner's node record expired (NodeTTL, shorter than LeaseTTL): the node is gone. Its lease is
		// deleted if it is still that one (compare-and-delete), and the room claimed again, so that a dead
		// node's rooms move within NodeTTL rather than LeaseTTL.
		cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
		err := releaseScript.Run(cctx, c.rdb, []string{c.leaseKey(room)}, leaseValue(l)).Err()
		cancel()
		if err != nil {
			return l, nil
		}
		c.deadTaken.Add(1)
		c.log.Info("room of a dead node taken over", "room", room, "dead", l.Node)
		return c.acquire(ctx, room, held{})
	}
	return l, nil
}

// dead reports whether the node holding l has no record any more (its heartbeats stopped NodeTTL ago).
// A Redis error counts as alive.
func (c *Cluster) dead(ctx context.Context, l Lease) bool {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	n, err := c.rdb.Exists(cctx, c.nodeKey(l.Node)).Result()
	return err == nil && n == 0
}

// leaseValue is the stored form of a lease: "TOKEN NODE URL" (parseLease reads it).
func leaseValue(l Lease) string { return strconv.FormatUint(l.Token, 10) + " " + l.Node + " " + l.URL }

// Release gives up this node's lease of room, if it holds it: the lease is deleted only if it is still
// this node's (compare-and-delete), so a lease another node took meanwhile stays. Call it when the room
// ends here. If Redis does not answer (an error wrapping ErrUnavailable) the lease is forgotten anyway and
// expires within LeaseTTL.
func (c *Cluster) Release(ctx context.Context, room string) error {
	c.mu.Lock()
	h, ok := c.leases[room]
	delete(c.leases, room)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	if err := releaseScript.Run(cctx, c.rdb, []string{c.leaseKey(room)}, h.value).Err(); err != nil {
		return c.unavailable(fmt.Sprintf("release room %q", room), err)
	}
	return nil
}

// Owner returns room's lease and true, or false if no node holds it. Mine is set only for a lease this
// node holds. If Redis does not answer, a room this node holds is answered from memory; others get an
// error wrapping ErrUnavailable.
func (c *Cluster) Owner(ctx context.Context, room string) (Lease, bool, error) {
	if err := c.check(room); err != nil {
		return Lease{}, false, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	v, err := c.rdb.Get(cctx, c.leaseKey(room)).Result()
	c.mu.Lock()
	h, mine := c.leases[room]
	c.mu.Unlock()
	switch {
	case errors.Is(err, redis.Nil):
		return Lease{}, false, nil
	case err != nil:
		if mine {
			return c.lease(room, h), true, nil
		}
		return Lease{}, false, c.unavailable(fmt.Sprintf("read the lease of room %q", room), err)
	}
	l, err := parseLease(room, v)
	if err != nil {
		return Lease{}, false, err
	}
	l.Mine = mine && h.value == v
	return l, true, nil
}

// Leases returns the leases this node holds, as far as it knows (in no order).
func (c *Cluster) Leases() []Lease {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Lease, 0, len(c.leases))
	for room, h := range c.leases {
		out = append(out, c.lease(room, h))
	}
	return out
}

// check refuses calls with an empty room, or before Start or after Close.
func (c *Cluster) check(room string) error {
	if room == "" {
		return errors.New("cluster: empty room name")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case !c.started:
		return errors.New("cluster: not started")
	}
	return nil
}

// lease is this node's lease of room.
func (c *Cluster) lease(room string, h held) Lease {
	return Lease{Room: room, Node: c.cfg.NodeID, URL: c.cfg.PublicURL, Token: h.token, Mine: true}
}

// acquireArgs are acquireScript's keys and arguments for room, sent knowing h (zero: none held).
func (c *Cluster) acquireArgs(room string, h held) ([]string, []any) {
	return []string{c.leaseKey(room), c.fenceKey(room)}, []any{
		c.cfg.NodeID, c.cfg.PublicURL, c.cfg.LeaseTTL.Milliseconds(), fenceTTL.Milliseconds(),
		strconv.FormatUint(h.token, 10), h.value,
	}
}

// acquire runs acquireScript for one room and applies its answer.
func (c *Cluster) acquire(ctx context.Context, room string, h held) (Lease, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	keys, args := c.acquireArgs(room, h)
	res, err := acquireScript.Run(cctx, c.rdb, keys, args...).Slice()
	if err != nil {
		return Lease{}, c.unavailable(fmt.Sprintf("claim room %q", room), err)
	}
	status, value, err := acquireResult(res)
	if err != nil {
		return Lease{}, err
	}
	l, lost, _, err := c.apply(room, h, status, value, false)
	if lost {
		c.p.OnLost(room)
	}
	return l, err
}

// apply records acquireScript's answer for room, which was sent holding h (zero: none). It returns the
// lease, whether this node just lost its lease (the caller calls OnLost), and, for a renewal that
// claimed a room released meanwhile, the value to release again.
//
// A renewal's answer applies only if the node still holds the lease it sent (h): a Release or a Claim
// that ran meanwhile knows better.
func (c *Cluster) apply(room string, h held, status int64, value string, renewal bool) (l Lease, lost bool, undo string, err error) {
	l, err = parseLease(room, value)
	if err != nil {
		return Lease{}, false, "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.leases[room]
	current := ok && cur == h || !ok && h.value == ""
	switch {
	case status == acquireRenewed:
		l.Mine = current || ok && cur.value == value
	case status == acquireClaimed && renewal && !current:
		return l, false, value, nil // released (or replaced) while the renewal was under way
	case status == acquireClaimed:
		if h.value != "" {
			c.reasserted.Add(1)
			c.log.Info("cluster: lease re-asserted", "room", room, "token", l.Token, "old_token", h.token)
		} else {
			c.claimsWon.Add(1)
		}
		c.leases[room] = held{value: value, token: l.Token}
		l.Mine = true
	case l.Node == c.cfg.NodeID && (current || !renewal):
		// Held under this node's ID but not the value sent: this node's own claim that won a race with
		// this one, an earlier re-assertion whose answer timed out, or a lease of this node's previous
		// run (restarted within LeaseTTL). Either way, ours.
		if h.value != "" && current {
			c.reasserted.Add(1)
			c.log.Info("cluster: lease re-asserted", "room", room, "token", l.Token, "old_token", h.token)
		}
		c.leases[room] = held{value: value, token: l.Token}
		l.Mine = true
	case ok && current && h.value != "":
		// Another node holds the room this node held: it expired unrenewed and was taken.
		delete(c.leases, room)
		c.lost.Add(1)
		c.log.Warn("cluster: lease lost to another node; ending the room here", "room", room,
			"token", h.token, "owner", l.Node, "owner_token", l.Token)
		lost = true
	case h.value == "":
		c.claimsLost.Add(1)
	}
	return l, lost, "", nil
}

// renewLoop renews every held lease every LeaseTTL/3.
func (c *Cluster) renewLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.renewAll(c.ctx)
		}
	}
}

// renewAll renews every held lease in one pipelined round trip. A lease found gone is claimed again in the
// same script (re-asserted); one found held by another node is lost (OnLost). If Redis does not answer,
// nothing changes: the leases are kept and tried again at the next tick.
func (c *Cluster) renewAll(ctx context.Context) {
	c.mu.Lock()
	rooms := make([]string, 0, len(c.leases))
	sent := make([]held, 0, len(c.leases))
	for room, h := range c.leases {
		rooms = append(rooms, room)
		sent = append(sent, h)
	}
	c.mu.Unlock()
	if len(rooms) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	cmds, err := c.renewPipeline(cctx, rooms, sent)
	if redis.HasErrorPrefix(err, "NOSCRIPT") { // a restarted Redis forgot the script
		if err = acquireScript.Load(cctx, c.rdb).Err(); err == nil {
			cmds, err = c.renewPipeline(cctx, rooms, sent)
		}
	}
	if err != nil && (len(cmds) != len(rooms) || allFailed(cmds)) {
		// Redis did not answer, or refused everything (LOADING, READONLY...): one failure, not one per
		// room. An error reply to some commands only is those rooms' business, below.
		if ctx.Err() != nil {
			return // Close
		}
		c.renewFailures.Add(1)
		c.redisErrors.Add(1)
		if c.renewHealthy.Swap(false) {
			c.log.Warn("cluster: cannot renew leases; keeping them until redis answers", "leases", len(rooms), "err", err)
		}
		return
	}
	if !c.renewHealthy.Swap(true) {
		c.log.Info("cluster: leases renewed again", "leases", len(rooms))
	}
	var lost, undo []string
	for i, cmd := range cmds {
		res, err := cmd.(*redis.Cmd).Slice()
		var status int64
		var value string
		if err == nil {
			status, value, err = acquireResult(res)
		}
		var isLost bool
		var u string
		if err == nil {
			_, isLost, u, err = c.apply(rooms[i], sent[i], status, value, true)
		}
		if err != nil {
			c.redisErrors.Add(1)
			c.log.Warn("cluster: renew lease", "room", rooms[i], "err", err)
			continue
		}
		if isLost {
			lost = append(lost, rooms[i])
		}
		if u != "" {
			undo = append(undo, rooms[i], u)
		}
	}
	for i := 0; i < len(undo); i += 2 {
		if err := releaseScript.Run(cctx, c.rdb, []string{c.leaseKey(undo[i])}, undo[i+1]).Err(); err != nil {
			c.redisErrors.Add(1)
		}
	}
	for _, room := range lost {
		c.p.OnLost(room)
	}
}

// allFailed reports whether every command failed.
func allFailed(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if c.Err() == nil {
			return false
		}
	}
	return true
}

// renewPipeline sends acquireScript (by hash) for every room in one round trip. The error is the first
// command's error, if any.
func (c *Cluster) renewPipeline(ctx context.Context, rooms []string, sent []held) ([]redis.Cmder, error) {
	return c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, room := range rooms {
			keys, args := c.acquireArgs(room, sent[i])
			acquireScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
}

// releaseAll releases leases in one round trip (compare-and-delete each).
func (c *Cluster) releaseAll(ctx context.Context, leases map[string]held) error {
	if len(leases) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	if err := releaseScript.Load(cctx, c.rdb).Err(); err != nil {
		return c.unavailable(fmt.Sprintf("release %d leases", len(leases)), err)
	}
	_, err := c.rdb.Pipelined(cctx, func(p redis.Pipeliner) error {
		for room, h := range leases {
			releaseScript.EvalSha(cctx, p, []string{c.leaseKey(room)}, h.value)
		}
		return nil
	})
	if err != nil {
		return c.unavailable(fmt.Sprintf("release %d leases", len(leases)), err)
	}
	return nil
}

// acquireResult decodes acquireScript's {status, value}.
func acquireResult(res []any) (int64, string, error) {
	if len(res) == 2 {
		status, ok1 := res[0].(int64)
		value, ok2 := res[1].(string)
		if ok1 && ok2 {
			return status, value, nil
		}
	}
	return 0, "", fmt.Errorf("cluster: unexpected answer of the claim script: %v", res)
}

// parseLease decodes a lease value, "TOKEN NODE URL".
func parseLease(room, v string) (Lease, error) {
	f := strings.SplitN(v, " ", 3)
	if len(f) == 3 {
		if t, err := strconv.ParseUint(f[0], 10, 64); err == nil && t != 0 && f[1] != "" {
			return Lease{Room: room, Node: f[1], URL: f[2], Token: t}, nil
		}
	}
	return Lease{}, fmt.Errorf("cluster: room %q: unreadable lease %q", room, v)
}
