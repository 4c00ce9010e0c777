package attacks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// topic is the one topic every honest node joins.
const topic = "attack"

// honest is one peermesh router on a simulated host.
type honest struct {
	idx    int
	id     peer.ID
	cfg    router.Config
	router *actor.PID
	reg    *prometheus.Registry
	api    *actortest.Probe // answers to API requests
	sub    *actortest.Probe // the topic's local subscriber
}

// cluster is a few honest routers, fully connected, plus one attacker host.
type cluster struct {
	t     *testing.T
	nw    *sim.Network
	sys   *actor.ActorSystem
	nodes []*honest
	atk   *attacker.Attacker
	rng   *rand.Rand
	seq   int // published message counter
}

type setup struct {
	honest   int
	profile  wire.Profile
	attacker attacker.Config
}

// newCluster builds the honest nodes (each with its own DefaultConfig of the
// profile), connects them all to each other, lets two heartbeats form the
// mesh, and creates (but does not connect) the attacker on the last host.
// Call inside a synctest bubble.
func newCluster(t *testing.T, s setup) *cluster {
	t.Helper()
	nw, err := sim.New(t, sim.Config{Nodes: s.honest + 1, Latency: 10 * time.Millisecond, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, nw: nw, sys: actortest.NewSystem(t), rng: rand.New(rand.NewPCG(5, 5))}
	for i := range s.honest {
		n := &honest{idx: i, id: nw.Hosts[i].ID(), cfg: router.DefaultConfig(s.profile), reg: prometheus.NewRegistry(),
			api: actortest.NewProbe(t, c.sys), sub: actortest.NewProbe(t, c.sys)}
		n.router = c.sys.Root.Spawn(router.Props(n.cfg, router.Deps{Host: nw.Hosts[i], Registerer: n.reg}))
		t.Cleanup(func() { _ = c.sys.Root.StopFuture(n.router).Wait() })
		if j := request[*pubsubv1.Joined](n, &pubsubv1.Join{Topic: topic}); j.GetError() != "" {
			t.Fatalf("node %d join: %s", i, j.GetError())
		}
		n.sub.Request(n.router, &pubsubv1.Subscribe{Topic: topic})
		actortest.Expect[*pubsubv1.Subscribed](n.sub)
		c.nodes = append(c.nodes, n)
	}
	if _, err := nw.Topology(context.Background(), sim.Range(0, s.honest), sim.Range(0, s.honest), s.honest-1, 5); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Second)
	c.heartbeats(2)
	c.atk = attacker.New(nw.Hosts[s.honest], s.attacker)
	t.Cleanup(func() { _ = c.atk.Close() })
	return c
}

// request sends msg to n's router from n's API probe and returns the answer.
func request[T any](n *honest, msg proto.Message) T {
	n.api.Request(n.router, msg)
	return actortest.Expect[T](n.api)
}

// connectAttacker connects the attacker to node i and opens its stream; the
// router's own stream to the attacker follows.
func (c *cluster) connectAttacker(i int) peer.ID {
	c.t.Helper()
	if err := c.atk.Connect(context.Background(), c.nw.Info(i)); err != nil {
		c.t.Fatal(err)
	}
	sim.Advance(time.Second)
	return c.nodes[i].id
}

// heartbeats runs n heartbeats: a Tick to every router, then one second of
// protocol time.
func (c *cluster) heartbeats(n int) {
	for range n {
		now := timestamppb.Now()
		for _, h := range c.nodes {
			c.sys.Root.Send(h.router, &heartbeatv1.Tick{Now: now})
		}
		sim.Advance(time.Second)
	}
}

// publish publishes k fresh messages from random honest nodes and returns
// their data.
func (c *cluster) publish(k int) []string {
	c.t.Helper()
	out := make([]string, 0, k)
	for range k {
		n := c.nodes[c.rng.IntN(len(c.nodes))]
		data := fmt.Sprintf("honest-%d", c.seq)
		c.seq++
		if p := request[*pubsubv1.Published](n, &pubsubv1.Publish{Topic: topic, Data: []byte(data)}); p.GetError() != "" {
			c.t.Fatalf("node %d publish: %s", n.idx, p.GetError())
		}
		out = append(out, data)
	}
	return out
}

// expectDelivered checks that every honest node's subscriber received each
// of want, and nothing but honest messages (an attacker's message delivered
// to an application fails the test).
func (c *cluster) expectDelivered(want []string) {
	c.t.Helper()
	for _, n := range c.nodes {
		missing := map[string]bool{}
		for _, w := range want {
			missing[w] = true
		}
		for len(missing) > 0 {
			d := actortest.ExpectWithin[*pubsubv1.Delivered](n.sub, 30*time.Second)
			data := string(d.GetMessage().GetData())
			if len(data) < 7 || data[:7] != "honest-" {
				c.t.Fatalf("node %d delivered the attacker's message %q", n.idx, data)
			}
			delete(missing, data)
		}
	}
}

// score returns node i's view of p's score.
func (c *cluster) score(i int, p peer.ID) *pubsubv1.PeerScore {
	c.t.Helper()
	for _, ps := range request[*pubsubv1.Scores](c.nodes[i], &pubsubv1.GetScores{}).GetPeers() {
		if peer.ID(ps.GetPeer()) == p {
			return ps
		}
	}
	return &pubsubv1.PeerScore{Peer: []byte(p)} // unknown peers score 0
}

// inMesh reports whether p is in node i's mesh of the topic.
func (c *cluster) inMesh(i int, p peer.ID) bool {
	m := request[*pubsubv1.Mesh](c.nodes[i], &pubsubv1.GetMesh{Topic: topic})
	return slices.ContainsFunc(m.GetMesh(), func(b []byte) bool { return peer.ID(b) == p })
}

// metric returns the sum of node i's samples of a counter or gauge whose
// labels include the given ones.
func (c *cluster) metric(i int, name string, labels ...string) float64 {
	c.t.Helper()
	mfs, err := c.nodes[i].reg.Gather()
	if err != nil {
		c.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			for k := 0; k+1 < len(labels); k += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[k] && lp.GetValue() == labels[k+1])
				}
				if !found {
					continue samples
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// heap returns the live heap after a collection, for growth bounds.
func heap() uint64 {
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

// send makes the attacker send rpcs to p or fails the test.
func (c *cluster) send(p peer.ID, rpcs ...*gossipsubv1.RPC) {
	c.t.Helper()
	if err := c.atk.Send(p, rpcs...); err != nil {
		c.t.Fatal(err)
	}
}

// expectGraylisted checks node i's verdict on the attacker: score below the
// graylist threshold, out of the mesh, counted in the graylist gauge, and its
// RPCs ignored from now on (the drop counter grows with what it sends next;
// probe is an RPC that would otherwise be acted on).
func (c *cluster) expectGraylisted(i int, probe *gossipsubv1.RPC) {
	c.t.Helper()
	n, a := c.nodes[i], c.atk.ID()
	if s := c.score(i, a); s.GetScore() >= n.cfg.Mesh.Thresholds.Graylist {
		c.t.Fatalf("node %d scores the attacker %.1f (behaviour %.1f, topics %v), not below the graylist threshold %.0f",
			i, s.GetScore(), s.GetBehaviour(), s.GetTopics(), n.cfg.Mesh.Thresholds.Graylist)
	}
	c.t.Logf("node %d scores the attacker %.1f (behaviour %.1f, topics %v)", i, c.score(i, a).GetScore(), c.score(i, a).GetBehaviour(), c.score(i, a).GetTopics())
	if c.inMesh(i, a) {
		c.t.Fatalf("node %d keeps the graylisted attacker in its mesh", i)
	}
	if g := c.metric(i, "libp2p_gossipsub_graylisted_peers"); g != 1 {
		c.t.Fatalf("node %d graylist gauge %v, want 1", i, g)
	}
	before := c.metric(i, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted")
	rec := c.atk.Record(n.id)
	const k = 5
	for range k {
		c.send(n.id, probe)
	}
	c.heartbeats(1)
	if d := c.metric(i, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted") - before; d < k {
		c.t.Fatalf("node %d dropped %v RPCs of the graylisted attacker, want %d", i, d, k)
	}
	if now := c.atk.Record(n.id); now.PruneCount != rec.PruneCount || now.IWantIDs != rec.IWantIDs {
		c.t.Fatalf("node %d still answers the graylisted attacker (prunes %d → %d, iwant ids %d → %d)",
			i, rec.PruneCount, now.PruneCount, rec.IWantIDs, now.IWantIDs)
	}
}
