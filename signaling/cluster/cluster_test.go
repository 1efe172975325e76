package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var roomy = Load{CPU: 0.1, Capacity: 100}

func TestConfigValidate(t *testing.T) {
	good := testConfig("redis://:s3cret@127.0.0.1:6379/2", "node-1", "mcu:")
	for _, u := range []string{"redis://127.0.0.1:6379/0", "rediss://:pw@redis.example.org:6380/1", "unix:///run/redis.sock?db=3"} {
		c := good
		c.RedisURL = u
		if err := c.Validate(); err != nil {
			t.Errorf("Validate with redis url %q: %v", u, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", good, err)
	}
	d := DefaultConfig()
	d.RedisURL, d.NodeID, d.PublicURL = "redis://r:6379/0", "n1", "https://n1.example.org:8443"
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultConfig with url, id and public url: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no redis url", func(c *Config) { c.RedisURL = "" }, "no redis url"},
		{"bad scheme", func(c *Config) { c.RedisURL = "http://:s3cret@host:6379/0" }, "redis url"},
		{"bad db", func(c *Config) { c.RedisURL = "redis://:s3cret@host:6379/x" }, "redis url"},
		{"bad port", func(c *Config) { c.RedisURL = "redis://:s3cret@host:port/0" }, "redis url"},
		{"empty node id", func(c *Config) { c.NodeID = "" }, "node id"},
		{"node id with space", func(c *Config) { c.NodeID = "a b" }, "node id"},
		{"long node id", func(c *Config) { c.NodeID = strings.Repeat("n", 65) }, "node id"},
		{"no public url", func(c *Config) { c.PublicURL = "" }, "public url"},
		{"public url without host", func(c *Config) { c.PublicURL = "https:///x" }, "public url"},
		{"public url ws", func(c *Config) { c.PublicURL = "ws://n1:8080" }, "public url"},
		{"heartbeat 0", func(c *Config) { c.HeartbeatInterval = 0 }, "heartbeat"},
		{"node ttl too short", func(c *Config) { c.NodeTTL = c.HeartbeatInterval }, "node ttl"},
		{"lease ttl too short", func(c *Config) { c.LeaseTTL = time.Millisecond }, "lease ttl"},
		{"timeout 0", func(c *Config) { c.RedisTimeout = 0 }, "redis timeout"},
		{"timeout beyond lease ttl/3", func(c *Config) { c.RedisTimeout = c.LeaseTTL / 2 }, "redis timeout"},
		{"prefix with space", func(c *Config) { c.KeyPrefix = "a b" }, "key prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate(%+v) = %v, want an error about %q", c, err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Validate's error shows the password: %v", err)
			}
		})
	}
	if _, err := New(good, Params{}); err == nil {
		t.Error("New without Load and OnLost: no error")
	}
}

func TestChoose(t *testing.T) {
	node := func(id string, p, capacity int, cpu float64, s State) Node {
		return Node{ID: id, URL: "https://" + id, State: s, Load: Load{Participants: p, Capacity: capacity, CPU: cpu}}
	}
	first := func(int) int { return 0 }
	for _, tc := range []struct {
		name  string
		nodes []Node
		want  string // "" = none
	}{
		{"none", nil, ""},
		{"only self", []Node{node("self", 0, 10, 0, StateServing)}, ""},
		{"only full", []Node{node("a", 10, 10, 0, StateServing)}, ""},
		{"only zero capacity", []Node{node("a", 0, 0, 0, StateServing)}, ""},
		{"only draining", []Node{node("a", 0, 10, 0, StateDraining)}, ""},
		{"one", []Node{node("self", 0, 10, 0, StateServing), node("a", 9, 10, 0.9, StateServing)}, "a"},
		{"two by share", []Node{node("a", 5, 10, 0, StateServing), node("b", 20, 100, 0.9, StateServing)}, "b"},
		{"two by cpu", []Node{node("a", 5, 10, 0.5, StateServing), node("b", 10, 20, 0.4, StateServing)}, "b"},
		{"two by id", []Node{node("b", 1, 10, 0.5, StateServing), node("a", 1, 10, 0.5, StateServing)}, "a"},
		{"draining skipped", []Node{node("a", 0, 10, 0, StateDraining), node("b", 8, 10, 0.9, StateServing)}, "b"},
		{"full skipped", []Node{node("a", 10, 10, 0, StateServing), node("b", 8, 10, 0.9, StateServing)}, "b"},
		{"self skipped", []Node{node("self", 0, 10, 0, StateServing), node("b", 8, 10, 0.9, StateServing)}, "b"},
		// intN always 0: the first two candidates are compared, the third (the best) is not drawn.
		{"two of three", []Node{node("a", 5, 10, 0, StateServing), node("b", 4, 10, 0, StateServing), node("c", 0, 10, 0, StateServing)}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := choose(tc.nodes, "self", first)
			if got := map[bool]string{true: n.ID}[ok]; got != tc.want {
				t.Errorf("choose(%+v) = %q, want %q", tc.nodes, got, tc.want)
			}
		})
	}
}

// TestClaimRace: ten concurrent claims of one room from three nodes end with exactly one owner, and every
// answer names it, with its token; Mine exactly on the owner's answers.
func TestClaimRace(t *testing.T) {
	r := startRedis(t)
	nodes := []*testNode{startNode(t, r.URL(), "n1", roomy), startNode(t, r.URL(), "n2", roomy), startNode(t, r.URL(), "n3", roomy)}
	const rounds, claims = 5, 10
	for round := range rounds {
		room := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		var leases [claims]Lease
		var errs [claims]error
		start := make(chan struct{})
		var retries atomic.Int64
		for i := range claims {
			wg.Go(func() {
				<-start
				// A claim that timed out (a loaded machine) is tried again, as a caller would: the
				// retry finds the first attempt's lease if it was taken, and adopts it if it was ours.
				for range 5 {
					leases[i], errs[i] = nodes[i%len(nodes)].Claim(t.Context(), room)
					if !errors.Is(errs[i], ErrUnavailable) {
						return
					}
					retries.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := retries.Load(); n > 0 {
			t.Logf("round %d: %d claims timed out and were tried again", round, n)
		}
		owner, token := leases[0].Node, leases[0].Token
		for i, l := range leases {
			n := nodes[i%len(nodes)]
			if errs[i] != nil || l.Node != owner || l.Token != token || l.Mine != (n.ID() == owner) || l.Room != room {
				t.Errorf("round %d: claim %d by %s = %+v, %v; want owner %s token %d, mine %v",
					round, i, n.ID(), l, errs[i], owner, token, n.ID() == owner)
			}
		}
		for _, n := range nodes {
			l, ok, err := n.Owner(t.Context(), room)
			if err != nil || !ok || l.Node != owner || l.Token != token || l.Mine != (n.ID() == owner) {
				t.Errorf("round %d: %s.Owner(%s) = %+v, %v, %v; want %s token %d", round, n.ID(), room, l, ok, err, owner, token)
			}
		}
	}
	var won uint64
	for _, n := range nodes {
		s := n.Stats()
		won += s.ClaimsWon
		if s.Lost != 0 {
			t.Errorf("%s lost leases: %+v", n.ID(), s)
		}
	}
	if won != rounds {
		t.Errorf("claims won in all = %d, want %d (one per room)", won, rounds)
	}
}

// TestLeaseRenewed: the owner's lease outlives LeaseTTL many times over while it renews, with its token.
func TestLeaseRenewed(t *testing.T) {
	r := startRedis(t)
	n1, n2 := startNode(t, r.URL(), "n1", roomy), startNode(t, r.URL(), "n2", roomy)
	l, err := n1.Claim(t.Context(), "room")
	if err != nil || !l.Mine || l.Token == 0 {
		t.Fatalf("Claim = %+v, %v", l, err)
	}
	// Every answer over three LeaseTTLs names n1 with its first token (a test call that times out on a
	// loaded machine proves nothing either way and is skipped; most must answer).
	answers, misses := 0, 0
	for end := time.Now().Add(3 * testLeaseTTL); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		o, ok, err := n2.Owner(t.Context(), "room")
		if errors.Is(err, ErrUnavailable) {
			misses++
			continue
		}
		answers++
		if err != nil || !ok || o.Node != "n1" || o.Token != l.Token || o.Mine {
			t.Fatalf("n2.Owner %v before the end = %+v, %v, %v; want n1's lease, token %d", time.Until(end), o, ok, err, l.Token)
		}
	}
	if answers < 3*misses {
		t.Errorf("Owner answered %d times and timed out %d times", answers, misses)
	}
	if got, err := n2.Claim(t.Context(), "room"); err != nil || got.Mine || got.Node != "n1" {
		t.Errorf("n2.Claim of n1's room = %+v, %v", got, err)
	}
	if s := n1.Stats(); s.Lost != 0 || s.Reasserted != 0 || s.Leases != 1 || len(n1.lostRooms()) != 0 {
		t.Errorf("n1 stats %+v, lost %v: want the lease renewed, never re-claimed or lost", s, n1.lostRooms())
	}
	if err := n1.Release(t.Context(), "room"); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := n2.Owner(t.Context(), "room"); ok || err != nil {
		t.Errorf("Owner after Release = %+v, %v, %v; want none", o, ok, err)
	}
}

// TestTakeover: an owner cut off from Redis keeps its lease (no OnLost) while another node claims the room
// after expiry with a larger token; when it reaches Redis again it loses the room (OnLost, once), and
// neither its Release nor its stale value deletes the new owner's lease.
func TestTakeover(t *testing.T) {
	r := startRedis(t)
	p := newProxy(t, r)
	a := startNode(t, p.url(), "a", roomy)
	b := startNode(t, r.URL(), "b", roomy)
	la, err := a.Claim(t.Context(), "room")
	if err != nil || !la.Mine {
		t.Fatalf("a.Claim = %+v, %v", la, err)
	}
	if lb, err := b.Claim(t.Context(), "room"); err != nil || lb.Mine || lb.Node != "a" || lb.URL != a.cfg.PublicURL {
		t.Fatalf("b.Claim of a's room = %+v, %v", lb, err)
	}

	p.setCut(true)
	var lb Lease
	waitFor(t, 10*testLeaseTTL, "b to claim the room after a's lease expired", func() bool {
		lb, err = b.Claim(t.Context(), "room")
		return err == nil && lb.Mine
	})
	if lb.Token <= la.Token {
		t.Errorf("b's token %d is not above a's %d", lb.Token, la.Token)
	}
	// a cannot tell a partition from a Redis restart: it keeps the room.
	if l, err := a.Claim(t.Context(), "room"); err != nil || !l.Mine || l.Token != la.Token {
		t.Errorf("a.Claim while cut off = %+v, %v; want its own lease from memory", l, err)
	}
	if lost := a.lostRooms(); len(lost) != 0 {
		t.Errorf("a lost %v while cut off from redis", lost)
	}
	waitFor(t, 5*time.Second, "a to notice redis is gone", func() bool { return !a.Health() })
	// A Redis that swallows requests (not one that refuses connections) costs a new room one timeout.
	start := time.Now()
	if _, err := a.Place(t.Context(), "other"); !errors.Is(err, ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Errorf("a.Place(other) while cut off = %v after %v; want ErrUnavailable within 2 s", err, time.Since(start))
	} else {
		t.Logf("Place while cut off: %v after %v", err, time.Since(start))
	}

	p.setCut(false)
	waitFor(t, 5*time.Second, "a's OnLost", func() bool { return len(a.lostRooms()) > 0 })
	time.Sleep(testLeaseTTL) // two more renewal rounds: OnLost stays at one call
	if lost := a.lostRooms(); !slices.Equal(lost, []string{"room"}) {
		t.Errorf("a's OnLost calls %v, want [room]", lost)
	}
	if s := a.Stats(); s.Lost != 1 || s.Leases != 0 {
		t.Errorf("a's stats %+v: want 1 lost, 0 held", s)
	}
	if err := a.Release(t.Context(), "room"); err != nil {
		t.Errorf("a.Release: %v", err)
	}
	// The compare-and-delete itself, with the value a held: b's lease stays.
	stale := fmt.Sprintf("%d a %s", la.Token, a.cfg.PublicURL)
	if n, err := releaseScript.Run(t.Context(), a.rdb, []string{a.leaseKey("room")}, stale).Int(); err != nil || n != 0 {
		t.Errorf("release script with a's stale lease = %d, %v; want 0", n, err)
	}
	if o, ok, err := a.Owner(t.Context(), "room"); err != nil || !ok || o.Node != "b" || o.Token != lb.Token || o.Mine {
		t.Errorf("a.Owner after a's Release = %+v, %v, %v; want b's lease, token %d", o, ok, err, lb.Token)
	}
	if l, err := a.Claim(t.Context(), "room"); err != nil || l.Mine || l.Node != "b" {
		t.Errorf("a.Claim after losing = %+v, %v; want b's lease", l, err)
	}
	if lost := b.lostRooms(); len(lost) != 0 {
		t.Errorf("b lost %v", lost)
	}
}

// TestRegistry: live nodes are listed with their load; a draining node is listed as draining at once and
// never chosen; a node whose heartbeat stops leaves the listing after NodeTTL, and comes back.
func TestRegistry(t *testing.T) {
	r := startRedis(t)
	p := newProxy(t, r)
	loads := map[string]Load{
		"n1": {CPU: 0.5, Participants: 10, Rooms: 2, Encoders: 3, Capacity: 10}, // full
		"n2": {CPU: 0.7, Participants: 8, Rooms: 1, Encoders: 1, Capacity: 10},
		"n3": {CPU: 0.1, Participants: 1, Rooms: 1, Encoders: 1, Capacity: 10},
	}
	n1 := startNode(t, r.URL(), "n1", loads["n1"])
	n2 := startNode(t, p.url(), "n2", loads["n2"])
	n3 := startNode(t, r.URL(), "n3", loads["n3"])

	nodes, err := n1.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Fatalf("Nodes = %+v, want n1, n2, n3", nodes)
	}
	for i, n := range nodes {
		id := fmt.Sprintf("n%d", i+1)
		if n.ID != id || n.URL != "https://"+id+".example.org:8443" || n.Version != "v-test" || n.State != StateServing ||
			n.Load != loads[id] || time.Since(n.Updated) > time.Minute {
			t.Errorf("node %d = %+v, want %s serving with load %+v", i, n, id, loads[id])
		}
	}
	// n1 is full: its new rooms go to n3, the less loaded of the other two.
	if l, err := n1.Place(t.Context(), "to-n3"); err != nil || l.Node != "n3" {
		t.Errorf("n1.Place = %+v, %v; want n3", l, err)
	}

	if err := n3.SetDraining(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	nodes, err = n1.Nodes(t.Context()) // at once, not at the next heartbeat
	if err != nil || len(nodes) != 3 || nodes[2].State != StateDraining {
		t.Fatalf("Nodes after n3.SetDraining = %+v, %v; want n3 draining", nodes, err)
	}
	for i := range 20 {
		room := fmt.Sprintf("room-%d", i)
		if l, err := n1.Place(t.Context(), room); err != nil || l.Node != "n2" || l.Claimed() {
			t.Errorf("n1.Place(%s) with n3 draining = %+v, %v; want n2, unclaimed", room, l, err)
		}
		if l, err := n3.Place(t.Context(), room); err != nil || l.Node != "n2" {
			t.Errorf("n3.Place(%s) while draining = %+v, %v; want n2", room, l, err)
		}
	}

	p.setCut(true) // n2's heartbeats stop reaching Redis
	waitFor(t, 5*time.Second, "n2 to leave the listing", func() bool {
		nodes, err := n1.Nodes(t.Context())
		return err == nil && !slices.ContainsFunc(nodes, func(n Node) bool { return n.ID == "n2" })
	})
	waitFor(t, 5*time.Second, "n2 to notice", func() bool { return !n2.Health() })
	if l, err := n1.Place(t.Context(), "nowhere"); !errors.Is(err, ErrFull) {
		t.Errorf("n1.Place with n1 full, n2 gone, n3 draining = %+v, %v; want ErrFull", l, err)
	}
	// Overloading itself is the caller's choice.
	if l, err := n1.Claim(t.Context(), "nowhere"); err != nil || !l.Mine {
		t.Errorf("n1.Claim after ErrFull = %+v, %v", l, err)
	}

	p.setCut(false)
	waitFor(t, 5*time.Second, "n2 to come back", func() bool {
		nodes, err := n1.Nodes(t.Context())
		return err == nil && len(nodes) == 3 && n2.Health()
	})
	if err := n3.SetDraining(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if l, err := n1.Place(t.Context(), "to-n3-again"); err != nil || l.Node != "n3" {
		t.Errorf("n1.Place after n3 serves again = %+v, %v; want n3", l, err)
	}
}

// TestPlace: a new room stays on a node with capacity; a full node sends it to the less loaded of the two
// others, unclaimed, and that node claims it when asked; a room with an owner goes to the owner.
func TestPlace(t *testing.T) {
	r := startRedis(t)
	n1 := startNode(t, r.URL(), "n1", Load{CPU: 0.2, Participants: 0, Capacity: 10})
	n2 := startNode(t, r.URL(), "n2", Load{CPU: 0.1, Participants: 5, Capacity: 10})
	n3 := startNode(t, r.URL(), "n3", Load{CPU: 0.9, Participants: 2, Capacity: 10})

	local, err := n1.Place(t.Context(), "local")
	if err != nil || !local.Mine || local.Node != "n1" || !local.Claimed() {
		t.Fatalf("n1.Place with capacity = %+v, %v; want n1, claimed", local, err)
	}
	if o, ok, err := n2.Owner(t.Context(), "local"); err != nil || !ok || o.Node != "n1" || o.Token != local.Token {
		t.Errorf("n2.Owner(local) = %+v, %v, %v; want n1", o, ok, err)
	}
	if l, err := n2.Place(t.Context(), "local"); err != nil || l.Mine || l.Node != "n1" || l.Token != local.Token {
		t.Errorf("n2.Place(local) = %+v, %v; want n1's lease", l, err)
	}

	n1.setLoad(Load{CPU: 0.2, Participants: 10, Capacity: 10}) // full
	if l, err := n1.Place(t.Context(), "local"); err != nil || !l.Mine || l.Token != local.Token {
		t.Errorf("full n1.Place of its own room = %+v, %v; want its lease", l, err)
	}
	far, err := n1.Place(t.Context(), "far")
	if err != nil || far.Node != "n3" || far.URL != "https://n3.example.org:8443" || far.Mine || far.Claimed() {
		t.Fatalf("full n1.Place = %+v, %v; want n3 (2/10 beats n2's 5/10), unclaimed", far, err)
	}
	if o, ok, err := n1.Owner(t.Context(), "far"); ok || err != nil {
		t.Errorf("Owner(far) before n3 claims = %+v, %v, %v; want none", o, ok, err)
	}
	// The client arrives at n3, which places the room on itself.
	got, err := n3.Place(t.Context(), "far")
	if err != nil || !got.Mine || got.Node != "n3" || !got.Claimed() {
		t.Fatalf("n3.Place(far) = %+v, %v; want n3, claimed", got, err)
	}
	for _, n := range []*testNode{n1, n2} {
		if l, err := n.Place(t.Context(), "far"); err != nil || l.Mine || l.Node != "n3" || l.Token != got.Token {
			t.Errorf("%s.Place(far) after n3 claimed = %+v, %v; want n3's lease", n.ID(), l, err)
		}
	}

	// A draining node with capacity places new rooms elsewhere too.
	n1.setLoad(Load{Capacity: 10})
	if err := n1.SetDraining(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if l, err := n1.Place(t.Context(), "while-draining"); err != nil || l.Node != "n3" {
		t.Errorf("draining n1.Place = %+v, %v; want n3", l, err)
	}
}

// TestRedisOutage: with Redis killed, held leases are kept (no OnLost) and answered from memory while new
// rooms fail fast with ErrUnavailable; when an empty Redis comes back, the leases are re-asserted with
// larger tokens; a node cut off while another took its room meanwhile loses that room.
func TestRedisOutage(t *testing.T) {
	r := startRedis(t)
	p := newProxy(t, r)
	n1 := startNode(t, r.URL(), "n1", roomy)
	n2 := startNode(t, r.URL(), "n2", roomy)
	n3 := startNode(t, p.url(), "n3", roomy)
	claim := func(n *testNode, room string) Lease {
		t.Helper()
		l, err := n.Claim(t.Context(), room)
		if err != nil || !l.Mine {
			t.Fatalf("%s.Claim(%s) = %+v, %v", n.ID(), room, l, err)
		}
		return l
	}
	la, lb, lc := claim(n1, "a"), claim(n2, "b"), claim(n3, "c")

	r.Kill()
	waitFor(t, 5*time.Second, "n1 to notice redis is gone", func() bool { return !n1.Health() })
	// Four failed renewal rounds: the leases would have expired in Redis by now.
	waitFor(t, 10*time.Second, "failed renewals", func() bool { return n1.Stats().RenewFailures >= 4 })
	if l, err := n1.Place(t.Context(), "a"); err != nil || !l.Mine || l.Token != la.Token {
		t.Errorf("n1.Place(a) without redis = %+v, %v; want its lease", l, err)
	}
	if l, ok, err := n1.Owner(t.Context(), "a"); err != nil || !ok || !l.Mine {
		t.Errorf("n1.Owner(a) without redis = %+v, %v, %v; want its lease", l, ok, err)
	}
	start := time.Now()
	_, err := n1.Place(t.Context(), "new")
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > 2*time.Second {
		t.Errorf("n1.Place(new) without redis = %v after %v; want ErrUnavailable within 2 s", err, took)
	} else {
		t.Logf("Place without redis: %v after %v", err, took)
	}
	if _, err := n2.Claim(t.Context(), "new"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("n2.Claim(new) without redis = %v, want ErrUnavailable", err)
	}
	if _, err := n2.Nodes(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Nodes without redis = %v, want ErrUnavailable", err)
	}

	p.setCut(true) // n3 will not see the new Redis for a while
	r.Start()      // empty
	waitFor(t, 10*time.Second, "n1's and n2's leases re-asserted", func() bool {
		oa, ok1, err1 := n2.Owner(t.Context(), "a")
		ob, ok2, err2 := n1.Owner(t.Context(), "b")
		return err1 == nil && err2 == nil && ok1 && ok2 && oa.Node == "n1" && ob.Node == "n2" &&
			oa.Token > la.Token && ob.Token > lb.Token &&
			n1.Stats().Reasserted > 0 && n2.Stats().Reasserted > 0 // the renewals' answers applied too
	})
	waitFor(t, 5*time.Second, "health back", func() bool { return n1.Health() && n2.Health() })
	for _, n := range []*testNode{n1, n2} {
		if s := n.Stats(); s.Leases != 1 || s.Lost != 0 {
			t.Errorf("%s stats %+v: want one lease, none lost", n.ID(), s)
		}
	}
	// n3's room is free in the new Redis: n1 takes it for a new client.
	lc1 := claim(n1, "c")
	if lc1.Token <= lc.Token {
		t.Errorf("token of c in the new redis %d is not above the old %d", lc1.Token, lc.Token)
	}
	if lost := n3.lostRooms(); len(lost) != 0 {
		t.Errorf("n3 lost %v while cut off", lost)
	}
	p.setCut(false)
	waitFor(t, 5*time.Second, "n3's OnLost(c)", func() bool { return slices.Equal(n3.lostRooms(), []string{"c"}) })
	if o, ok, err := n2.Owner(t.Context(), "c"); err != nil || !ok || o.Node != "n1" || o.Token != lc1.Token {
		t.Errorf("Owner(c) after n3 came back = %+v, %v, %v; want n1's", o, ok, err)
	}
	waitFor(t, 5*time.Second, "all three listed again", func() bool {
		nodes, err := n1.Nodes(t.Context())
		return err == nil && len(nodes) == 3
	})
	for _, n := range []*testNode{n1, n2} {
		if lost := n.lostRooms(); len(lost) != 0 {
			t.Errorf("%s lost %v", n.ID(), lost)
		}
	}
}

// TestClose: Close releases the leases and removes the record; it is idempotent, and later calls fail.
func TestClose(t *testing.T) {
	r := startRedis(t)
	n1, n2 := startNode(t, r.URL(), "n1", roomy), startNode(t, r.URL(), "n2", roomy)
	for _, room := range []string{"x", "y"} {
		if l, err := n1.Claim(t.Context(), room); err != nil || !l.Mine {
			t.Fatalf("Claim(%s) = %+v, %v", room, l, err)
		}
	}
	if got := len(n1.Leases()); got != 2 {
		t.Errorf("Leases() has %d, want 2", got)
	}
	if err := n1.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n1.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, room := range []string{"x", "y"} {
		if o, ok, err := n2.Owner(t.Context(), room); ok || err != nil {
			t.Errorf("Owner(%s) after n1 closed = %+v, %v, %v; want none", room, o, ok, err)
		}
	}
	nodes, err := n2.Nodes(t.Context())
	if err != nil || len(nodes) != 1 || nodes[0].ID != "n2" {
		t.Errorf("Nodes after n1 closed = %+v, %v; want n2 only", nodes, err)
	}
	if _, err := n1.Claim(t.Context(), "z"); !errors.Is(err, ErrClosed) {
		t.Errorf("Claim after Close = %v, want ErrClosed", err)
	}
	if err := n1.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if len(n1.lostRooms()) != 0 {
		t.Errorf("OnLost called by Close: %v", n1.lostRooms())
	}
}

// TestDeadOwnerTakenOver: a node cut off from Redis (a dead node) loses its record after NodeTTL, and
// another node claiming one of its rooms takes it over then, without waiting for the much longer lease
// to expire; the dead node, once back, finds the room lost.
func TestDeadOwnerTakenOver(t *testing.T) {
	r := startRedis(t)
	p := newProxy(t, r)
	long := func(url, id string) Config {
		c := testConfig(url, id, "test:")
		c.LeaseTTL = 15 * time.Second // only the dead-node path takes the room in the first seconds
		return c
	}
	a := startNodeConfig(t, long(p.url(), "a"), roomy)
	b := startNodeConfig(t, long(r.URL(), "b"), roomy)
	if l, err := a.Claim(t.Context(), "r"); err != nil || !l.Mine {
		t.Fatalf("a claims r: %+v %v", l, err)
	}
	p.setCut(true)
	var got Lease
	waitFor(t, 10*time.Second, "b to take r over from the dead a", func() bool {
		l, err := b.Claim(t.Context(), "r")
		got = l
		return err == nil && l.Mine
	})
	if st := b.Stats(); st.DeadTaken != 1 {
		t.Errorf("b's DeadTaken = %d, want 1", st.DeadTaken)
	}
	p.setCut(false)
	waitFor(t, 20*time.Second, "a to find r lost", func() bool { return slices.Contains(a.lostRooms(), "r") })
	if l, ok, err := b.Owner(t.Context(), "r"); err != nil || !ok || l.Token != got.Token || l.Node != "b" {
		t.Errorf("owner of r after a came back: %+v %v %v, want b's lease %d", l, ok, err, got.Token)
	}
}

// TestMembers checks the members of a cascaded room: the nodes that announced it, sorted, without one
// that withdrew, one whose announcement expired, or one that died (its record gone) before its
// announcement expired.
func TestMembers(t *testing.T) {
	r := startRedis(t)
	n1 := startNode(t, r.URL(), "n1", Load{Capacity: 10})
	n2 := startNode(t, r.URL(), "n2", Load{Capacity: 10})
	n3 := startNode(t, r.URL(), "n3", Load{Capacity: 10})
	ctx := t.Context()
	ids := func() []string {
		t.Helper()
		ms, err := n3.Members(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			if m.URL != "https://"+m.ID+".example.org:8443" {
				t.Errorf("member %+v has another node's URL", m)
			}
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids(); len(got) != 0 {
		t.Fatalf("members of a room nobody announced: %v", got)
	}
	for _, n := range []*testNode{n2, n1} {
		if err := n.Announce(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	if err := n3.Announce(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("members %v, want [n1 n2]", got)
	}
	if err := n2.Withdraw(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("members after n2 withdrew: %v, want [n1]", got)
	}
	// n1 does not renew: gone after NodeTTL.
	waitFor(t, 5*testNodeTTL, "n1's announcement to expire", func() bool { return len(ids()) == 0 })

	// n2 announces and dies: gone at once, its record with it.
	if err := n2.Announce(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("members %v, want [n2]", got)
	}
	if err := n2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 0 {
		t.Fatalf("members after n2 closed: %v", got)
	}
	if _, err := n2.Members(ctx, "room"); err == nil {
		t.Error("Members after Close: no error")
	}
}
