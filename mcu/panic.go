package mcu

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
)

// ErrInternal is the reason a participant is removed when the server failed while handling it or its
// room: a panic in one of their goroutines, recovered, logged with its stack and counted in
// Stats.Panics. Only that participant, or that room's participants, are removed; every other room goes on.
var ErrInternal = errors.New("mcu: internal error")

// Where a panic was recovered: the keys of Stats.Panics.
const (
	panicRoom     = "room"     // a room's mixer, compositor or output encoder goroutine
	panicIngest   = "ingest"   // an inbound track reader
	panicRTCP     = "rtcp"     // an RTCP reader
	panicBWE      = "bwe"      // a participant's bandwidth estimation loop
	panicCallback = "callback" // a pion callback (candidates, connection state), a remover or a re-tiering
	panicOutput   = "output"   // an Output's writer (a recording or live stream)
)

// panicCounts counts recovered panics by where they happened. Panics are rare: a mutex will do.
type panicCounts struct {
	mu sync.Mutex
	by map[string]uint64
}

func (c *panicCounts) add(where string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = make(map[string]uint64)
	}
	c.by[where]++
}

func (c *panicCounts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.by)
}

// catch recovers a panic of the goroutine it is deferred on: it logs the panic with its stack, counts it
// under where, and calls fail (if not nil) with an error wrapping ErrInternal, which ends the participant
// or room concerned. It must be deferred directly: `defer m.catch(panicIngest, log, p.removeAsync)`.
func (m *MCU) catch(where string, log *slog.Logger, fail func(error)) {
	v := recover()
	if v == nil {
		return
	}
	m.panics.add(where)
	log.Error("panic recovered", "where", where, "panic", v, "stack", string(debug.Stack()))
	if fail != nil {
		fail(fmt.Errorf("%w: panic in %s: %v", ErrInternal, where, v))
	}
}
