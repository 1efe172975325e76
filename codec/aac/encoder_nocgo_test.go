//go:build !cgo

package aac

import (
	"errors"
	"testing"
)

func TestUnsupportedWithoutCgo(t *testing.T) {
	if _, err := NewEncoder(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewEncoder() without cgo = %v, want errors.ErrUnsupported", err)
	}
}
