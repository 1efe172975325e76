// Package signaling holds the wire protocols that drive package mcu. It never touches media itself: no
// RTP, no mixer, no codec. It has the WebSocket JSON protocol of the browser page (web/static/signaling.js
// and app.js) and WHIP/WHEP over HTTP (WHIPHandler, RFC 9725); SIP is in the subpackage sip.
//
// # WebSocket protocol
//
// The server mounts a WebSocketHandler at /ws. Every frame is a JSON text message with a "type"; one
// socket carries at most one participant, and the server handles a socket's messages strictly in order.
//
// Client to server:
//
//	{"type":"join","room":"R","name":"N","layout":"grid"|"speaker","maxKbps":N,"token":"JWT"}
//	                                      layout, maxKbps optional; token when the server has API keys (or
//	                                      ?access_token= on the socket's URL); name optional with a token
//	{"type":"offer","sdp":"..."}          the server replies {"type":"answer","sdp":"..."}
//	{"type":"answer","sdp":"..."}         reply to a server offer
//	{"type":"candidate","candidate":{"candidate":"...","sdpMid":"0","sdpMLineIndex":0}}
//	{"type":"candidate","candidate":null} end of candidates (ignored)
//	{"type":"mute","audio":bool,"video":bool}   true = muted
//	{"type":"layout","layout":"grid"|"speaker"}
//	{"type":"caps","maxKbps":N,"maxWidth":W,"maxHeight":H,"maxFrameRate":F}   limits on the video received
//	                                      (all optional, 0 = none; maxKbps in join is the same cap); the
//	                                      server moves the participant to the best tier that fits, or to
//	                                      audio only
//	{"type":"record","on":bool}           start or stop the room's recording (needs roomRecord or roomAdmin)
//	{"type":"screen","on":true,"stream":"MSID"}   present the video track in MediaStream MSID (a second
//	                                      video section of the offer, from getDisplayMedia) to the room;
//	                                      one presenter per room, a new share takes over
//	{"type":"screen","on":false}          stop presenting
//	{"type":"pin","id":"PID"}             show participant PID large for this client ("" unpins)
//	{"type":"leave"}                      the participant leaves; the server closes the socket (1000)
//
// Server to client:
//
//	{"type":"joined","id":"PID","room":"R","name":"N","iceServers":[{"urls":[...],"username":..,"credential":..}],
//	 "participants":[{"id","name","audioMuted","videoMuted","speaking","viewer"}]}   the others already there;
//	                                      name is the one the room sees (the token's when there is one);
//	                                      viewer (only when true) marks a WHEP or /watch viewer
//	{"type":"answer","sdp":"..."}, {"type":"offer","sdp":"..."}, {"type":"candidate","candidate":{...}}
//	{"type":"participant-joined","participant":{"id","name","audioMuted","videoMuted","speaking"}}
//	{"type":"participant-left","id":"..."}
//	{"type":"speaking","id":"...","speaking":bool}
//	{"type":"muted","id":"...","audio":bool,"video":bool}
//	{"type":"room","recording":bool,"streaming":bool,"presenter":"PID","presenterName":"N"}   the room's
//	                                      state (presenter only while someone presents; also in "joined")
//	{"type":"error","code":"...","message":"..."}
//	{"type":"quality","tier":"hd|sd|ld|audio-only","limit":"caps|bandwidth|cpu|","estimatedKbps":N,"sentKbps":N,
//	 "lossPct":N,"keyframeRequests":N,"keyframesForced":N}   every second while joined: the downstream link
//
// Error codes (ErrorCode): bad-json, unknown-type, bad-message (a missing or mistyped field, a bad room or
// display name, a binary frame), not-joined, already-joined, room-full, server-full (too many rooms or
// participants on the server), bad-sdp (the MCU rejected an offer, answer or candidate), rate-limited (a
// message over the client's rate was ignored), unauthorized (a missing or bad room access token),
// token-expired, forbidden (a token for another room or without the grant), moved (several servers
// share rooms and another serves this one: the error's "url" is its WebSocket, where the client joins
// instead), unavailable (the cluster cannot place the room now), internal. A client mistake
// gets an error message and the socket stays open; a token refusal keeps it open too, but the page stops.
// When the MCU removes the participant (its media connection failed, or the MCU closed) the client gets
// an "internal" error and the server closes the socket (1000, or 1001 on shutdown).
//
// Chat and shared files do not go over the socket: the page opens a data channel labelled "chat" on its
// peer connection, and the messages on it are package chat's protocol (a WHEP viewer's channel is
// read-only).
//
// # Connections
//
// Each socket has one reader (the HTTP handler's goroutine), which decodes and handles the messages and
// calls the MCU, and one writer goroutine, which drains a bounded queue (WebSocketConfig.QueueSize, 100)
// with a write deadline (500 ms) and pings the client (every 5 s, 5 s timeout). The MCU's callbacks only
// queue; a client whose queue overflows, whose write times out or who misses a pong is dropped (counted
// in WebSocketStats.Dropped). State messages (speaking, muted, quality) are coalesced per subject while
// queued: a client that is behind gets the latest state, not every change. Each client has a token bucket
// (WebSocketConfig.MessageRate, MessageBurst): a message beyond it is ignored and answered rate-limited
// (once a second); AbuseLimit such messages in 10 s close the socket (1008). Whenever the socket closes,
// for whatever reason (a recovered panic on either goroutine included), the participant leaves exactly
// once and both goroutines end before ServeHTTP returns.
//
// # Origins
//
// Browsers may open a WebSocket to any site, so the handler checks the Origin header (coder/websocket's
// OriginPatterns): the server's own page (Origin host equal to the request's Host) is always accepted,
// and DefaultWebSocketConfig also allows localhost, 127.0.0.1 and [::1] on any port (cmd/mcu replaces
// those with -allowed-origins: the server's own origin only unless told otherwise);
// WebSocketConfig.OriginPatterns configures the rest. The check is never switched off (InsecureSkipVerify), since any web page could
// then join rooms from its visitors' browsers.
package signaling
