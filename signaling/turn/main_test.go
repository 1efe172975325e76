package turn_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (pion's listener, connection and relay loops, the
// reporter, a test client's) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
