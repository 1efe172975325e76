// Package rtmp publishes a room's output (H.264 and AAC) to an RTMP or RTMPS server (YouTube, Twitch,
// nginx-rtmp, mediamtx, ...) on gortmplib's protocol packages, and holds the Backoff that paces
// reconnections.
//
// A Publisher is one connection: Dial connects, performs the RTMP handshake, connect and publish, and
// returns once the server has accepted the stream. WriteVideo takes H.264 access units in Annex-B form
// and sends them in the AVCC form RTMP carries, after an AVC sequence header built from the first IDR's
// SPS and PPS; WriteAudio sends AAC access units after an AAC sequence header built from the
// AudioSpecificConfig. Every write has a deadline, so a receiver that stops reading cannot block the
// caller for longer than Config.WriteTimeout. A lost connection is reported by the next write, by Done
// and by Err; the caller then closes the Publisher and dials again after Backoff's delay. Nothing is
// retried inside: a Publisher never reconnects by itself.
//
// One goroutine per Publisher reads what the server sends (acknowledgements, pings) so that the
// connection's receive buffer never fills and a closed connection is noticed at once; it never writes:
// answers to pings go out with the next media write, which keeps every write on the caller's goroutine
// and needs no lock around the socket.
package rtmp
