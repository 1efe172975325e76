package cluster

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (the heartbeat and renew loops, go-redis's dialers,
// the test proxy's pipes) outlives them. go-redis's per-dial messages during the outage tests are
// dropped: the nodes' own logs tell the story.
func TestMain(m *testing.M) {
	SetRedisLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}
