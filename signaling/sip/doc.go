// Package sip is the MCU's SIP signalling: SIP user agents (desk phones, softphones, PBX trunks) call into
// a room with INVITE sip:ROOM@host over UDP or TCP, and the server calls out to SIP URIs on request.
//
// The package speaks SIP (RFC 3261, through github.com/emiago/sipgo) and SDP offer/answer over plain
// RTP/AVP (RFC 3264); the media itself (sockets, RTP/RTCP, codecs, latching, the RTP timeout, DTMF
// decoding) belongs to package mcu, reached through the Conference interface (JoinRTP and the Call it
// returns). A caller hears the room's mix-minus, is heard by the room, sees the composite if it offered
// H.264 video and appears as a tile (a name tile without video). DTMF *6 toggles the caller's mute.
//
// In a dialog the server answers INVITE, ACK, BYE, CANCEL and re-INVITE (hold, resume, codec or address
// change), and OPTIONS outside one; other methods get 405 and unparsable datagrams are dropped. Callers
// can be required to authenticate with HTTP digest (Config.Users). Server.Handler exposes dial-out over
// HTTP: POST /sip/calls {"uri": "sip:alice@example.org", "room": "r"} and DELETE /sip/calls/{id}.
//
// Hostile input. The server is exposed to anyone who can send it a datagram, so every limit below has a
// Config field, a count in Stats and a refusal that says why (a status code and a Warning header):
//   - Messages: a request missing, or repeating, a header RFC 3261 makes mandatory gets 400; a message
//     larger than Config.MaxMessageSize (16 KiB) is dropped (UDP) or ends its connection before its body
//     is read (TCP). A panic in a handler is recovered, counted and answered 500. FuzzServerRequest drives
//     raw messages through the real handlers.
//   - Floods: new INVITEs from one source IP are rate limited (Config.InviteRate, a token bucket per
//     source, at most 4096 sources tracked) with 503 and Retry-After; calls at once are bounded in all
//     (Config.MaxCalls, 503) and per source IP (Config.MaxCallsPerIP, 486). TCP connections are bounded
//     per source IP (Config.MaxTCPConnsPerIP) and closed after Config.TCPIdleTimeout without traffic
//     (keep-alive CRLFs count) unless a call runs over them.
//   - Who may call: Config.Trusted networks (trunks, PBXs) need no credentials and are exempt from the
//     per-source limits; with Config.Users everyone else must pass digest authentication; with
//     Config.RequireAuth and no Users everyone else is refused (403). Config.AllowNewRooms false refuses
//     (404) a call to a room nobody opened.
//   - Forged sources: a UDP INVITE's source can be forged, so its caller joins with its media inactive
//     and gets the negotiated directions once the ACK came back (the ACK carries our To tag, which only
//     the real source has seen); a 2xx never acknowledged within 64*T1 (32 s) hangs the call up. The media
//     itself is strict (see package mcu): nothing is sent to a caller before RTP or RTCP came from it,
//     and only from its SDP address or the IP of its signalling (mcu.RTPMedia.SignalingAddr, set from the
//     INVITE's source); a call with neither RTP nor RTCP for the MCU's RTP timeout is hung up whatever its
//     direction, hold included (RFC 3264 wants RTCP on a held stream).
//
// Refusals are logged at Debug; once a second in which anything was refused, one Warn line sums them up.
//
// Goroutines: sipgo's transport readers and its one goroutine per received message (which runs the
// request handlers below); a 2xx retransmitter per INVITE being answered (the handler itself); one
// goroutine per BYE the server sends on its own (participant removed by the MCU) and per *6 toggle; the
// refusal reporter. Close ends every call and waits for all of them.
package sip
