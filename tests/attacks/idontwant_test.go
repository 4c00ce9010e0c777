package attacks

import (
	"context"
	"time"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	"testing"

	"github.com/peermesh/peermesh/internal/attacker"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestIDontWantEmptyAndFreedOnDisconnect (b.21 P7): IDONTWANTs with no
// entry ids, and with an empty id, are harmless — no frame refused, no
// drop, no penalty, and the peer still gets every message node 0 forwards
// (nothing suppressed). A peer that filled its IDONTWANT state (a
// heartbeat's budget of ids, twice) and disconnects leaves nothing behind:
// its session ends, and after three such peers the heap holds at most one
// peer's worth more than before.
func TestIDontWantEmptyAndFreedOnDisconnect(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku, attacker: attacker.Config{Join: []string{topic}}})
		target := c.meshAttacker(0)
		c.send(target,
			&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{{}}}},
			&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{{MessageIDs: [][]byte{{}}}}}},
			attacker.IDontWantRPC())
		got := c.atk.Record(target).MessageCount
		published := c.PublishFrom(1, 10)
		c.Heartbeats(1)
		c.ExpectDelivered(published, deliveryTimeout)
		if n := c.atk.Record(target).MessageCount - got; n != len(published) {
			t.Fatalf("after empty IDONTWANTs the peer got %d of %d messages", n, len(published))
		}
		if r := c.Metric(0, "libp2p_pubsub_frame_rejections_total"); r != 0 {
			t.Fatalf("%v frames refused", r)
		}
		if d := c.Metric(0, "libp2p_pubsub_inbound_drops_total"); d != 0 {
			t.Fatalf("%v inbound parts dropped", d)
		}
		if s := c.Score(0, c.atk.ID()); s.GetBehaviour() != 0 {
			t.Fatalf("empty IDONTWANTs penalised: behaviour %.2f", s.GetBehaviour())
		}

		// Three peers in turn fill their IDONTWANT state (two heartbeats'
		// budget, ~1.2 MiB each) and leave. Kept, that would be ~3.6 MiB; the
		// bound allows for one (one departed session's state stays
		// reachable for a while: it does not add up) and for the simulated
		// network's links of the new hosts (~200 KiB each, freed only when
		// the simulation ends).
		sessions := c.Metric(0, "libp2p_pubsub_peers")
		before := heap()
		budget := c.Nodes[0].Config.Session.MaxIDontWantPerHeartbeat
		atk, slot := c.atk, len(c.Nodes)
		const peers = 3
		for k := range peers {
			if k > 0 {
				_ = atk.Close()
				_ = c.nw.Hosts[slot].Close()
				h, err := c.nw.Replace(slot, nil)
				if err != nil {
					t.Fatal(err)
				}
				atk = attacker.New(h, attacker.Config{})
				if err := atk.Connect(context.Background(), c.nw.Info(0)); err != nil {
					t.Fatal(err)
				}
				sim.Advance(time.Second)
			}
			for round := range 2 {
				for first := 0; first < budget; first += 1000 {
					if err := atk.Send(target, attacker.IDontWantRPC(attacker.BogusIDs("freed", round*budget+first, min(1000, budget-first))...)); err != nil {
						t.Fatal(err)
					}
				}
				c.Heartbeats(1)
			}
			if err := atk.Host().Network().ClosePeer(target); err != nil {
				t.Fatal(err)
			}
			c.Heartbeats(3)
			if s := c.Metric(0, "libp2p_pubsub_peers"); s != sessions-1 {
				t.Fatalf("%v sessions after peer %d left, %v before", s, k, sessions)
			}
		}
		t.Logf("heap: %d KiB before, %d KiB after %d peers filled their IDONTWANT state and left", before>>10, heap()>>10, peers)
		c.expectHeapGrowth(before, 2560<<10, "IDONTWANT state of departed peers")
		c.ExpectDelivered(c.Publish(5), deliveryTimeout)
	})
}
