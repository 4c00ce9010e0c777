package router_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/interop"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

func connectJS(t *testing.T, n *node, js *interop.Peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.host.Connect(ctx, js.AddrInfo()); err != nil {
		t.Fatalf("connect to js: %v", err)
	}
}

func jsMesh(t *testing.T, js *interop.Peer, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := js.MeshPeers(ctx, topic)
	if err != nil {
		t.Fatalf("js mesh: %v", err)
	}
	return m
}

func hasPeer(ids [][]byte, p peer.ID) bool {
	return slices.ContainsFunc(ids, func(b []byte) bool { return peer.ID(b) == p })
}

func jsReceived(t *testing.T, js *interop.Peer, data []byte) interop.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := js.WaitFor(ctx, func(e interop.Event) bool { return e.Event == "message" && e.DataHex == hex.EncodeToString(data) })
	if err != nil {
		t.Fatalf("js did not receive %q: %v", data, err)
	}
	return e
}

func jsPublish(t *testing.T, js *interop.Peer, topic string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, topic, data); err != nil {
		t.Fatalf("js publish: %v", err)
	}
}

// TestInteropJS: a js-libp2p gossipsub peer and peermesh exchange messages
// both ways and appear in each other's mesh, in both profiles.
func TestInteropJS(t *testing.T) {
	for _, p := range []wire.Profile{wire.ProfileWaku, wire.ProfileLibp2p} {
		t.Run(p.String(), func(t *testing.T) {
			const topic = "interop"
			js := interop.Start(t, interop.Config{Profile: p.String(), Topics: []string{topic}, HeartbeatMs: 200})
			n := newNode(t, router.DefaultConfig(p))
			n.join(t, topic, nil)
			connectJS(t, n, js)
			stop := tickEvery([]*node{n}, 200*time.Millisecond)
			defer stop()
			eventually(t, 20*time.Second, "each in the other's mesh", func() error {
				if !hasPeer(n.mesh(t, topic).GetMesh(), js.ID) {
					return fmt.Errorf("js not in our mesh")
				}
				if !slices.Contains(jsMesh(t, js, topic), n.host.ID().String()) {
					return fmt.Errorf("we are not in js's mesh")
				}
				return nil
			})
			pub := n.request(t, &pubsubv1.Publish{Topic: topic, Data: []byte("from peermesh")}).(*pubsubv1.Published)
			e := jsReceived(t, js, []byte("from peermesh"))
			if e.MsgIDHex != hex.EncodeToString(pub.GetMessageId()) {
				t.Errorf("js computes id %s, we %x", e.MsgIDHex, pub.GetMessageId())
			}
			if p == wire.ProfileLibp2p && !e.Signed {
				t.Error("libp2p profile: js saw an unsigned message")
			}
			jsPublish(t, js, topic, []byte("from js"))
			actortest.FishWithin(n.sub, 20*time.Second, func(d *pubsubv1.Delivered) bool { return string(d.GetMessage().GetData()) == "from js" })
		})
	}
}

// TestInteropJSGossip: gossip works across implementations, in both profiles. Meshes of one
// hold each side's mesh peer elsewhere (A–B, J–C), so A and J are topic
// peers outside each other's mesh: a message reaches the other side only by
// IHAVE → IWANT.
func TestInteropJSGossip(t *testing.T) {
	for _, p := range []wire.Profile{wire.ProfileWaku, wire.ProfileLibp2p} {
		t.Run(p.String(), func(t *testing.T) { testInteropJSGossip(t, p) })
	}
}

func testInteropJSGossip(t *testing.T, p wire.Profile) {
	const topic = "gossip"
	no := false
	js := interop.Start(t, interop.Config{Profile: p.String(), Topics: []string{topic}, D: 1, Dlo: 1, Dhi: 1, Dout: 0,
		HeartbeatMs: 200, FloodPublish: &no})
	cfg := router.DefaultConfig(p)
	cfg.Mesh.FloodPublish = false
	one, zero := uint32(1), uint32(0)
	params := &pubsubv1.TopicParams{D: &one, DLo: &one, DHi: &one, DScore: &one, DOut: &zero}
	a, b, c := newNode(t, cfg), newNode(t, cfg), newNode(t, cfg)
	for _, n := range []*node{a, b, c} {
		n.join(t, topic, params)
	}
	stop := tickEvery([]*node{a, b, c}, 200*time.Millisecond)
	defer stop()
	connect(t, a, b)
	eventually(t, 20*time.Second, "mesh A–B", func() error {
		if !hasPeer(a.mesh(t, topic).GetMesh(), b.host.ID()) {
			return fmt.Errorf("A's mesh %v", a.mesh(t, topic).GetMesh())
		}
		return nil
	})
	connectJS(t, c, js)
	eventually(t, 20*time.Second, "mesh J–C", func() error {
		if m := jsMesh(t, js, topic); !slices.Equal(m, []string{c.host.ID().String()}) {
			return fmt.Errorf("js mesh %v", m)
		}
		return nil
	})
	connectJS(t, a, js)
	eventually(t, 20*time.Second, "A and J see each other's subscription", func() error {
		if !hasPeer(a.mesh(t, topic).GetPeers(), js.ID) {
			return fmt.Errorf("A does not see J")
		}
		return nil
	})

	// peermesh → js: A's mesh push goes to B only; J gets A's IHAVE and asks.
	a.request(t, &pubsubv1.Publish{Topic: topic, Data: []byte("gossip from A")})
	e := jsReceived(t, js, []byte("gossip from A"))
	if e.PropagationSource != a.host.ID().String() {
		t.Fatalf("js got it from %s, want A", e.PropagationSource)
	}
	// js → peermesh: J's mesh push goes to C only; A gets J's IHAVE and asks.
	jsPublish(t, js, topic, []byte("gossip from J"))
	actortest.FishWithin(a.sub, 20*time.Second, func(d *pubsubv1.Delivered) bool { return string(d.GetMessage().GetData()) == "gossip from J" })
	if hasPeer(a.mesh(t, topic).GetMesh(), js.ID) || slices.Contains(jsMesh(t, js, topic), a.host.ID().String()) {
		t.Fatal("A and J ended up in each other's mesh: the deliveries were not gossip")
	}
}
