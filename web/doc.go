// Package web is the browser page of the MCU: plain ES modules with no build step (static/), embedded with
// go:embed and served by Handler. The page speaks the WebSocket JSON signalling protocol at /ws, which is
// served elsewhere (package signaling). End-to-end tests of the page belong here too.
package web
