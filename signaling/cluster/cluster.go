package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// ErrUnavailable is wrapped by every error that comes from Redis not answering (down, unreachable, too
// slow) or answering with an error. Test it with errors.Is.
var ErrUnavailable = errors.New("redis unavailable")

// ErrFull is returned by Place when no serving node, this one included, has capacity for a new room.
var ErrFull = errors.New("cluster: no serving node has capacity for a new room")

// ErrClosed is returned by calls on a Cluster that was closed.
var ErrClosed = errors.New("cluster: closed")

// State is a node's readiness for new rooms.
type State string

// The states a node publishes.
const (
	// StateServing nodes take new rooms.
	StateServing State = "serving"
	// StateDraining nodes keep the rooms they have but are never given new ones (Place skips them).
	StateDraining State = "draining"
)

// Load is what a node reports about itself at every heartbeat. Plain data.
type Load struct {
	// CPU is the machine's CPU use, 0 to 1.
	CPU float64 `json:"cpu"`
	// Participants, Rooms and Encoders are what the node serves now.
	Participants int `json:"participants"`
	Rooms        int `json:"rooms"`
	Encoders     int `json:"encoders"`
	// Capacity is how many participants the node accepts; 0 or less: none (full).
	Capacity int `json:"capacity"`
}

// Full reports whether the node can take no more participants.
func (l Load) Full() bool { return l.Participants >= l.Capacity }

// Node is one live node's record. Plain data.
type Node struct {
	ID      string `json:"id"`
	URL     string `json:"url"`
	SIP     string `json:"sip,omitempty"` // Config.SIP
	Version string `json:"version"`
	State   State  `json:"state"`
	Load    Load   `json:"load"`
	// Updated is when the node last published the record, by its own clock.
	Updated time.Time `json:"updated"`
}

// Lease says who serves a room. Plain data.
type Lease struct {
	Room string `json:"room"`
	// Node and URL are the owner's ID and Config.PublicURL.
	Node string `json:"node"`
	URL  string `json:"url"`
	// Token is the fence token of the lease: every claim of a room gets a larger one than every earlier
	// claim of that room (see the package documentation). 0 only in Place's answer for a node chosen to
	// take the room, which has not claimed it yet.
	Token uint64 `json:"token"`
	// Mine reports that this node holds the lease: serve the room here. When false, send the client to URL.
	Mine bool `json:"mine"`
}

// Claimed reports whether l is a held lease (false for Place's unclaimed choice of a node).
func (l Lease) Claimed() bool { return l.Token != 0 }

// Params are what the node gives the cluster besides Config.
type Params struct {
	// Log receives lifecycle messages and Redis health changes; nil: discard.
	Log *slog.Logger
	// Version is the server's version, published in the node record.
	Version string
	// Load returns this node's load now. Required. Called at every heartbeat and by Place, from several
	// goroutines: it must be goroutine-safe and quick.
	Load func() Load
	// OnLost is called, once per lease, when Redis answers that a lease this node held now belongs to
	// another node: the caller must end its local copy of the room at once, since the other node serves
	// it. Required. It is called from the renew goroutine, or from the Claim or Place call that found out,
	// without locks held; it must not block (hand the room's end to the room's own goroutine) and may call
	// the Cluster.
	OnLost func(room string)
}

// Stats count what the node did since New. Plain data, ready for metrics.
type Stats struct {
	// Leases is how many room leases the node holds now.
	Leases int `json:"leases"`
	// ClaimsWon counts rooms this node claimed; ClaimsLost, claims that found the room held by another node.
	ClaimsWon  uint64 `json:"claims_won"`
	ClaimsLost uint64 `json:"claims_lost"`
	// Reasserted counts held leases found gone (expired while Redis was unreachable, or an emptied Redis)
	// and claimed again with a new token.
	Reasserted uint64 `json:"reasserted"`
	// Lost counts leases taken by another node (each one an OnLost call).
	Lost uint64 `json:"lost"`
	// RenewFailures counts renewal rounds that failed because Redis did not answer.
	RenewFailures uint64 `json:"renew_failures"`
	// RedisErrors counts failed Redis calls of any kind.
	RedisErrors uint64 `json:"redis_errors"`
	// DeadTaken counts rooms taken over from a node whose record had expired (Claim).
	DeadTaken uint64 `json:"dead_taken"`
	// Healthy is Health().
	Healthy bool `json:"healthy"`
}

// held is a lease this node holds: the value stored in Redis, and its token.
type held struct {
	value string
	token uint64
}

// Cluster is this node's membership of the cluster: its record in the registry, the room leases it holds,
// and room placement. Create it with New, call Start, and Close it at the end. Safe for concurrent use.
//
// Goroutines: two after Start, both ended by Close: the heartbeat loop (publishes the record every
// Config.HeartbeatInterval, and at once on SetDraining) and the renew loop (renews every held lease every
// Config.LeaseTTL/3 in one pipelined round trip).
type Cluster struct {
	cfg Config
	p   Params
	log *slog.Logger
	rdb *redis.Client

	ctx    context.Context // cancelled by Close: ends the loops and their calls
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan chan error // SetDraining → heartbeat loop: publish now, reply

	mu       sync.Mutex
	leases   map[string]held // by room
	draining bool
	starting bool // Start was called
	started  bool // Start succeeded: the loops run
	closed   bool

	healthy      atomic.Bool
	registered   atomic.Bool // Start succeeded (for logging health changes)
	renewHealthy atomic.Bool // the last renewal round reached Redis (only for logging its changes)

	claimsWon, claimsLost, reasserted, lost, renewFailures, redisErrors atomic.Uint64
	deadTaken                                                           atomic.Uint64
}

// New checks cfg and p and sets up the Redis client; it connects nothing and starts no goroutine.
func New(cfg Config, p Params) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Load == nil || p.OnLost == nil {
		return nil, errors.New("cluster: params need Load and OnLost")
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil { // Validate parsed it already
		return nil, fmt.Errorf("cluster: redis url %s: %w", redactURL(cfg.RedisURL), err)
	}
	// Fail fast: one timeout bounds a call whatever the state of the pool or the server, and a call to a
	// dead Redis does not queue up retries behind it.
	opt.DialTimeout = cfg.RedisTimeout
	opt.ReadTimeout = cfg.RedisTimeout
	opt.WriteTimeout = cfg.RedisTimeout
	opt.PoolTimeout = cfg.RedisTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	opt.ClientName = "openmcu-" + cfg.NodeID
	opt.DisableIdentity = true // CLIENT SETINFO: Redis 7.2 and later only
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		cfg:    cfg,
		p:      p,
		log:    p.Log.With("node", cfg.NodeID),
		rdb:    redis.NewClient(opt),
		kick:   make(chan chan error),
		leases: make(map[string]held),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Start publishes this node's record and starts the heartbeat and renew loops. It fails, starting nothing,
// if Redis does not answer (the error wraps ErrUnavailable): a node that cannot reach Redis at boot is
// better restarted than left outside the cluster (or the caller may call Start again). Once it succeeded,
// later calls fail.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.closed || c.starting {
		c.mu.Unlock()
		if c.closed {
			return ErrClosed
		}
		return errors.New("cluster: started twice")
	}
	c.starting = true
	c.mu.Unlock()

	if err := c.heartbeat(ctx); err != nil {
		c.mu.Lock()
		c.starting = false
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	if c.closed { // closed while registering: Close did not wait for loops that do not exist
		c.mu.Unlock()
		return ErrClosed
	}
	c.started = true
	c.registered.Store(true)
	c.renewHealthy.Store(true)
	c.wg.Add(2)
	go c.heartbeatLoop()
	go c.renewLoop()
	c.mu.Unlock()
	c.log.Info("cluster: node registered", "url", c.cfg.PublicURL, "redis", redactURL(c.cfg.RedisURL))
	return nil
}

// Close stops the loops and waits for them, releases every lease this node holds (compare-and-delete:
// a lease another node took meanwhile is left alone), deletes the node's record and closes the Redis
// client. A lease whose release fails (Redis down) expires by itself within LeaseTTL. Idempotent; OnLost
// is not called for the leases released here.
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	started := c.started
	c.mu.Unlock()

	c.cancel()
	c.wg.Wait()

	var errs []error
	if started {
		c.mu.Lock()
		leases := c.leases
		c.leases = make(map[string]held)
		c.mu.Unlock()
		if err := c.releaseAll(ctx, leases); err != nil {
			errs = append(errs, err)
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
		_, err := c.rdb.TxPipelined(cctx, func(p redis.Pipeliner) error {
			p.Del(cctx, c.nodeKey(c.cfg.NodeID))
			p.SRem(cctx, c.nodesKey(), c.cfg.NodeID)
			return nil
		})
		cancel()
		if err != nil {
			errs = append(errs, c.unavailable("delete node record", err))
		}
		c.log.Info("cluster: node left", "released", len(leases))
	}
	if err := c.rdb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: close redis client: %w", err))
	}
	return errors.Join(errs...)
}

// Health reports whether Redis answered the last heartbeat.
func (c *Cluster) Health() bool { return c.healthy.Load() }

// Stats returns the counts now.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	n := len(c.leases)
	c.mu.Unlock()
	return Stats{
		Leases:        n,
		ClaimsWon:     c.claimsWon.Load(),
		ClaimsLost:    c.claimsLost.Load(),
		Reasserted:    c.reasserted.Load(),
		Lost:          c.lost.Load(),
		RenewFailures: c.renewFailures.Load(),
		RedisErrors:   c.redisErrors.Load(),
		DeadTaken:     c.deadTaken.Load(),
		Healthy:       c.healthy.Load(),
	}
}

// ID returns Config.NodeID.
func (c *Cluster) ID() string { return c.cfg.NodeID }

// SetDraining switches this node between serving and draining and publishes the new state at once (the
// next heartbeats repeat it). A draining node keeps its rooms and leases but Place gives it no new room,
// not even from itself. The error (wrapping ErrUnavailable) says only that the immediate publication
// failed; the state is set and goes out with the next heartbeat that reaches Redis.
func (c *Cluster) SetDraining(ctx context.Context, draining bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	changed := c.draining != draining
	c.draining = draining
	started := c.started
	c.mu.Unlock()
	if changed {
		c.log.Info("cluster: node state", "state", c.state(draining))
	}
	if !started {
		return nil
	}
	// The heartbeat loop publishes, so that an older record can never overwrite this one.
	reply := make(chan error, 1)
	select {
	case c.kick <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Nodes lists the live nodes (those whose record has not expired), sorted by ID, this one included. It
// also drops expired nodes from the registry's set.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	vals, err := nodesScript.Run(cctx, c.rdb, []string{c.nodesKey()}, c.nodeKey("")).StringSlice()
	if err != nil {
		return nil, c.unavailable("list nodes", err)
	}
	nodes := make([]Node, 0, len(vals))
	for _, v := range vals {
		var n Node
		if err := json.Unmarshal([]byte(v), &n); err != nil || n.ID == "" {
			c.log.Warn("cluster: unreadable node record", "record", v, "err", err)
			continue
		}
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	return nodes, nil
}

// heartbeatLoop publishes the node's record every HeartbeatInterval and on request (SetDraining).
func (c *Cluster) heartbeatLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			_ = c.heartbeat(c.ctx)
		case reply := <-c.kick:
			reply <- c.heartbeat(c.ctx)
		}
	}
}

// heartbeat publishes the record once and records whether Redis answered. Only the heartbeat loop (and
// Start, before it) calls it, so records are written in order.
func (c *Cluster) heartbeat(ctx context.Context) error {
	c.mu.Lock()
	draining := c.draining
	c.mu.Unlock()
	return c.publish(ctx, draining)
}

func (c *Cluster) publish(ctx context.Context, draining bool) error {
	n := Node{
		ID:      c.cfg.NodeID,
		URL:     c.cfg.PublicURL,
		SIP:     c.cfg.SIP,
		Version: c.p.Version,
		State:   c.state(draining),
		Load:    c.p.Load(),
		Updated: time.Now().UTC().Truncate(time.Millisecond),
	}
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cluster: encode node record: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	_, err = c.rdb.TxPipelined(cctx, func(p redis.Pipeliner) error {
		p.Set(cctx, c.nodeKey(c.cfg.NodeID), b, c.cfg.NodeTTL)
		p.SAdd(cctx, c.nodesKey(), c.cfg.NodeID)
		return nil
	})
	if err != nil {
		if c.ctx.Err() != nil { // Close: not Redis's fault
			return ErrClosed
		}
		if c.healthy.Swap(false) {
			c.log.Warn("cluster: redis does not answer the heartbeat; rooms held here keep running", "err", err)
		}
		return c.unavailable("publish node record", err)
	}
	if !c.healthy.Swap(true) && c.registered.Load() {
		c.log.Info("cluster: redis answers the heartbeat again")
	}
	return nil
}

func (c *Cluster) state(draining bool) State {
	if draining {
		return StateDraining
	}
	return StateServing
}

// unavailable counts a failed Redis call and wraps its error for the caller.
func (c *Cluster) unavailable(op string, err error) error {
	c.redisErrors.Add(1)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v: %w", c.cfg.RedisTimeout, err)
	}
	return fmt.Errorf("cluster: %s: %w: %w", op, ErrUnavailable, err)
}

// Keys, all under Config.KeyPrefix.
func (c *Cluster) nodeKey(id string) string    { return c.cfg.KeyPrefix + "node:" + id }
func (c *Cluster) nodesKey() string            { return c.cfg.KeyPrefix + "nodes" }
func (c *Cluster) leaseKey(room string) string { return c.cfg.KeyPrefix + "lease:" + room }
func (c *Cluster) fenceKey(room string) string { return c.cfg.KeyPrefix + "fence:" + room }
