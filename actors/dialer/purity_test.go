package dialer

import (
	"testing"

	"github.com/peermesh/peermesh/actortest"
)

// TestCoreIsPure enforces what doc.go promises of the core (Pool and what it
// is built from): no goroutines, clock, I/O or actor types.
func TestCoreIsPure(t *testing.T) {
	actortest.AssertPureCore(t, "pool.go", "effects.go", "request.go", "config.go")
}
