// Package web is the browser page of the MCU: plain ES modules with no build step (static/), embedded with
// go:embed and served by Handler: the room page (/, /room/NAME), which speaks the WebSocket JSON signalling
// protocol at /ws, and the viewer page (/watch/NAME), which plays a room over WHEP (/whep/NAME); both
// protocols are served elsewhere (package signaling). End-to-end tests of the pages belong here too
// (e2e/: the conference, WHIP and /watch, and a SIP caller's video in the grid).
package web
