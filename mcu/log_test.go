package mcu_test

import (
	"log/slog"
	"sync"
	"testing"
)

// testLogger logs Info and above through t.Log while the test runs. A goroutine of pion's that is still
// winding down after the test (pion closes some of its goroutines without waiting for them) may log
// later: that is dropped, since t.Log after a test has completed panics.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(b))
	}
	return len(b), nil
}
