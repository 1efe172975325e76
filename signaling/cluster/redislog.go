package cluster

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// SetRedisLogger sends go-redis's own messages (a line per failed dial while Redis is down, pool
// troubles) to log at Debug, instead of the standard logger's stderr: this package already logs what
// matters (Redis lost and back, leases lost) once, at Warn and Info. go-redis has one logger per process,
// so this changes it for every Redis client: call it from main, once, before New.
func SetRedisLogger(log *slog.Logger) {
	redis.SetLogger(redisLog{log})
}

// redisLog is go-redis's logging interface on slog.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
	}
}
