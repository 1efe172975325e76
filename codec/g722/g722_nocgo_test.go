//go:build !cgo

package g722

import (
	"errors"
	"testing"
)

func TestUnsupportedWithoutCgo(t *testing.T) {
	if _, err := NewEncoder(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewEncoder() without cgo = %v, want errors.ErrUnsupported", err)
	}
	if _, err := NewDecoder(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewDecoder() without cgo = %v, want errors.ErrUnsupported", err)
	}
}
