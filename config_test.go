package peermesh

import "testing"

// The peer store capacity 0 resolves to nwaku's 5 × max-connections, here
// only: cmd/node passes the setting through unresolved.
func TestPeerStoreCapacityDefaultsToFiveTimesMaxConnections(t *testing.T) {
	c := DefaultConfig()
	c.MaxConnections = 50
	if got := c.peerStoreCapacity(); got != 250 {
		t.Fatalf("peer store capacity = %d, want 5 × 50", got)
	}
	c.PeerStoreCapacity = 70
	if got := c.peerStoreCapacity(); got != 70 {
		t.Fatalf("peer store capacity = %d, want the configured 70", got)
	}
}
