package metadata

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the metadata actor.
type Config struct {
	// Cluster and Shards are what the node says about itself at start;
	// wakuv1.SetLocalMetadata replaces them.
	Cluster uint32
	Shards  []uint32
	// Timeout bounds one exchange, both as client and as server.
	Timeout time.Duration
	// MaxInFlight bounds the exchanges run at once; MaxQueued the peers
	// waiting for one (beyond: not asked, counted as dropped).
	MaxInFlight int
	MaxQueued   int
}

// DefaultConfig: cluster 0, no shards, 5 s per exchange, 16 at once, 1024
// waiting.
func DefaultConfig() Config {
	return Config{Timeout: 5 * time.Second, MaxInFlight: 16, MaxQueued: 1024}
}

// Validate names every invalid field (the errors joined).
func (c Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("metadata: Timeout %s must be positive", c.Timeout))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("metadata: MaxInFlight %d must be positive", c.MaxInFlight))
	}
	if c.MaxQueued < 0 {
		errs = append(errs, fmt.Errorf("metadata: MaxQueued %d must not be negative", c.MaxQueued))
	}
	return errors.Join(errs...)
}
