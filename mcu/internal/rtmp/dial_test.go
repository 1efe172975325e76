package rtmp

import (
	"context"
	"testing"
	"time"
)

// dialTimeout bounds Dial in tests.
func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
