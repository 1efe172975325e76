package chat

import (
	"fmt"
	"os"
)

// Hooks for the external tests (package chat_test, which can use chattest).

// Dir returns the Hub's own directory.
func (h *Hub) Dir() string { return h.dir }

// Check verifies the Hub's accounting against its rooms and its directory, for a Hub at rest (no
// call under way): each room's used and count equal its files and uploads, within the limits; the
// stats equal the files; the directory holds exactly the stored files and the bytes the uploads got.
func (h *Hub) Check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var files, bytes int64
	want := make(map[string]int64) // file name in dir -> size
	for name, r := range h.rooms {
		r.mu.Lock()
		var used int64
		var count int
		for _, f := range r.files {
			used += f.size
			count++
			files++
			bytes += f.size
			want[f.id] = f.size
		}
		for _, mb := range r.members {
			if u := mb.up; u != nil {
				used += u.size
				count++
				if u.got < 0 || u.got > u.size {
					r.mu.Unlock()
					return fmt.Errorf("room %q: upload got %d of %d", name, u.got, u.size)
				}
				if u.got > 0 {
					want[u.id] = u.got
				}
			}
		}
		bad := r.finishing != 0 || r.ended || used != r.used || count != r.count ||
			r.used > h.cfg.RoomQuota || r.count > h.cfg.MaxFiles || len(r.members) == 0
		err := fmt.Errorf("room %q: used %d (counted %d), count %d (counted %d), finishing %d, ended %v, "+
			"members %d", name, r.used, used, r.count, count, r.finishing, r.ended, len(r.members))
		r.mu.Unlock()
		if bad {
			return err
		}
	}
	if files != h.files.Load() || bytes != h.fileBytes.Load() {
		return fmt.Errorf("stats: %d files of %d bytes, the rooms have %d of %d", h.files.Load(),
			h.fileBytes.Load(), files, bytes)
	}
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		if h.closed && os.IsNotExist(err) && len(want) == 0 {
			return nil
		}
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return err
		}
		size, ok := want[e.Name()]
		if !ok || size != info.Size() {
			return fmt.Errorf("on disk: %s of %d bytes; want %d (known %v)", e.Name(), info.Size(), size, ok)
		}
		delete(want, e.Name())
	}
	if len(want) > 0 {
		return fmt.Errorf("missing on disk: %v", want)
	}
	return nil
}
