package mesh

import (
	"testing"
	"unsafe"
)

// TestSeenEntrySize: a node holds a seen entry for every message of the
// last SeenTTL (two minutes), so its size is heap per node (issue 13); the
// data only a pending message needs lives in pendingEntry.
func TestSeenEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(seenEntry{}); s > 48 {
		t.Fatalf("seenEntry is %d bytes, want at most 48", s)
	}
}
