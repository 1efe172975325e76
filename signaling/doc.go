// Package signaling will hold the wire protocols that drive package mcu: WebSocket JSON for the browser
// page, WHIP/WHEP over HTTP, and SIP. It never touches media itself.
package signaling
