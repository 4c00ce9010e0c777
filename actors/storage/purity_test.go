package storage

import (
	"testing"

	"github.com/peermesh/peermesh/actortest"
)

// TestCoreIsPure enforces what doc.go promises of WriteBehind and the record
// envelope: no I/O, clock or goroutines; the backends and the actor own those.
func TestCoreIsPure(t *testing.T) {
	actortest.AssertPureCore(t, "writebehind.go", "effects.go", "record.go", "config.go")
}
