package actortest_test

import (
	"testing"
	"time"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
)

func TestCounterWaitFor(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		var c actortest.Counter
		go func() {
			for range 5 {
				time.Sleep(time.Second) // a slow producer, in virtual time
				c.Add(2)
			}
		}()
		start := time.Now()
		if !c.WaitFor(6, time.Minute) || time.Since(start) != 3*time.Second {
			t.Fatalf("reached 6 after %s (count %d), want 3 s", time.Since(start), c.Load())
		}
		if c.WaitFor(100, 5*time.Second) {
			t.Fatal("WaitFor(100) reported reached with a count of 10 at most")
		}
		if got := c.Load(); got != 10 {
			t.Fatalf("count %d, want 10", got)
		}
		if !c.WaitFor(10, 0) {
			t.Fatal("a reached target must return at once")
		}
	})
}
