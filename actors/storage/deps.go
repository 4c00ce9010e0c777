package storage

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what the storage actor is given rather than creates.
type Deps struct {
	// Backend holds the records; required. The caller opened it (usually
	// with Open) and closes it after the actor has stopped, so a restarted
	// actor keeps using the same file.
	Backend Backend
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger; nil means the actor system's logger.
	Logger *slog.Logger
	// Heartbeat, when set, is asked at start for a Tick named
	// Config.TickName every Config.FlushInterval. Without it the owner
	// sends the Ticks (tests do).
	Heartbeat *actor.PID
}
