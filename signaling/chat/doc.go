// Package chat is a room's text chat and file sharing: what the messages on the page's "chat" data
// channel (and a SIP phone's MESSAGE requests) mean. The MCU only carries data channel messages
// (mcu.Participant.SendData, mcu.DataListener); the signalling adapters hand them to a Hub, which checks
// them, numbers them, keeps a short history per room, stores shared files on disk and serves them over
// HTTP. The package imports neither pion nor mcu: a participant's connection is a Member.
//
// # Protocol
//
// Every message is one data channel message: JSON text unless noted. Client to server:
//
//	{"type":"chat","text":"..."}          a chat message: valid UTF-8, 1..Config.MaxText bytes once CRLF
//	                                      became LF and surrounding white space was trimmed, no control
//	                                      characters but \n and \t
//	{"type":"file-begin","name":"notes.pdf","size":12345,"mime":"application/pdf"}
//	                                      starts an upload (one at a time per member): size 1..MaxFile
//	(binary messages)                     the file's bytes, in order, each at most MaxChunk (64 KiB)
//	{"type":"file-end"}                   the upload is complete: the bytes must add up to size
//
// Server to client (Message; the same JSON for the history a member gets when it joins, oldest first):
//
//	{"type":"chat","id":N,"from":{"id":"p3","name":"Ann"},"text":"...","time":UNIX_MS}
//	{"type":"file","id":N,"from":{...},"name":"notes.pdf","size":12345,"mime":"application/pdf",
//	 "url":"/files/ROOM/FILEID/notes.pdf?key=KEY","time":UNIX_MS}
//	{"type":"chat-error","code":"...","message":"..."}    to the sender only (ErrorMessage)
//
// Chat and file messages go to every member of the room, the sender included, in one order per room;
// id increases by one per message in a room and time is the server's clock in Unix milliseconds. A file
// message's name is the announced name made harmless (path separators, control and bidirectional
// formatting characters replaced by "_"; never used as a path), its mime the announced media type
// without parameters (application/octet-stream when it does not parse), and its url (path-escaped, key
// a random 128-bit secret per file) works for as long as the room has a member.
//
// Error codes (Code): bad-message (not JSON, an unknown type, a missing or mistyped field, bad UTF-8, an
// empty text or file, a control character, a binary message or file-end outside an upload, a chunk over
// 64 KiB, an upload that ended short), too-long, rate-limited (Config.Rate and Burst, per member, chat
// messages and file-begins), forbidden (a read-only member, or a client that is not a member of the
// room), too-large (a size over MaxFile, or more bytes than announced), quota (Config.RoomQuota or
// MaxFiles), busy (a file-begin during an upload), internal (the server could not write the file). An
// upload that fails or is abandoned (an error, its member leaving, the room ending, Close) leaves nothing
// on disk and gives its quota back. After a refused file-begin or a failed upload, the binary messages
// and the file-end the client had already sent for it are dropped silently instead of answered one by
// one, until its next file-begin or file-end.
//
// # Files over HTTP
//
// Hub.Handler serves GET and HEAD /files/{room}/{id}/{name}?key=KEY (Range requests too). Only the key
// grants access: a wrong key, an unknown room or id and a room that ended all get the same 404. Files
// come as attachments (Content-Disposition with the name quoted and RFC 5987-encoded), with
// X-Content-Type-Options: nosniff, a sandboxing Content-Security-Policy, and their announced type only
// when it is one a browser will not run (images, audio, video, PDF, plain text...; never HTML, SVG or
// script): application/octet-stream otherwise.
//
// # Lifecycle and concurrency
//
// A Hub starts no goroutines. Its files live in a directory of its own (made with os.MkdirTemp in
// Config.Dir); when the last member of a room leaves, the room's history and files go, and Close
// removes the whole directory. All methods are safe for concurrent use. Members' Deliver methods are
// called without the hub's locks but one at a time per room, in the room's message order; they must
// not block and must not call back into the Hub.
package chat
