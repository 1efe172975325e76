// Package cluster lets several MCU nodes share one Redis and serve each room on exactly one of them, the
// way LiveKit's redisrouter places rooms on nodes: a registry of live nodes and their load, room ownership
// leases with fencing tokens, and placement of new rooms. It knows cluster state only; it does not import
// package mcu (the caller ends a lost room, counts its load and forwards clients).
//
// # Keys
//
// Every key starts with Config.KeyPrefix (P, default "mcu:"):
//
//	P node:ID     the node's record, JSON {id, url, version, state, load: {cpu, participants, rooms,
//	              encoders, capacity}, updated}; expires NodeTTL after the last heartbeat
//	P nodes       a set of node IDs; Nodes drops the IDs whose record expired
//	P lease:ROOM  the room's lease, "TOKEN NODE URL"; expires LeaseTTL after the last renewal
//	P fence:ROOM  the room's last fence token (a counter); expires a day after the room's last claim
//	P members:ROOM the nodes serving the room's participants (cascading, members.go): a sorted set of
//	              node IDs scored by the expiry of their announcement (Announce), NodeTTL after it
//
// # Scripts
//
// Three Lua scripts, each atomic in Redis:
//   - acquire (Claim, Place and the renewals): if the lease exists and equals the value this node holds,
//     PEXPIRE it (renewed); if it exists otherwise, return it (held); if it is free, INCR the fence
//     counter, raise the token above Redis's clock in milliseconds and above the token this node held
//     (if any), and SET NX PX the lease "TOKEN NODE URL" (claimed). Tokens therefore grow with every
//     claim of a room, even across a Redis that restarted empty (unless its clock stepped back meanwhile).
//   - release (Release, Close): DEL the lease only if it still equals the value this node holds.
//   - nodes (Nodes): GET the record of every ID in the set, SREM the IDs whose record expired.
//
// # Placement protocol
//
// A client may reach any node (DNS, a load balancer). That node calls Place: a room with an owner goes to
// the owner; a new room stays here if this node serves and has capacity (claimed at once); otherwise
// Place picks the better of two random other serving nodes with capacity (power of two choices on the
// heartbeat loads) and returns it unclaimed: the caller sends the client to its URL, and that node calls
// Place in turn, which claims the room locally since it has capacity. The race: two clients of one new
// room entering at two full nodes may be sent to two different targets; the first target to claim wins,
// and the other finds the lease in Place and sends its client on once more, to the owner. A target that
// filled up meanwhile would send the client on as well: callers should count hops and, past one or two,
// Claim instead of Place (Claim ignores capacity). Loads are as old as one heartbeat.
//
// # Failures
//
// Every Redis call is bounded by Config.RedisTimeout. When Redis does not answer:
//   - the leases this node holds are kept, unrenewed: its rooms keep running, and Claim, Place and Owner
//     answer Mine for them from memory; any other room gets an error wrapping ErrUnavailable;
//   - Health turns false at the first failed heartbeat and the failure is logged once (Warn);
//   - OnLost is called only when Redis answers that a lease this node held belongs to another node.
//
// When Redis answers again, the renewals put each lease back: one still there is renewed; one gone
// (expired meanwhile, or a Redis that restarted empty) is claimed again with a new, larger token
// (re-asserted), since no other node can have served a room it did not hold; one that another node
// claimed meanwhile is lost, and OnLost ends the room here. The node record is back at the next heartbeat.
//
// Keeping leases while Redis is away is a choice for availability: a node cut off from Redis, but not from
// its participants, keeps its rooms rather than ending every call. The price is a window: if the node is
// cut off from Redis longer than LeaseTTL while other nodes still reach it, another node may claim one of
// its rooms for a new client, and both serve that room until the first node reaches Redis again and OnLost
// ends its copy. Anything that must never see two writers (a recording, a webhook receiver) can compare
// fence tokens: the newer owner's is larger.
package cluster
