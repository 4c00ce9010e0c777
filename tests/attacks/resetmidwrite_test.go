package attacks

import (
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	"github.com/peermesh/peermesh/wire"
)

// TestResetMidWrite (b.45 F5): while node 0 is sending a mesh peer 1 MB
// of 100 KiB messages, the peer resets that stream 20 ms in, a frame half
// sent — a peer process that crashed and came back on the same
// connection. Node 0 leaves no stale state: its
// session reopens the stream once (the peer sees a second stream, which
// stays up, and node 0's subscriptions), the
// peer stays in the mesh without a penalty (a reset is no misbehaviour),
// and every message published afterwards reaches it whole, as well as
// every honest node.
func TestResetMidWrite(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku, attacker: attacker.Config{Join: []string{topic}}})
		target := c.meshAttacker(0)
		// 1 MB to send at 100 Mbit/s takes node 0 ~80 ms: 20 ms in, a
		// 100 KiB frame is on its way.
		published := c.PublishSized(1, 10, 100<<10)
		sim.Advance(20 * time.Millisecond)
		if !c.atk.ResetInboundStream(target) {
			t.Fatal("no stream from node 0 to reset")
		}
		c.Heartbeats(2)
		before := c.atk.Record(target)
		after := c.PublishFrom(1, 5)
		c.Heartbeats(2)
		r := c.atk.Record(target)
		t.Logf("streams from node 0: %d; reopens %v; messages to the peer after the reset: %d; score %.2f",
			r.InboundStreams, c.Metric(0, "libp2p_pubsub_outbound_reopens_total"), r.MessageCount-before.MessageCount, c.Score(0, c.atk.ID()).GetScore())
		if r.InboundStreams != 2 || !r.Subscribed[topic] {
			t.Fatalf("node 0 opened %d streams (want 2: the reset one and its replacement), subscriptions %v", r.InboundStreams, r.Subscribed)
		}
		if n := c.Metric(0, "libp2p_pubsub_outbound_reopens_total"); n != 1 {
			t.Fatalf("%v outbound reopens, want 1", n)
		}
		if !c.InMesh(0, c.atk.ID()) {
			t.Fatal("node 0 dropped the peer from its mesh after a stream reset")
		}
		if s := c.Score(0, c.atk.ID()); s.GetBehaviour() != 0 {
			t.Fatalf("a stream reset cost the peer a penalty: behaviour %.2f", s.GetBehaviour())
		}
		if got := r.MessageCount - before.MessageCount; got < len(after) {
			t.Fatalf("the peer got %d of the %d messages published after the reset", got, len(after))
		}
		if r.InboundEnded {
			t.Fatalf("the new stream ended: %s", r.InboundErr)
		}
		c.ExpectDelivered(append(published, after...), deliveryTimeout)
	})
}
