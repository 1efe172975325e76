//go:build cgo

package device

import (
	_ "github.com/pion/mediadevices/pkg/driver/microphone" // registers the capture devices (malgo: cgo)
)
