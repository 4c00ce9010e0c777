package heartbeat

import (
	"fmt"
	"math"
	"time"
)

// Config bounds the heartbeat actor.
type Config struct {
	// MaxRegistrations bounds the number of (target, name) registrations.
	// A Register for a new pair beyond it is rejected with an error.
	MaxRegistrations int
	// MinInterval is the shortest interval accepted; shorter ones are rejected
	// because they would keep the actor busy firing ticks nobody can consume.
	MinInterval time.Duration
	// MaxNameLength bounds a registration name in bytes, so that a bad caller
	// cannot grow the schedule's memory through its keys.
	MaxNameLength int
}

// DefaultConfig returns limits that fit a node with a few hundred topics, each
// of which registers one tick, with ample headroom.
func DefaultConfig() Config {
	return Config{
		MaxRegistrations: 4096,
		MinInterval:      time.Millisecond,
		MaxNameLength:    256,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	if c.MaxRegistrations <= 0 || c.MaxRegistrations > math.MaxUint32 {
		return fmt.Errorf("heartbeat config: MaxRegistrations must be in 1..%d, got %d", uint32(math.MaxUint32), c.MaxRegistrations)
	}
	if c.MinInterval <= 0 {
		return fmt.Errorf("heartbeat config: MinInterval must be > 0, got %s", c.MinInterval)
	}
	if c.MaxNameLength <= 0 {
		return fmt.Errorf("heartbeat config: MaxNameLength must be > 0, got %d", c.MaxNameLength)
	}
	return nil
}
