// Package web will hold the browser page (plain ES modules, no build step), embedded with go:embed and
// served by cmd/mcu, and its end-to-end tests.
package web
