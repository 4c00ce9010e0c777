package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestActorsShareTheBubble: protoactor-go actor systems, peermesh routers and
// simulated hosts all run in one synctest bubble. Two routers on simulated
// hosts 40 ms apart join a topic, mesh after one heartbeat and deliver a
// message; the whole exchange takes virtual time only, and the bubble ends
// with every actor, host and link goroutine gone (synctest.Test fails
// otherwise).
func TestActorsShareTheBubble(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		nw, err := sim.New(t, sim.Config{Nodes: 2, Latency: 40 * time.Millisecond, Jitter: -1})
		if err != nil {
			t.Fatal(err)
		}
		rs := sim.StartRouters(t, nw.Pick(sim.Range(0, 2)), wire.ProfileWaku, "t", 1)
		if err := nw.Connect(context.Background(), 0, 1); err != nil {
			t.Fatal(err)
		}
		sim.Advance(time.Second) // streams open, subscriptions exchanged
		rs.Heartbeats(1)         // GRAFTs cross the 40 ms link
		for i := range rs.Nodes {
			if m := rs.Mesh(i); len(m) != 1 || m[0] != rs.Nodes[1-i].ID {
				t.Fatalf("router %d mesh %v, want the other router", i, m)
			}
		}
		start := time.Now()
		p := sim.Request[*pubsubv1.Published](rs.Nodes[0], &pubsubv1.Publish{Topic: "t", Data: []byte(sim.HonestPrefix + "over simnet")})
		if p.GetError() != "" || p.GetPeers() != 1 {
			t.Fatalf("published %v", p)
		}
		d := actortest.Expect[*pubsubv1.Delivered](rs.Nodes[1].Sub)
		if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
			t.Fatalf("delivered after %s of virtual time, faster than the 40 ms link", elapsed)
		}
		if string(d.GetMessage().GetData()) != sim.HonestPrefix+"over simnet" || d.GetTopic() != "t" {
			t.Fatalf("delivered %v", d)
		}
	})
}

// TestRoutersDeliverAndReport: five routers in a seeded topology deliver
// every published message to every node within a heartbeat (Collect,
// ExpectDelivered, Latency), and the helpers
// report what the routers say: meshes within [Dlo, Dhi], a known peer's
// score, and a metric by name and label.
func TestRoutersDeliverAndReport(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const n = 5
		nw, err := sim.New(t, sim.Config{Nodes: n, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		rs := sim.StartRouters(t, nw.Hosts, wire.ProfileWaku, "t", 3)
		if _, err := nw.Topology(context.Background(), sim.Range(0, n), sim.Range(0, n), 3, 3); err != nil {
			t.Fatal(err)
		}
		sim.Advance(time.Second)
		rs.Heartbeats(3)
		published := rs.Publish(20)
		rs.Heartbeats(1)
		rs.Collect()
		rs.ExpectDelivered(published, 10*time.Second)
		// Collected one heartbeat after publication: every delivery is
		// stamped 1 s after its publish.
		if maxL, p99 := rs.Latency(published); p99 != time.Second || maxL != time.Second {
			t.Fatalf("latency max %s p99 %s, want 1s (collected at the next heartbeat)", maxL, p99)
		}
		for i, nd := range rs.Nodes {
			if m := len(rs.Mesh(i)); m < 1 || m > nd.Config.Mesh.Dhi {
				t.Fatalf("node %d mesh of %d", i, m)
			}
			if !rs.InMesh(i, rs.Mesh(i)[0]) {
				t.Fatalf("InMesh disagrees with Mesh at node %d", i)
			}
		}
		if s := rs.Score(0, rs.Mesh(0)[0]); s.GetScore() < 0 {
			t.Fatalf("honest mesh peer scores %v", s.GetScore())
		}
		if peers := rs.Metric(0, "libp2p_pubsub_peers"); peers < 3 {
			t.Fatalf("libp2p_pubsub_peers = %v, want ≥ 3", peers)
		}
		if g := rs.Metric(0, "libp2p_gossipsub_peers_per_topic_mesh", "topic", "t"); g != float64(len(rs.Mesh(0))) {
			t.Fatalf("mesh gauge %v, mesh %d", g, len(rs.Mesh(0)))
		}
	})
}
