package mcu

import "testing"

// TestCapsForTier checks that the estimated caps of each tier put a receiver exactly on that tier.
func TestCapsForTier(t *testing.T) {
	cfg := DefaultConfig()
	ts := cfg.tierSet()
	need := ts.needs()
	for i := -1; i < len(need); i++ {
		if got := ts.fit(capsForTier(need, i)); got != i {
			t.Errorf("fit(capsForTier(%d) = %+v) = %d", i, capsForTier(need, i), got)
		}
	}
	// Merged with explicit caps, the tighter wins.
	explicit := Caps{MaxWidth: 320}
	if got := ts.fit(explicit.merge(capsForTier(need, 0))); got != 2 {
		t.Errorf("320 px wide cap with the estimate allowing hd: tier %d, want 2 (ld)", got)
	}
}
