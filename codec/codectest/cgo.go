//go:build cgo

package codectest

// cgoEnabled reports a build with cgo, in which codec constructors must not return errors.ErrUnsupported.
const cgoEnabled = true
