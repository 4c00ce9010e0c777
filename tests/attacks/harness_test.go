package attacks

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// topic is the one topic every honest node joins.
const topic = "attack"

// deliveryTimeout bounds the protocol time one delivery may take.
const deliveryTimeout = 30 * time.Second

// cluster is a few honest routers, fully connected, plus one attacker host.
type cluster struct {
	*sim.Routers
	t   *testing.T
	nw  *sim.Network
	atk *attacker.Attacker
}

type setup struct {
	honest   int
	profile  wire.Profile
	attacker attacker.Config
	// configure changes the honest routers' configuration (nil: defaults).
	configure func(*router.Config)
}

func (s setup) configures() []func(*router.Config) {
	if s.configure == nil {
		return nil
	}
	return []func(*router.Config){s.configure}
}

// newCluster builds the honest nodes on a simulated network (10 ms links),
// connects them all to each other, lets two heartbeats form the mesh, and
// creates (but does not connect) the attacker on the last host. Call inside
// a synctest bubble.
func newCluster(t *testing.T, s setup) *cluster {
	t.Helper()
	nw, err := sim.New(t, sim.Config{Nodes: s.honest + 1, Latency: 10 * time.Millisecond, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, nw: nw, Routers: sim.StartRouters(t, nw.Pick(sim.Range(0, s.honest)), s.profile, topic, 5, s.configures()...)}
	if _, err := nw.Topology(context.Background(), sim.Range(0, s.honest), sim.Range(0, s.honest), s.honest-1, 5); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Second)
	c.Heartbeats(2)
	c.atk = attacker.New(nw.Hosts[s.honest], s.attacker)
	t.Cleanup(func() { _ = c.atk.Close() })
	return c
}

// connectAttacker connects the attacker to node i and opens its stream; the
// router's own stream to the attacker follows.
func (c *cluster) connectAttacker(i int) peer.ID {
	c.t.Helper()
	if err := c.atk.Connect(context.Background(), c.nw.Info(i)); err != nil {
		c.t.Fatal(err)
	}
	sim.Advance(time.Second)
	return c.Nodes[i].ID
}

// meshAttacker connects the attacker (a sybil: Config.Join) to node i and
// waits until it is in node i's mesh.
func (c *cluster) meshAttacker(i int) peer.ID {
	c.t.Helper()
	target := c.connectAttacker(i)
	c.Heartbeats(2)
	if !c.InMesh(i, c.atk.ID()) {
		c.t.Fatalf("the attacker is not in node %d's mesh", i)
	}
	return target
}

// send makes the attacker send rpcs to p or fails the test.
func (c *cluster) send(p peer.ID, rpcs ...*gossipsubv1.RPC) {
	c.t.Helper()
	if err := c.atk.Send(p, rpcs...); err != nil {
		c.t.Fatal(err)
	}
}

// heap returns the live heap after two collections (the second empties
// sync.Pool's victim cache, e.g. pooled frame buffers), for growth bounds.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// expectHeapGrowth fails when the heap grew by more than limit since before.
func (c *cluster) expectHeapGrowth(before uint64, limit uint64, what string) {
	c.t.Helper()
	if after := heap(); after > before && after-before > limit {
		c.t.Errorf("%s: heap grew by %d KiB, bound %d KiB", what, (after-before)>>10, limit>>10)
	}
}

// expectGraylisted checks node i's verdict on the attacker: score below the
// graylist threshold, out of the mesh, counted in the graylist gauge, and its
// RPCs ignored from now on (the drop counter grows with what it sends next;
// probe is an RPC that would otherwise be acted on).
func (c *cluster) expectGraylisted(i int, probe *gossipsubv1.RPC) {
	c.t.Helper()
	n, a := c.Nodes[i], c.atk.ID()
	s := c.Score(i, a)
	if s.GetScore() >= n.Config.Mesh.Thresholds.Graylist {
		c.t.Fatalf("node %d scores the attacker %.1f (behaviour %.1f, topics %v), not below the graylist threshold %.0f",
			i, s.GetScore(), s.GetBehaviour(), s.GetTopics(), n.Config.Mesh.Thresholds.Graylist)
	}
	c.t.Logf("node %d scores the attacker %.1f (behaviour %.1f, topics %v)", i, s.GetScore(), s.GetBehaviour(), s.GetTopics())
	if c.InMesh(i, a) {
		c.t.Fatalf("node %d keeps the graylisted attacker in its mesh", i)
	}
	if g := c.Metric(i, "libp2p_gossipsub_graylisted_peers"); g != 1 {
		c.t.Fatalf("node %d graylist gauge %v, want 1", i, g)
	}
	before := c.Metric(i, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted")
	rec := c.atk.Record(n.ID)
	const k = 5
	for range k {
		c.send(n.ID, probe)
	}
	c.Heartbeats(1)
	if d := c.Metric(i, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted") - before; d < k {
		c.t.Fatalf("node %d dropped %v RPCs of the graylisted attacker, want %d", i, d, k)
	}
	if now := c.atk.Record(n.ID); now.PruneCount != rec.PruneCount || now.IWantIDs != rec.IWantIDs {
		c.t.Fatalf("node %d still answers the graylisted attacker (prunes %d → %d, iwant ids %d → %d)",
			i, rec.PruneCount, now.PruneCount, rec.IWantIDs, now.IWantIDs)
	}
}
