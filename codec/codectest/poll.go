package codectest

import (
	"testing"
	"time"
)

// PollInterval is how often Poll and Eventually check.
const PollInterval = 20 * time.Millisecond

// Poll calls check every PollInterval until it returns nil or timeout has passed, and returns its last
// error (nil once it succeeded). Every package's tests share it: codectest is at the bottom of the
// import graph.
func Poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(PollInterval)
	}
}

// Eventually polls cond for up to timeout and fails the test, naming what it waited for, if it never
// held.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(PollInterval)
	}
}

// Require polls check for up to timeout and fails the test with its last error if it never returned nil.
func Require(tb testing.TB, timeout time.Duration, check func() error) {
	tb.Helper()
	if err := Poll(timeout, check); err != nil {
		tb.Fatalf("after %v: %v", timeout, err)
	}
}
