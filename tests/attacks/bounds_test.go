package attacks

import (
	"fmt"
	"testing"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestIDontWantFlood (b.21 P7): every heartbeat the attacker sends 40,000
// IDONTWANT ids. Node 0 takes at most MaxIDontWantPerHeartbeat of them per
// heartbeat and remembers at most MaxIDontWant; the rest are counted as over
// budget, the heap stays within what those bounds allow, and honest delivery
// is 100 %.
func TestIDontWantFlood(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		cfg := c.Nodes[0].Config.Session
		before := heap()
		// 5,000 ids of 16 bytes per RPC: 90 KB, within the Waku frame limit.
		const rounds, rpcsPerRound, entries, idsPerEntry = 6, 8, 5, 1000
		var published []string
		sent := 0
		for r := range rounds {
			for k := range rpcsPerRound {
				rpc := &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{}}
				first := (r*rpcsPerRound + k) * entries * idsPerEntry
				for e := range entries {
					ids := attacker.BogusIDs("dontwant", first+e*idsPerEntry, idsPerEntry)
					rpc.Control.Idontwant = append(rpc.Control.Idontwant, &gossipsubv1.ControlIDontWant{MessageIDs: ids})
				}
				c.send(target, rpc)
				sent += entries * idsPerEntry
			}
			published = append(published, c.Publish(3)...)
			c.Heartbeats(1)
		}
		over := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "over_budget")
		if accepted := float64(sent) - over; accepted > float64(rounds*cfg.MaxIDontWantPerHeartbeat) || accepted <= 0 {
			t.Fatalf("node 0 took %v of %d IDONTWANT ids in %d heartbeats, budget %d per heartbeat",
				accepted, sent, rounds, cfg.MaxIDontWantPerHeartbeat)
		}
		c.ExpectDelivered(published, deliveryTimeout)
		// MaxIDontWant ids of ~16 bytes in a map: about 2 MiB at most.
		c.expectHeapGrowth(before, 6<<20, "IDONTWANT flood")
	})
}

// TestSubscriptionFlood (b.25 P11): the attacker subscribes to 10,000
// distinct topics, 1,000 per RPC, then unsubscribes, three times over. Node 0
// keeps at most Limits.MaxSubscriptions topics for the peer (the rest counted
// as dropped) and ends each round without state for them: the heap returns
// to its level and honest delivery is 100 %.
func TestSubscriptionFlood(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		limit := c.Nodes[0].Config.Session.Limits.MaxSubscriptions
		const topics, perRPC, rounds = 10000, 1000, 3
		before := heap()
		var published []string
		for r := range rounds {
			for _, sub := range []bool{true, false} {
				for k := 0; k < topics; k += perRPC {
					names := make([]string, perRPC)
					for j := range names {
						names[j] = fmt.Sprintf("flood-%d-%d", r, k+j)
					}
					c.send(target, attacker.SubscribeRPC(sub, names...))
				}
				published = append(published, c.Publish(2)...)
				c.Heartbeats(1)
			}
		}
		if full, want := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "peer_topics_full"), float64(rounds*(topics-limit)); full != want {
			t.Fatalf("%v subscriptions refused over the per-peer limit %d, want %v", full, limit, want)
		}
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 2<<20, "subscription flood")
	})
}
