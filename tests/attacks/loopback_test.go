package attacks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/sim"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// eventually re-checks cond every 20 ms (a ticker, not a sleep) until it
// holds or d of wall time passes; before each re-check it ticks the routers,
// so heartbeat-driven state (scores, graylist) moves on.
func eventually(t *testing.T, rs *sim.Routers, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		<-tk.C
		rs.Tick()
	}
}

// loopbackPair starts two routers on real hosts on 127.0.0.1, node 1
// connected to node 0.
func loopbackPair(t *testing.T, ctx context.Context, configure ...func(*router.Config)) ([]host.Host, *sim.Routers) {
	t.Helper()
	hosts := []host.Host{sim.LoopbackHost(t), sim.LoopbackHost(t)}
	rs := sim.StartRouters(t, hosts, wire.ProfileWaku, topic, 9, configure...)
	if err := hosts[1].Connect(ctx, peer.AddrInfo{ID: hosts[0].ID(), Addrs: hosts[0].Addrs()}); err != nil {
		t.Fatal(err)
	}
	return hosts, rs
}

// loopbackAttacker connects an attacker on its own loopback host to h and
// waits for the router's own stream and hello.
func loopbackAttacker(t *testing.T, ctx context.Context, h host.Host) (*attacker.Attacker, peer.ID) {
	t.Helper()
	a := attacker.New(sim.LoopbackHost(t), attacker.Config{})
	t.Cleanup(func() { _ = a.Close() })
	if err := a.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitFor(ctx, h.ID(), func(r attacker.Record) bool { return r.Subscribed[topic] }); err != nil {
		t.Fatal(err)
	}
	return a, h.ID()
}

// TestGraftDuringBackoffLoopback is TestGraftDuringBackoff on real go-libp2p
// hosts on 127.0.0.1 (TCP, Noise, Yamux), bounded in wall time: the attacker
// receives the router's own stream and subscriptions, each of its GRAFTs
// during the backoff it asked for is answered with a PRUNE, and once a
// heartbeat has scored the penalties it is graylisted and ignored while the
// honest nodes keep delivering.
func TestGraftDuringBackoffLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hosts, rs := loopbackPair(t, ctx)
	a, target := loopbackAttacker(t, ctx, hosts[0])
	if err := a.Send(target, attacker.JoinRPC(topic)); err != nil {
		t.Fatal(err)
	}
	eventually(t, rs, 10*time.Second, "attacker and node 1 in node 0's mesh", func() error {
		if !rs.InMesh(0, a.ID()) || !rs.InMesh(0, rs.Nodes[1].ID) {
			return fmt.Errorf("mesh %v", rs.Mesh(0))
		}
		return nil
	})

	if err := a.Send(target, attacker.PruneRPC(topic, 60)); err != nil {
		t.Fatal(err)
	}
	// Each GRAFT costs 0.1 (the seed) plus 1 inside the flood threshold:
	// 32 of them reach P7 = −10·35.2² ≈ −12,400, below the graylist (−10,000).
	const grafts = 32
	for range grafts {
		if err := a.Send(target, attacker.GraftRPC(topic)); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := a.WaitFor(ctx, target, func(r attacker.Record) bool { return len(r.PrunesOf(topic)) >= grafts })
	if err != nil {
		t.Fatalf("PRUNEs for GRAFTs in backoff: %v", err)
	}
	graylist := rs.Nodes[0].Config.Mesh.Thresholds.Graylist
	// The gauge moves in the heartbeat that tells the session, so once it
	// shows the attacker every later RPC of it meets a graylisting session.
	eventually(t, rs, 10*time.Second, "attacker graylisted", func() error {
		if s, g := rs.Score(0, a.ID()), rs.Metric(0, "libp2p_gossipsub_graylisted_peers"); s.GetScore() >= graylist || g != 1 {
			return fmt.Errorf("score %.1f, graylist %.0f, gauge %v", s.GetScore(), graylist, g)
		}
		return nil
	})
	rec = a.Record(target)
	if rs.InMesh(0, a.ID()) {
		t.Fatal("graylisted attacker still in the mesh")
	}
	// Ignored from now on: its GRAFTs are dropped unanswered.
	dropped := rs.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted")
	if err := a.Send(target, attacker.GraftRPC(topic)); err != nil {
		t.Fatal(err)
	}
	eventually(t, rs, 10*time.Second, "GRAFT of the graylisted attacker dropped", func() error {
		if d := rs.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted"); d <= dropped {
			return fmt.Errorf("graylisted drops %v", d)
		}
		return nil
	})
	if now := a.Record(target); now.PruneCount != rec.PruneCount {
		t.Fatalf("node 0 answered the graylisted attacker: %d PRUNEs, then %d", rec.PruneCount, now.PruneCount)
	}
	// Honest traffic both ways still flows.
	published := rs.Publish(10)
	rs.ExpectDelivered(published, 10*time.Second)
	if p := sim.Request[*pubsubv1.Published](rs.Nodes[1], &pubsubv1.Publish{Topic: topic, Data: []byte(sim.HonestPrefix + "last")}); p.GetError() != "" {
		t.Fatal(p.GetError())
	}
	rs.ExpectDelivered([]string{sim.HonestPrefix + "last"}, 10*time.Second)
}
