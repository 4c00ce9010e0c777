package sim_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/sim"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
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
	synctest.Test(t, func(t *testing.T) {
		nw, err := sim.New(t, sim.Config{Nodes: 2, Latency: 40 * time.Millisecond, Jitter: -1})
		if err != nil {
			t.Fatal(err)
		}
		cfg := router.DefaultConfig(wire.ProfileWaku)
		sys := actortest.NewSystem(t)
		// Each node has its router, a probe for API answers and a probe
		// subscribed to the topic.
		type node struct {
			router   *actor.PID
			api, sub *actortest.Probe
		}
		nodes := make([]node, 2)
		for i := range nodes {
			pid := sys.Root.Spawn(router.Props(cfg, router.Deps{Host: nw.Hosts[i], Registerer: prometheus.NewRegistry()}))
			t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
			nodes[i] = node{router: pid, api: actortest.NewProbe(t, sys), sub: actortest.NewProbe(t, sys)}
			nodes[i].api.Request(pid, &pubsubv1.Join{Topic: "t"})
			if j := actortest.Expect[*pubsubv1.Joined](nodes[i].api); j.GetError() != "" {
				t.Fatalf("join: %s", j.GetError())
			}
			nodes[i].sub.Request(pid, &pubsubv1.Subscribe{Topic: "t"})
			actortest.Expect[*pubsubv1.Subscribed](nodes[i].sub)
		}
		if err := nw.Connect(context.Background(), 0, 1); err != nil {
			t.Fatal(err)
		}
		sim.Advance(time.Second) // streams open, subscriptions exchanged
		for _, n := range nodes {
			sys.Root.Send(n.router, &heartbeatv1.Tick{Now: timestamppb.Now()})
		}
		sim.Advance(time.Second) // GRAFTs cross the 40 ms link
		for i, n := range nodes {
			n.api.Request(n.router, &pubsubv1.GetMesh{Topic: "t"})
			if m := actortest.Expect[*pubsubv1.Mesh](n.api); len(m.GetMesh()) != 1 {
				t.Fatalf("router %d mesh %d peers, want 1", i, len(m.GetMesh()))
			}
		}
		start := time.Now()
		nodes[0].api.Request(nodes[0].router, &pubsubv1.Publish{Topic: "t", Data: []byte("over simnet")})
		if p := actortest.Expect[*pubsubv1.Published](nodes[0].api); p.GetError() != "" || p.GetPeers() != 1 {
			t.Fatalf("published %v", p)
		}
		d := actortest.Fish(nodes[1].sub, func(d *pubsubv1.Delivered) bool { return string(d.GetMessage().GetData()) == "over simnet" })
		if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
			t.Fatalf("delivered after %s of virtual time, faster than the 40 ms link", elapsed)
		}
		if d.GetTopic() != "t" {
			t.Fatalf("delivered on %q", d.GetTopic())
		}
	})
}
