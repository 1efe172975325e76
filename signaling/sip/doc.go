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
// Goroutines: sipgo's transport readers and its one goroutine per received message (which runs the
// request handlers below); a 2xx retransmitter per INVITE being answered (the handler itself); one
// goroutine per BYE the server sends on its own (participant removed by the MCU) and per *6 toggle. Close
// ends every call and waits for all of them.
package sip
