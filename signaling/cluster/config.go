package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is one node's cluster configuration. It is plain, serialisable data; start from DefaultConfig, fill
// RedisURL, NodeID and PublicURL, and check it with Validate (New does).
type Config struct {
	// RedisURL is the shared Redis: "redis://[[user]:password@]HOST:PORT/DB", "rediss://..." for TLS, or
	// "unix:///path/to/redis.sock?db=N" (redis.ParseURL's grammar). One Redis server (or a primary behind a
	// stable address), not Redis Cluster: the registry script reads keys it does not declare.
	RedisURL string `json:"redis_url"`
	// NodeID names this node in the cluster: 1 to 64 letters, digits, '.', '_' or '-'. It must be unique
	// among running nodes: a lease held under this ID is this node's (a node restarted within LeaseTTL
	// takes its rooms' leases back), so two processes with one ID would both serve those rooms.
	NodeID string `json:"node_id"`
	// PublicURL is how clients reach this node (http or https, e.g. https://node1.example.org:8443); the
	// node that places a room elsewhere sends its client there.
	PublicURL string `json:"public_url"`
	// SIP is the host:port of this node's SIP server, where calls for its rooms are redirected; empty:
	// none.
	SIP string `json:"sip,omitempty"`
	// HeartbeatInterval is how often the node republishes its record and load.
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	// NodeTTL is how long a record lives without a heartbeat: a dead node leaves the listing within
	// NodeTTL. At least twice HeartbeatInterval.
	NodeTTL time.Duration `json:"node_ttl"`
	// LeaseTTL is how long a room lease lives without a renewal; the owner renews every LeaseTTL/3. A dead
	// node's rooms can be placed anew LeaseTTL after its last renewal.
	LeaseTTL time.Duration `json:"lease_ttl"`
	// RedisTimeout bounds every Redis call (dial included). At most half of NodeTTL and a third of LeaseTTL,
	// so that one hung call cannot cost the record or a lease.
	RedisTimeout time.Duration `json:"redis_timeout"`
	// KeyPrefix starts every key this package writes, so that several deployments can share one Redis.
	KeyPrefix string `json:"key_prefix"`
}

// DefaultConfig returns the defaults: a heartbeat every 2 s and records that expire after 6 s (a node
// survives two lost heartbeats, and a dead one leaves the listing within 6 s); leases of 10 s renewed every
// 3.3 s (a room whose node died can be opened elsewhere 10 s later, while a Redis hiccup of a few seconds
// costs nothing); 1 s per Redis call; keys under "mcu:". RedisURL, NodeID and PublicURL have no default.
func DefaultConfig() Config {
	return Config{
		HeartbeatInterval: 2 * time.Second,
		NodeTTL:           6 * time.Second,
		LeaseTTL:          10 * time.Second,
		RedisTimeout:      time.Second,
		KeyPrefix:         "mcu:",
	}
}

// Bounds of the durations: Redis expires keys with millisecond precision.
const (
	minInterval = 10 * time.Millisecond
	minLeaseTTL = 30 * time.Millisecond
)

// Validate reports the first invalid field. Its messages never show the Redis password.
func (c *Config) Validate() error {
	if c.RedisURL == "" {
		return errors.New("cluster: no redis url")
	}
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, password included
		}
		return fmt.Errorf("cluster: redis url %s: %v (want redis://[:password@]host:port/db, rediss://... or unix:///path?db=n)",
			redactURL(c.RedisURL), err)
	}
	if !validNodeID(c.NodeID) {
		return fmt.Errorf("cluster: node id %q: want 1 to 64 letters, digits, '.', '_' or '-'", c.NodeID)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(c.PublicURL, " \t\r\n") {
		return fmt.Errorf("cluster: public url %q: want http(s)://host[:port][/path]", c.PublicURL)
	}
	if c.HeartbeatInterval < minInterval {
		return fmt.Errorf("cluster: heartbeat interval %v: want at least %v", c.HeartbeatInterval, minInterval)
	}
	if c.NodeTTL < 2*c.HeartbeatInterval {
		return fmt.Errorf("cluster: node ttl %v: want at least twice the heartbeat interval %v", c.NodeTTL, c.HeartbeatInterval)
	}
	if c.LeaseTTL < minLeaseTTL {
		return fmt.Errorf("cluster: lease ttl %v: want at least %v", c.LeaseTTL, minLeaseTTL)
	}
	if c.RedisTimeout <= 0 || c.RedisTimeout > c.NodeTTL/2 || c.RedisTimeout > c.LeaseTTL/3 {
		return fmt.Errorf("cluster: redis timeout %v: want more than 0 and at most half the node ttl %v and a third of the lease ttl %v",
			c.RedisTimeout, c.NodeTTL, c.LeaseTTL)
	}
	if len(c.KeyPrefix) > 64 || strings.ContainsAny(c.KeyPrefix, " \t\r\n") {
		return fmt.Errorf("cluster: key prefix %q: want at most 64 characters without spaces", c.KeyPrefix)
	}
	return nil
}

func validNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// redactURL is u with its password replaced, or a placeholder when u does not parse.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	return p.Redacted()
}
