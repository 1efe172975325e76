package mixer

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (a mixer's Run, a compositor's loop) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
