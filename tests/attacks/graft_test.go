package attacks

import (
	"fmt"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestGraftDuringBackoff (b.18 P4): the attacker joins node 0's mesh, PRUNEs
// it with a 60 s backoff and then GRAFTs again and again inside the backoff.
// Each GRAFT is answered with a PRUNE carrying the backoff and costs a
// behaviour penalty (0.1, plus 1 inside the flood threshold), so the attacker's score
// falls below the graylist threshold; from then on it is out of the mesh and
// ignored. Honest delivery stays 100 % and the heap flat.
func TestGraftDuringBackoff(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		c.send(target, attacker.JoinRPC(topic))
		c.Heartbeats(1)
		if !c.InMesh(0, c.atk.ID()) {
			t.Fatal("the attacker's GRAFT was not accepted before the attack")
		}
		before := heap()
		c.send(target, attacker.PruneRPC(topic, 60))
		var published []string
		// Each GRAFT costs 0.1 (the seed) plus 1 inside the flood threshold:
		// 32 of them reach P7 = −10·35.2² ≈ −12,400, below the graylist (−10,000).
		const grafts = 32
		for k := range grafts {
			c.send(target, attacker.GraftRPC(topic))
			if k%5 == 4 {
				published = append(published, c.Publish(5)...)
				c.Heartbeats(1)
			}
		}
		c.Heartbeats(1)
		rec := c.atk.Record(target)
		prunes := rec.PrunesOf(topic)
		if len(prunes) < grafts/2 {
			t.Fatalf("%d PRUNEs for %d GRAFTs in backoff", len(prunes), grafts)
		}
		for _, p := range prunes {
			if want := uint64(c.Nodes[0].Config.Mesh.PruneBackoff / time.Second); p.Backoff != want {
				t.Fatalf("PRUNE with backoff %d s, want %d s", p.Backoff, want)
			}
		}
		if pen := c.Metric(0, "libp2p_gossipsub_behaviour_penalties_total"); pen < grafts {
			t.Fatalf("%v behaviour penalties for %d GRAFTs in backoff (within the flood threshold: two each)", pen, grafts)
		}
		c.expectGraylisted(0, attacker.GraftRPC(topic))
		published = append(published, c.Publish(10)...)
		c.Heartbeats(2)
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 4<<20, "GRAFT during backoff")
	})
}

// TestGraftUnknownTopic (b.17 P3): GRAFTs for topics node 0 never joined,
// 10,000 distinct ones, are ignored: no PRUNE back, no penalty, no topic
// state, each counted as dropped; honest delivery is untouched.
func TestGraftUnknownTopic(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		before := heap()
		const topics, perRPC = 10000, 500
		var published []string
		for k := 0; k < topics; k += perRPC {
			names := make([]string, perRPC)
			for j := range names {
				names[j] = fmt.Sprintf("unknown-%d", k+j)
			}
			c.send(target, attacker.GraftRPC(names...))
			if k%(4*perRPC) == 0 {
				published = append(published, c.Publish(3)...)
				c.Heartbeats(1)
			}
		}
		c.Heartbeats(1)
		if d := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "graft_unknown_topic"); d != topics {
			t.Fatalf("%v unknown-topic GRAFTs counted, want %d", d, topics)
		}
		if r := c.atk.Record(target); r.PruneCount != 0 {
			t.Fatalf("node 0 answered unknown-topic GRAFTs with %d PRUNEs", r.PruneCount)
		}
		if s := c.Score(0, c.atk.ID()); s.GetScore() < 0 {
			t.Fatalf("unknown-topic GRAFTs penalised: score %v", s.GetScore())
		}
		if m := sim.Request[*pubsubv1.Mesh](c.Nodes[0], &pubsubv1.GetMesh{Topic: "unknown-7"}); m.GetError() == "" {
			t.Fatalf("node 0 has state for a topic only the attacker named: %v", m)
		}
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 4<<20, "GRAFT for unknown topics")
	})
}
