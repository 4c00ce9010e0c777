package heartbeat_test

import (
	"testing"

	"github.com/peermesh/peermesh/actortest"
)

// TestCoreIsPure enforces what doc.go promises of Schedule: no clock, no
// goroutine, no I/O. The heartbeat actor is the only clock in peermesh, and
// even in it only the adapter reads the time.
func TestCoreIsPure(t *testing.T) {
	actortest.AssertPureCore(t, "schedule.go", "effects.go", "config.go")
}
