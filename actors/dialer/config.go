package dialer

import (
	"errors"
	"fmt"
	"time"
)

// Config bounds the dial pool. Every field is a limit with a metric and a
// defined behaviour when it is reached (see doc.go).
type Config struct {
	// MaxInFlight is how many dials may run at once, whoever asked. nwaku's
	// MaxParallelDials is 10; unlike nwaku, static, REST and reconnect dials
	// count against it too.
	MaxInFlight int
	// MaxQueued is how many admitted dials may wait for a free slot. A request
	// that would make the queue longer is answered REJECTED at once.
	MaxQueued int
	// MaxWaitersPerDial is how many requesters may wait on one dial (the
	// first plus those that joined it). Beyond it a request is REJECTED, so a
	// caller looping on DialPeer cannot grow a dial's waiter list without end.
	MaxWaitersPerDial int
	// MaxAddresses is how many multiaddrs one DialPeer may carry; addresses
	// often come from other peers (peer exchange), so they are bounded.
	MaxAddresses int
	// DialTimeout applies to a DialPeer whose timeout is zero (nwaku's
	// DefaultDialTimeout). It bounds the dial itself, not the time queued.
	DialTimeout time.Duration
	// MaxDialTimeout is the longest timeout a DialPeer may ask for; a longer
	// one is REJECTED as invalid, since a slot held that long starves the pool.
	MaxDialTimeout time.Duration
}

// DefaultConfig returns the limits of issue 3: 10 dials in flight, 1,000
// queued, 10 s per dial.
func DefaultConfig() Config {
	return Config{
		MaxInFlight:       10,
		MaxQueued:         1000,
		MaxWaitersPerDial: 64,
		MaxAddresses:      32,
		DialTimeout:       10 * time.Second,
		MaxDialTimeout:    time.Minute,
	}
}

// Validate reports every field that is out of range, naming it.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("dialer config: %s must be > 0, got %d", name, v))
		}
	}
	positive("MaxInFlight", c.MaxInFlight)
	positive("MaxQueued", c.MaxQueued)
	positive("MaxWaitersPerDial", c.MaxWaitersPerDial)
	positive("MaxAddresses", c.MaxAddresses)
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dialer config: DialTimeout must be > 0, got %s", c.DialTimeout))
	}
	if c.MaxDialTimeout < c.DialTimeout {
		errs = append(errs, fmt.Errorf("dialer config: MaxDialTimeout (%s) must be >= DialTimeout (%s)",
			c.MaxDialTimeout, c.DialTimeout))
	}
	return errors.Join(errs...)
}
