package heartbeat

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Clock is the time source. It is the only clock read in peermesh policy
// paths; the default is the system clock (virtual inside a synctest bubble).
// Tests inject one to simulate a stall without stalling the scheduler.
type Clock interface {
	Now() time.Time
}

// SystemClock reads time.Now.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// Deps are the heartbeat actor's collaborators. Every field is optional.
type Deps struct {
	// Registerer receives the actor's metrics; nil exports them nowhere
	// (never to the global registry).
	Registerer prometheus.Registerer
	// Clock defaults to SystemClock.
	Clock Clock
	// Logger defaults to the actor system's logger.
	Logger *slog.Logger
}
