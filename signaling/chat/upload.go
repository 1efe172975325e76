package chat

import (
	"errors"
	"mime"
	"net/url"
	"os"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// errAborted: the upload was abandoned (its member left, the room ended, the Hub closed) meanwhile.
var errAborted = errors.New("chat: upload abandoned")

// upload is a file on its way in. Its bytes go to disk outside the room's lock, under its own.
type upload struct {
	id, key, name, mime, path string
	size                      int64
	got                       int64 // bytes taken so far; guarded by room.mu

	mu   sync.Mutex
	f    *os.File // made at the first chunk
	done bool     // finished or aborted
}

// write appends p to the file, making it first if need be.
func (u *upload) write(p []byte) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return errAborted
	}
	if u.f == nil {
		f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		u.f = f
	}
	_, err := u.f.Write(p)
	return err
}

// finish closes the complete file.
func (u *upload) finish() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return errAborted
	}
	u.done = true
	if u.f == nil {
		return errors.New("chat: upload has no file")
	}
	return u.f.Close()
}

// abort closes and deletes what was written. Idempotent; a no-op once finished.
func (u *upload) abort() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return
	}
	u.done = true
	if u.f != nil {
		_ = u.f.Close()
		_ = os.Remove(u.path)
	}
}

// addUsed changes the room's bytes, and the Hub's with them. The caller holds r.mu.
func (r *room) addUsed(n int64) {
	r.used += n
	r.total.Add(n)
}

// dropUploadLocked takes mb's upload away, gives its quota back, and returns it for the caller to
// abort once r.mu is released. The caller holds r.mu.
func (r *room) dropUploadLocked(mb *member) *upload {
	u := mb.up
	mb.up = nil
	mb.discard = true
	r.addUsed(-u.size)
	r.count--
	return u
}

// begin starts an upload, or refuses it with err (a file-begin that did not decode) or another error.
func (h *Hub) begin(roomName string, m Member, in inbound, err *Error) *Error {
	id := m.ID()
	var name string
	if err == nil {
		name, err = cleanName(in.Name)
	}
	if err == nil && in.Size < 1 {
		err = refused(CodeBadMessage, "size %d: want at least 1 byte", in.Size)
	}
	if err == nil && len(in.Mime) > maxMime {
		err = refused(CodeBadMessage, "mime over %d bytes", maxMime)
	}
	r, mb, lerr := h.lockRoom(roomName, id)
	if lerr != nil {
		return lerr
	}
	if mb.up != nil {
		r.mu.Unlock()
		return refused(CodeBusy, "an upload is under way already")
	}
	// From here on, the client's chunks for this file are dropped if it is refused.
	mb.discard = true
	switch {
	case err != nil:
	case in.Size > h.cfg.MaxFile:
		err = refused(CodeTooLarge, "%d bytes, at most %d", in.Size, h.cfg.MaxFile)
	case r.count >= h.cfg.MaxFiles:
		err = refused(CodeQuota, "the room has %d files, at most %d", r.count, h.cfg.MaxFiles)
	case r.used+in.Size > h.cfg.RoomQuota:
		err = refused(CodeQuota, "the room's files would take %d bytes, at most %d", r.used+in.Size,
			h.cfg.RoomQuota)
	case h.used.Load()+in.Size > h.cfg.TotalQuota:
		err = refused(CodeQuota, "the server's shared files would take more than %d bytes", h.cfg.TotalQuota)
	case !mb.limit.AllowN(h.now(), 1):
		err = refused(CodeRateLimited, "more than %v messages a second", h.cfg.Rate)
	}
	if err != nil {
		r.mu.Unlock()
		return err
	}
	fid := randomHex(8)
	mb.up = &upload{id: fid, key: randomHex(16), name: name, mime: cleanMime(in.Mime), size: in.Size,
		path: h.filePath(fid)}
	mb.discard = false
	r.addUsed(in.Size)
	r.count++
	r.mu.Unlock()
	return nil
}

// chunk takes a binary message: the next bytes of the member's upload.
func (h *Hub) chunk(roomName string, m Member, data []byte) *Error {
	r, mb, err := h.lockRoom(roomName, m.ID())
	if err != nil {
		return err
	}
	u := mb.up
	switch {
	case u == nil:
		discard := mb.discard
		r.mu.Unlock()
		if discard {
			return nil
		}
		return refused(CodeBadMessage, "a binary message outside an upload")
	case len(data) > MaxChunk:
		err = refused(CodeBadMessage, "a chunk of %d bytes, at most %d", len(data), MaxChunk)
	case u.got+int64(len(data)) > u.size:
		err = refused(CodeTooLarge, "more bytes than the %d announced", u.size)
	}
	if err != nil {
		r.dropUploadLocked(mb)
		r.mu.Unlock()
		u.abort()
		return err
	}
	u.got += int64(len(data))
	r.mu.Unlock()
	if len(data) == 0 {
		return nil
	}
	werr := u.write(data)
	if werr == nil || errors.Is(werr, errAborted) {
		return nil
	}
	h.log.Warn("chat: write file", "room", roomName, "err", werr)
	r.mu.Lock()
	if mb.up == u {
		r.dropUploadLocked(mb)
	}
	r.mu.Unlock()
	u.abort()
	return refused(CodeInternal, "could not store the file")
}

// end completes the member's upload and tells the room.
func (h *Hub) end(roomName string, m Member) *Error {
	from := Sender{ID: m.ID(), Name: m.Name()}
	r, mb, err := h.lockRoom(roomName, from.ID)
	if err != nil {
		return err
	}
	u := mb.up
	if u == nil {
		discard := mb.discard
		mb.discard = false
		r.mu.Unlock()
		if discard {
			return nil
		}
		return refused(CodeBadMessage, "file-end outside an upload")
	}
	if u.got != u.size {
		r.dropUploadLocked(mb)
		mb.discard = false
		r.mu.Unlock()
		u.abort()
		return refused(CodeBadMessage, "the upload ended after %d of %d bytes", u.got, u.size)
	}
	mb.up = nil // still counted in r.used and r.count, as finishing
	r.finishing++
	r.mu.Unlock()

	ferr := u.finish()
	r.mu.Lock()
	r.finishing--
	if ferr != nil || r.ended {
		if !r.ended {
			r.addUsed(-u.size)
			r.count--
		}
		r.mu.Unlock()
		_ = os.Remove(u.path)
		if ferr == nil || errors.Is(ferr, errAborted) {
			return nil
		}
		h.log.Warn("chat: close file", "room", roomName, "err", ferr)
		return refused(CodeInternal, "could not store the file")
	}
	now := h.now()
	r.files[u.id] = &file{id: u.id, key: u.key, name: u.name, mime: u.mime, path: u.path, size: u.size,
		at: now}
	h.files.Add(1)
	h.fileBytes.Add(u.size)
	h.log.Debug("chat: file stored", "room", roomName, "participant", from.ID, "size", u.size)
	h.broadcastUnlock(r, Message{Type: TypeFile, From: from, Name: u.name, Size: u.size, Mime: u.mime,
		URL: fileURL(roomName, u.id, u.name, u.key), UnixMilli: now.UnixMilli()})
	return nil
}

// fileURL is where Handler serves a file.
func fileURL(roomName, id, name, key string) string {
	return "/files/" + url.PathEscape(roomName) + "/" + id + "/" + url.PathEscape(name) + "?key=" + key
}

// cleanName checks an announced file name and makes it harmless to show and to save: path separators,
// control characters and bidirectional formatting characters (which can disguise an extension) become
// "_", and "." or ".." (which URL paths would resolve) becomes "_".
func cleanName(s string) (string, *Error) {
	if !utf8.ValidString(s) {
		return "", refused(CodeBadMessage, "file name is not UTF-8")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", refused(CodeBadMessage, "a file needs a name")
	}
	if len(s) > maxName {
		return "", refused(CodeBadMessage, "file name over %d bytes", maxName)
	}
	s = strings.Map(func(c rune) rune {
		if c == '/' || c == '\\' || unicode.IsControl(c) || isBidi(c) {
			return '_'
		}
		return c
	}, s)
	if s == "." || s == ".." {
		s = "_"
	}
	return s, nil
}

// isBidi reports the invisible characters that change the direction of text.
func isBidi(c rune) bool {
	return c == '\u061c' || c == '\u200e' || c == '\u200f' || (c >= '\u202a' && c <= '\u202e') ||
		(c >= '\u2066' && c <= '\u2069')
}

// cleanMime returns the media type of an announced mime, lower case and without parameters, or
// application/octet-stream.
func cleanMime(s string) string {
	t, _, err := mime.ParseMediaType(s)
	if err != nil || !strings.Contains(t, "/") {
		return "application/octet-stream"
	}
	return t
}
