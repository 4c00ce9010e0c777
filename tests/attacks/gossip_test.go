package attacks

import (
	"testing"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestGraftSpam: an attacker in node 0's mesh sends 10,000 GRAFTs for the
// topic. A GRAFT from a mesh member changes nothing: the attacker is in the
// mesh once, the mesh stays within Dhi, no PRUNE or penalty follows, the heap
// stays flat and honest delivery is 100 %.
func TestGraftSpam(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		c.send(target, attacker.JoinRPC(topic))
		c.Heartbeats(1)
		before := heap()
		const spam, perRPC = 10000, 1000
		var published []string
		grafts := make([]string, perRPC)
		for i := range grafts {
			grafts[i] = topic
		}
		for range spam / perRPC {
			c.send(target, attacker.GraftRPC(grafts...))
			published = append(published, c.Publish(3)...)
			c.Heartbeats(1)
		}
		m := sim.Request[*pubsubv1.Mesh](c.Nodes[0], &pubsubv1.GetMesh{Topic: topic})
		members := 0
		for _, p := range m.GetMesh() {
			if string(p) == string(c.atk.ID()) {
				members++
			}
		}
		if members != 1 || len(m.GetMesh()) > c.Nodes[0].Config.Mesh.Dhi {
			t.Fatalf("mesh of %d peers holds the attacker %d times", len(m.GetMesh()), members)
		}
		if r := c.atk.Record(target); r.PruneCount != 0 {
			t.Fatalf("GRAFT spam from a mesh member answered with %d PRUNEs", r.PruneCount)
		}
		if pen := c.Metric(0, "libp2p_gossipsub_behaviour_penalties_total"); pen != 0 {
			t.Fatalf("%v penalties for GRAFTs from a mesh member", pen)
		}
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 4<<20, "GRAFT spam")
	})
}

// TestIHaveFloodBeyondBudget (b.16 P2): every heartbeat the attacker sends
// 100 IHAVE entries of 100 bogus ids each. Node 0 accepts MaxIHaveMessages
// entries per heartbeat (the rest counted as dropped), asks for at most
// MaxIHaveLength ids per heartbeat, and the promises the attacker breaks
// cost it behaviour penalties until it is graylisted and ignored.
func TestIHaveFloodBeyondBudget(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		c.send(target, attacker.SubscribeRPC(true, topic))
		c.Heartbeats(1)
		cfg := c.Nodes[0].Config.Session
		before := heap()
		const rounds, entries, idsPerEntry = 8, 100, 100
		var published []string
		for r := range rounds {
			iwantBefore := c.atk.Record(target).IWantIDs
			ids := attacker.BogusIDs("ihave", r*entries*idsPerEntry, entries*idsPerEntry)
			c.send(target, attacker.IHaveRPC(topic, ids, idsPerEntry))
			published = append(published, c.Publish(3)...)
			c.Heartbeats(1)
			if asked := c.atk.Record(target).IWantIDs - iwantBefore; asked > cfg.MaxIHaveLength {
				t.Fatalf("round %d: node 0 asked for %d ids, budget %d per heartbeat", r, asked, cfg.MaxIHaveLength)
			}
		}
		c.Heartbeats(4) // IWantFollowupTime passes: promises broken
		if d, want := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "ihave_over_budget"), float64(0); d <= want {
			t.Fatalf("IHAVE entries over budget not dropped (%v)", d)
		}
		r := c.atk.Record(target)
		if r.IWantIDs == 0 {
			t.Fatal("node 0 never asked for an advertised id")
		}
		t.Logf("node 0 asked for %d of %d advertised ids; %v IHAVE entries dropped over budget", r.IWantIDs,
			rounds*entries*idsPerEntry, c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "ihave_over_budget"))
		c.expectGraylisted(0, attacker.IHaveRPC(topic, attacker.BogusIDs("late", 0, 10), 10))
		published = append(published, c.Publish(5)...)
		c.Heartbeats(1)
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 8<<20, "IHAVE flood")
	})
}

// TestIWantSpamUnknownIDs (b.30 P16): 50 IWANTs of 1,000 ids node 0 never
// advertised are not answered (not one message reaches the attacker). Each
// RPC is looked at only up to MaxInvalidIWant (20) unknown ids, the rest
// skipped (nim's handleIWant), and an RPC cut off that way by a peer that
// asked for more unknown ids than node 0 ever advertised to it costs a
// behaviour penalty: the spammer ends graylisted and ignored. The heap stays
// flat and delivery is 100 %.
func TestIWantSpamUnknownIDs(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		cfg := c.Nodes[0].Config.Session
		before := heap()
		const rpcs, ids = 50, 1000
		var published []string
		for k := range rpcs {
			c.send(target, attacker.IWantRPC(attacker.BogusIDs("iwant", k*ids, ids)...))
			if k%10 == 0 {
				published = append(published, c.Publish(3)...)
				c.Heartbeats(1)
			}
		}
		c.Heartbeats(1)
		if r := c.atk.Record(target); r.MessageCount != 0 {
			t.Fatalf("node 0 sent %d messages to an IWANT spammer", r.MessageCount)
		}
		looked := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "iwant_not_advertised")
		skipped := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "iwant_skipped")
		ignored := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted")
		handled := (looked + skipped) / ids
		if looked != handled*float64(cfg.MaxInvalidIWant) || handled+ignored != rpcs {
			t.Fatalf("%v ids looked up, %v skipped, %v RPCs ignored as graylisted: want %d looked up per RPC handled and every one of %d RPCs accounted for",
				looked, skipped, ignored, cfg.MaxInvalidIWant, rpcs)
		}
		pen := c.Metric(0, "libp2p_gossipsub_behaviour_penalties_total", "reason", "iwant_unsolicited")
		t.Logf("%d IWANT RPCs of %d unknown ids: %v handled (%v ids looked up, %v skipped), %v penalties, %v ignored once graylisted",
			rpcs, ids, handled, looked, skipped, pen, ignored)
		if pen != handled {
			t.Fatalf("%v penalties for %v RPCs cut off", pen, handled)
		}
		c.expectGraylisted(0, attacker.IWantRPC(attacker.BogusIDs("late", 0, ids)...))
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 4<<20, "IWANT spam")
	})
}

// TestRepeatedIWant (b.15 P1): the attacker, a subscribed peer outside node
// 0's mesh, receives node 0's IHAVE for a message and asks for it 100 times;
// node 0 sends it at most GossipRetransmission times.
func TestRepeatedIWant(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		c.send(target, attacker.SubscribeRPC(true, topic))
		c.Heartbeats(1)
		// Leave node 0's mesh for good, to be a gossip-only peer.
		c.send(target, attacker.PruneRPC(topic, 3600))
		c.Heartbeats(1)
		if c.InMesh(0, c.atk.ID()) {
			t.Fatal("attacker still in the mesh after its PRUNE")
		}
		// Published by node 1, which the attacker is not connected to, so
		// node 0 only gossips it (flood publishing is for own messages).
		published := []string{"honest-gossiped"}
		if p := sim.Request[*pubsubv1.Published](c.Nodes[1], &pubsubv1.Publish{Topic: topic, Data: []byte(published[0])}); p.GetError() != "" {
			t.Fatal(p.GetError())
		}
		var id []byte
		for range 5 {
			c.Heartbeats(1)
			if r := c.atk.Record(target); len(r.Advertised) > 0 {
				id = r.Advertised[0]
				break
			}
		}
		if id == nil {
			t.Fatal("node 0 never advertised the message to the attacker")
		}
		before := heap()
		const asks = 100
		for range asks {
			c.send(target, attacker.IWantRPC(id))
		}
		c.Heartbeats(2)
		got := 0
		for _, m := range c.atk.Record(target).Messages {
			if string(m.GetData()) == published[0] {
				got++
			}
		}
		if max := c.Nodes[0].Config.Mesh.GossipRetransmission; got == 0 || got > max {
			t.Fatalf("%d IWANTs for one id answered %d times, want 1..%d", asks, got, max)
		}
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 2<<20, "repeated IWANT")
	})
}
