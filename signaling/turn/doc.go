// Package turn is the MCU's embedded TURN server (RFC 8656, on github.com/pion/turn/v5): browsers behind
// restrictive firewalls reach the MCU's media through it, over UDP, TCP or TLS (turn:HOST:3478 and
// turns:HOST:5349), without the operator running coturn.
//
// # Security model
//
// A general TURN server lets anyone holding credentials send UDP anywhere from the server's address. This
// one is not an open relay; it relays only between its clients and the MCU itself:
//   - Credentials. Every Allocate, Refresh, CreatePermission and ChannelBind must carry TURN REST API
//     credentials (Credentials: "<expiry>:<identity>" and base64(HMAC-SHA1(secret, username)), coturn's
//     use-auth-secret) in the server's realm. The signalling hands them to participants it admitted; an
//     expired username, one whose expiry lies beyond Config.CredentialTTL, a malformed one or a wrong
//     password is refused (401) and counted. The expiry is checked on every request, so a relay ends at
//     the first refresh after its credential expired. The secret must be at least 16 bytes: every client
//     sees a username and its HMAC.
//   - Peer addresses. A permission (CreatePermission, ChannelBind) is granted only for a peer IP in
//     Params.Peers: the MCU's own media addresses (InterfacePeers builds them from the interfaces).
//     Loopback peers are refused unless Config.AllowLoopback. pion's permissions carry no port, so the
//     relay sockets check the port too: a datagram to, or from, a port that Peers.Port refuses, a port
//     the TURN server listens on, or the port of one of its own relay sockets is dropped and counted.
//     A client therefore cannot use the relay to reach the host's other UDP services (SIP on 5060, a DNS
//     resolver...), other hosts, the TURN server itself or another client's relay.
//   - Transports. Relays are UDP only; TCP relays (RFC 6062), which would open TCP connections to the
//     peers, are refused (508).
//   - Quotas. Config.MaxAllocations and Config.MaxAllocationsPerIP bound the allocations (486 beyond),
//     and the TCP and TLS connections (closed as accepted), in all and per client IP. A TCP or TLS
//     connection must send within 10 s of being accepted (TLS handshake included) and is closed after
//     10 minutes without a byte; a write blocked 10 s ends it.
//   - Robustness. A panic in any callback pion makes into the server (authentication, quota,
//     permissions, allocation events, relay sockets, Peers.Port) is recovered, logged with its stack and
//     counted; the request it served is refused. FuzzServer sends fuzzed datagrams, authenticated ones
//     included, to a running server.
//
// Everything refused or dropped is counted in Stats and summed up at Warn once a second in which something
// was; single refusals, and all of pion's own messages (per request, even at its Error level), are logged
// at Debug only, so a flood cannot flood the log.
//
// # Goroutines
//
// New starts nothing. Start starts pion's goroutines: one read loop per UDP listener and one accept loop
// per TCP or TLS listener, one goroutine per TCP or TLS connection and one per allocation (reading its
// relay socket), and the Server's own reporter. pion calls the Server's callbacks on them. Close closes the
// listeners, the connections and the relay sockets, and waits until pion has let go of each.
package turn
