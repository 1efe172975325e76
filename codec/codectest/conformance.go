package codectest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/openmcu/mcu/codec"
)

// Open calls newFn(cfg), fails tb if it returns an error, and closes the result when tb's test ends. A
// build without cgo, whose codec stubs return errors wrapping errors.ErrUnsupported, skips the test
// instead; with cgo that error fails it like any other.
//
// Typical use: enc := codectest.Open(t, h264.NewEncoder, cfg).
func Open[C any, T interface{ Close() error }](tb testing.TB, newFn func(C) (T, error), cfg C) T {
	tb.Helper()
	v, err := newFn(cfg)
	return closing(tb, fmt.Sprintf("open %+v", cfg), v, err)
}

// closing returns v, the result of a constructor, to be closed when tb's test ends; if the constructor
// returned an error, it ends the test as failOpen does, naming what was opened.
func closing[T interface{ Close() error }](tb testing.TB, what string, v T, err error) T {
	tb.Helper()
	failOpen(tb, what, err)
	tb.Cleanup(func() { v.Close() })
	return v
}

// failOpen ends tb's test when a constructor returned err: skipped for errors.ErrUnsupported in a build
// without cgo, failed otherwise. It does nothing when err is nil.
func failOpen(tb testing.TB, what string, err error) {
	tb.Helper()
	switch {
	case err == nil:
	case !cgoEnabled && errors.Is(err, errors.ErrUnsupported):
		tb.Skipf("%s: %v", what, err)
	default:
		tb.Fatalf("%s: %v", what, err)
	}
}

// InvalidConfig is one row of a CheckConfigs table: a change that turns a valid configuration of type C
// into an invalid one.
type InvalidConfig[C any] struct {
	// Name names the row's subtest.
	Name string
	// Change breaks the configuration it is given.
	Change func(*C)
	// FrameSize tells whether the error must wrap codec.ErrFrameSize (a bad picture size) or must not.
	FrameSize bool
}

// CheckConfigs checks a codec's configuration type C: valid.Validate() must succeed, and for each row of
// invalid, a copy of valid changed by the row must fail both Validate and newFn, with an error that wraps
// codec.ErrFrameSize exactly when the row says so. One subtest per row.
func CheckConfigs[C interface{ Validate() error }, T interface{ Close() error }](t *testing.T, valid C, newFn func(C) (T, error), invalid []InvalidConfig[C]) {
	t.Helper()
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(%+v) of the valid configuration = %v", valid, err)
	}
	for _, tt := range invalid {
		t.Run(tt.Name, func(t *testing.T) {
			c := valid
			tt.Change(&c)
			err := c.Validate()
			if err == nil || errors.Is(err, codec.ErrFrameSize) != tt.FrameSize {
				t.Errorf("Validate(%+v) = %v, want an error (ErrFrameSize: %v)", c, err, tt.FrameSize)
			}
			if v, err := newFn(c); err == nil {
				v.Close()
				t.Errorf("constructor accepted %+v", c)
			}
		})
	}
}
