package attacks

import (
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	"github.com/peermesh/peermesh/wire"
)

// TestOwnPublishBurst: one node publishes ten messages of the largest size a
// Waku frame carries (149 KiB) in one burst. Flood publishing sends each to
// every peer, 1.5 MB per peer, 6 MB through the publisher's 100 Mbit/s
// uplink: about half a second, longer than a forward may wait
// (MaxForwardAge, 300 ms). Own publishes are not forwards: no other node has
// them, and with every peer in the mesh no gossip would bring back one the
// publisher shed (found by R10, docs/RELIABILITY.md). Every node gets all
// ten, and the publisher expires and drops nothing of its own.
func TestOwnPublishBurst(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 5, profile: wire.ProfileWaku})
		const size = wire.MaxFrameWaku - 1<<10
		burst := c.PublishSized(0, 10, size)
		for range 5 {
			sim.Advance(time.Second)
			c.Collect()
			c.Tick()
		}
		c.ExpectDelivered(burst, deliveryTimeout)
		for _, m := range []string{"libp2p_pubsub_queue_drops_total", "libp2p_pubsub_queue_expired_total"} {
			if n := c.Metric(0, m); n != 0 {
				t.Errorf("publisher: %s = %v, want 0 (its own publishes are not shed)", m, n)
			}
		}
		maxLatency, p99 := c.Latency(burst)
		t.Logf("10 × %d KiB in one burst: p99 %s, max %s (to 1 s)", size>>10, p99, maxLatency)
	})
}
