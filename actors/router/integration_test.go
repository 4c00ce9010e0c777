package router_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

func TestTwoHostsExchangeMessages(t *testing.T) {
	for _, p := range []wire.Profile{wire.ProfileWaku, wire.ProfileLibp2p} {
		t.Run(p.String(), func(t *testing.T) {
			a, b := newNode(t, router.DefaultConfig(p)), newNode(t, router.DefaultConfig(p))
			a.join(t, "t", nil)
			b.join(t, "t", nil)
			connect(t, a, b)
			eventually(t, 10*time.Second, "b subscribed at a", func() error {
				if m := a.mesh(t, "t"); len(m.GetPeers()) != 1 {
					return fmt.Errorf("a sees %d peers", len(m.GetPeers()))
				}
				return nil
			})
			a.tick()
			b.tick()
			eventually(t, 10*time.Second, "mesh", func() error {
				if len(a.mesh(t, "t").GetMesh()) != 1 || len(b.mesh(t, "t").GetMesh()) != 1 {
					return fmt.Errorf("meshes %v %v", a.mesh(t, "t").GetMesh(), b.mesh(t, "t").GetMesh())
				}
				return nil
			})
			pub := a.request(t, &pubsubv1.Publish{Topic: "t", Data: []byte("hello")}).(*pubsubv1.Published)
			if pub.GetError() != "" || pub.GetPeers() != 1 {
				t.Fatalf("published %v", pub)
			}
			d := actortest.Fish(b.sub, func(d *pubsubv1.Delivered) bool { return bytes.Equal(d.GetMessage().GetData(), []byte("hello")) })
			if !bytes.Equal(d.GetMessageId(), pub.GetMessageId()) {
				t.Fatalf("ids differ: %x vs %x", d.GetMessageId(), pub.GetMessageId())
			}
		})
	}
}

// TestTwentyHosts runs 20 real hosts in a seeded random topology (each node
// dials 6 others): meshes within [Dlo, Dhi] after 3 heartbeats, 1,000
// messages from random publishers reach every subscriber, a fanout publish
// from a non-subscriber arrives, and a late joiner gets recent messages
// through gossip (IHAVE → IWANT).
func TestTwentyHosts(t *testing.T) {
	const (
		n        = 20
		topic    = "mesh"
		late     = n - 2 // joins late, with a mesh of one
		outsider = n - 1 // never joins: publishes through the fanout
		messages = 1000
	)
	msgs := messages
	if testing.Short() {
		msgs = 200
	}
	cfg := router.DefaultConfig(wire.ProfileWaku)
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = newNode(t, cfg)
	}
	for i := range late {
		nodes[i].join(t, topic, nil)
	}
	nb := randomTopology(t, nodes, 6, 1)
	subscribed := func(i int) int {
		c := 0
		for j := range nb[i] {
			if j < late {
				c++
			}
		}
		return c
	}
	eventually(t, 20*time.Second, "subscriptions known", func() error {
		for i := range late {
			if got, want := len(nodes[i].mesh(t, topic).GetPeers()), subscribed(i); got != want {
				return fmt.Errorf("node %d sees %d subscribed peers, want %d", i, got, want)
			}
		}
		return nil
	})
	for range 3 {
		for _, nd := range nodes {
			nd.tick()
		}
		for _, nd := range nodes {
			nd.mesh(t, topic) // barrier: each router and topic actor handled the tick
		}
	}
	dlo, dhi := cfg.Mesh.Dlo, cfg.Mesh.Dhi
	eventually(t, 10*time.Second, "meshes within [Dlo, Dhi]", func() error {
		for i := range late {
			if m := len(nodes[i].mesh(t, topic).GetMesh()); m < dlo || m > dhi {
				return fmt.Errorf("node %d mesh %d not in [%d, %d]", i, m, dlo, dhi)
			}
		}
		return nil
	})

	// 1,000 messages from random publishers; every subscriber gets each.
	rng := rand.New(rand.NewPCG(2, 2))
	pubProbe := make([]*actortest.Probe, late)
	for i := range late {
		pubProbe[i] = actortest.NewProbe(t, nodes[i].sys)
	}
	for k := range msgs {
		i := rng.IntN(late)
		pubProbe[i].Request(nodes[i].router, &pubsubv1.Publish{Topic: topic, Data: fmt.Appendf(nil, "msg-%d", k)})
	}
	stop := tickEvery(nodes, 300*time.Millisecond)
	for i := range late {
		got := map[string]bool{}
		for len(got) < msgs {
			d := actortest.ExpectWithin[*pubsubv1.Delivered](nodes[i].sub, 30*time.Second)
			got[string(d.GetMessage().GetData())] = true
		}
	}
	stop()

	// Fanout: the outsider publishes without joining.
	pub := nodes[outsider].request(t, &pubsubv1.Publish{Topic: topic, Data: []byte("fanout")}).(*pubsubv1.Published)
	if pub.GetError() != "" || pub.GetPeers() == 0 {
		t.Fatalf("fanout publish: %v", pub)
	}
	for i := range late {
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, ok := nodes[i].sub.Next(time.Until(deadline))
			if !ok {
				t.Errorf("node %d (neighbour of outsider: %v, mesh %d) did not get the fanout message", i, nb[outsider][i], len(nodes[i].mesh(t, topic).GetMesh()))
				break
			}
			if d, isD := r.Message.(*pubsubv1.Delivered); isD && string(d.GetMessage().GetData()) == "fanout" {
				break
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Late joiner: recent messages, published before it joined, arrive by gossip.
	const recent = 20
	for k := range recent {
		nodes[k%late].request(t, &pubsubv1.Publish{Topic: topic, Data: fmt.Appendf(nil, "recent-%d", k)})
	}
	nodes[late].join(t, topic, &pubsubv1.TopicParams{D: u32(1), DLo: u32(1), DHi: u32(1), DScore: u32(1), DOut: u32(0), DLazy: u32(1)})
	eventually(t, 10*time.Second, "late joiner known to its neighbours", func() error {
		for j := range nb[late] {
			if j >= late {
				continue
			}
			found := false
			for _, p := range nodes[j].mesh(t, topic).GetPeers() {
				found = found || peer.ID(p) == nodes[late].host.ID()
			}
			if !found {
				return fmt.Errorf("node %d does not see the late joiner", j)
			}
		}
		return nil
	})
	stop = tickEvery(nodes, 200*time.Millisecond)
	defer stop()
	got := map[string]bool{}
	for len(got) < recent {
		d := actortest.ExpectWithin[*pubsubv1.Delivered](nodes[late].sub, 20*time.Second)
		if data := string(d.GetMessage().GetData()); len(data) > 7 && data[:7] == "recent-" {
			got[data] = true
		}
	}
}

// tickEvery sends a heartbeat Tick to every node at interval until stopped.
func tickEvery(nodes []*node, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				for _, nd := range nodes {
					nd.tick()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func u32(v uint32) *uint32 { return &v }

// TestSessionsRecoverFromResetStreams: when the pubsub streams between two
// connected peers are reset, both sides restart their sessions (new streams,
// new hellos) and messages flow again.
func TestSessionsRecoverFromResetStreams(t *testing.T) {
	a, b := newNode(t, router.DefaultConfig(wire.ProfileWaku)), newNode(t, router.DefaultConfig(wire.ProfileWaku))
	a.join(t, "t", nil)
	b.join(t, "t", nil)
	connect(t, a, b)
	meshed := func() error {
		if !hasPeer(a.mesh(t, "t").GetMesh(), b.host.ID()) || !hasPeer(b.mesh(t, "t").GetMesh(), a.host.ID()) {
			return fmt.Errorf("not meshed")
		}
		return nil
	}
	stop := tickEvery([]*node{a, b}, 100*time.Millisecond)
	defer stop()
	eventually(t, 10*time.Second, "mesh", meshed)
	for _, c := range b.host.Network().ConnsToPeer(a.host.ID()) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == wire.ProtocolWakuRelay {
				_ = s.Reset()
			}
		}
	}
	eventually(t, 20*time.Second, "delivery after the reset", func() error {
		a.request(t, &pubsubv1.Publish{Topic: "t", Data: []byte(time.Now().String())})
		if r, ok := b.sub.Next(200 * time.Millisecond); !ok || r.Message.(*pubsubv1.Delivered) == nil {
			return fmt.Errorf("nothing delivered")
		}
		return meshed()
	})
}
