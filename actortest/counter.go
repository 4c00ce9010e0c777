package actortest

import (
	"sync"
	"time"
)

// Counter counts events reported from any goroutine (a fake stream's bytes,
// messages reaching a sink actor) and lets a test or benchmark wait until
// the count reaches a target — an explicit event instead of polling with
// sleeps. The zero value is ready; it is safe for concurrent use.
type Counter struct {
	mu      sync.Mutex
	n       int64
	waiters []counterWaiter
}

type counterWaiter struct {
	target  int64
	reached chan struct{}
}

// Add adds d and wakes every waiter whose target is reached.
func (c *Counter) Add(d int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if c.n >= w.target {
			close(w.reached)
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

// Load returns the count.
func (c *Counter) Load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// WaitFor blocks until the count is at least target or d passes, and
// reports which. In a synctest bubble d is virtual time.
func (c *Counter) WaitFor(target int64, d time.Duration) bool {
	c.mu.Lock()
	if c.n >= target {
		c.mu.Unlock()
		return true
	}
	w := counterWaiter{target: target, reached: make(chan struct{})}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-w.reached:
		return true
	case <-timer.C:
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.waiters {
			if x.reached == w.reached {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				break
			}
		}
		return c.n >= target
	}
}
