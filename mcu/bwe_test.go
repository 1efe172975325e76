package mcu

import "testing"

// TestCapsForTier checks that the estimated caps of each tier put a receiver exactly on that tier.
func TestCapsForTier(t *testing.T) {
	cfg := DefaultConfig()
	need := cfg.tierNeeds()
	for i := -1; i < len(need); i++ {
		if got := cfg.tierFor(capsForTier(need, i)); got != i {
			t.Errorf("tierFor(capsForTier(%d) = %+v) = %d", i, capsForTier(need, i), got)
		}
	}
	// Merged with explicit caps, the tighter wins.
	explicit := Caps{MaxWidth: 320}
	if got := cfg.tierFor(explicit.merge(capsForTier(need, 0))); got != 2 {
		t.Errorf("320 px wide cap with the estimate allowing hd: tier %d, want 2 (ld)", got)
	}
}
