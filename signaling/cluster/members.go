package cluster

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Members of a room are the nodes that serve some of its participants: its owner, and the nodes that
// cascade it (a node that took participants of a room whose owner was full, or that an operator pinned
// the room to). Each announces itself (Announce) and renews that like a heartbeat; the nodes of a room
// find one another with Members and link pairwise. The set is "P members:ROOM", a sorted set of node IDs
// scored by when their announcement expires, in Redis's clock (milliseconds).

// announceScript adds or renews a member.
//
//	KEYS[1] the room's member set; ARGV[1] node ID, ARGV[2] TTL (ms)
var announceScript = redis.NewScript(`
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
`)

// membersScript drops the expired members and returns the others.
//
//	KEYS[1] the room's member set
var membersScript = redis.NewScript(`
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)

// Announce says that this node serves participants of room, for NodeTTL: call it again within that
// time (every HeartbeatInterval, say) for as long as it does. It fails with an error wrapping
// ErrUnavailable when Redis does not answer.
func (c *Cluster) Announce(ctx context.Context, room string) error {
	if err := c.check(room); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	ttl := strconv.FormatInt(c.cfg.NodeTTL.Milliseconds(), 10)
	if err := announceScript.Run(cctx, c.rdb, []string{c.membersKey(room)}, c.cfg.NodeID, ttl).Err(); err != nil {
		return c.unavailable(fmt.Sprintf("announce room %q", room), err)
	}
	return nil
}

// Withdraw says that this node no longer serves participants of room.
func (c *Cluster) Withdraw(ctx context.Context, room string) error {
	if err := c.check(room); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	if err := c.rdb.ZRem(cctx, c.membersKey(room), c.cfg.NodeID).Err(); err != nil {
		return c.unavailable(fmt.Sprintf("withdraw from room %q", room), err)
	}
	return nil
}

// Members returns the live nodes that serve participants of room, this one included if it announced
// itself, sorted by ID: those whose announcement has not expired and whose node record is alive (a
// node that died leaves within NodeTTL, even before its announcement expires).
func (c *Cluster) Members(ctx context.Context, room string) ([]Node, error) {
	if err := c.check(room); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	ids, err := membersScript.Run(cctx, c.rdb, []string{c.membersKey(room)}).StringSlice()
	if err != nil {
		return nil, c.unavailable(fmt.Sprintf("read the members of room %q", room), err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := nodes[:0]
	for _, n := range nodes {
		if want[n.ID] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (c *Cluster) membersKey(room string) string { return c.cfg.KeyPrefix + "members:" + room }
