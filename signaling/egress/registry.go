package egress

import (
	"fmt"
	"slices"
	"sync"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
)

// entry is a recording or a stream the Manager started, as a registry keeps it: I is what the API shows
// of it.
type entry[I any] interface {
	snapshot() I
	ended() bool
	id() string
	output() *mcu.Output // nil until its Record or Stream returned
}

// registry keeps the recordings (or the streams) of every open room: the running ones and the last ended
// ones, oldest first. Safe for concurrent use.
type registry[I any, E entry[I]] struct {
	what string // "recording" or "stream", for errors
	keep int    // ended entries kept per room
	mu   sync.Mutex
	room map[string][]E
}

func newRegistry[I any, E entry[I]](what string, keep int) *registry[I, E] {
	return &registry[I, E]{what: what, keep: keep, room: make(map[string][]E)}
}

// add keeps e in room's list, forgetting the oldest ended entries beyond keep.
func (r *registry[I, E]) add(room string, e E) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := append(r.room[room], e)
	ended := 0
	for _, x := range list {
		if x.ended() {
			ended++
		}
	}
	r.room[room] = slices.DeleteFunc(list, func(x E) bool {
		if ended > r.keep && x.ended() {
			ended--
			return true
		}
		return false
	})
}

// list returns what the API shows of room's entries.
func (r *registry[I, E]) list(room string) []I {
	r.mu.Lock()
	list := slices.Clone(r.room[room])
	r.mu.Unlock()
	out := make([]I, 0, len(list))
	for _, e := range list {
		out = append(out, e.snapshot())
	}
	return out
}

// stop stops room's entry id, waits until it has ended, and returns it; an error wrapping
// api.ErrNotFound for none.
func (r *registry[I, E]) stop(room, id string) (I, error) {
	r.mu.Lock()
	i := slices.IndexFunc(r.room[room], func(e E) bool { return e.id() == id })
	var e E
	if i >= 0 {
		e = r.room[room][i]
	}
	r.mu.Unlock()
	if i < 0 {
		var zero I
		return zero, fmt.Errorf("%s %q of room %q: %w", r.what, id, room, api.ErrNotFound)
	}
	if out := e.output(); out != nil {
		out.Stop()
	}
	return e.snapshot(), nil
}

// forget drops room's ended entries, and the room when none is left.
func (r *registry[I, E]) forget(room string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.room[room] = slices.DeleteFunc(r.room[room], func(e E) bool { return e.ended() }); len(r.room[room]) == 0 {
		delete(r.room, room)
	}
}
