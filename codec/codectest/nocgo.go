//go:build !cgo

package codectest

// cgoEnabled reports a build with cgo; without it, the codecs' stubs return errors.ErrUnsupported and
// the checks that need them are skipped.
const cgoEnabled = false
