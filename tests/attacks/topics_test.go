package attacks

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/waku/sharding"
	"github.com/peermesh/peermesh/wire"
)

// subscribedAt reports whether node i, after joining topic t, counts p among
// the topic's subscribed peers: the behavioural check that the router kept
// (or did not keep) a subscription p announced before the join.
func (c *cluster) subscribedAt(i int, t string, p peer.ID) bool {
	c.t.Helper()
	if j := sim.Request[*pubsubv1.Joined](c.Nodes[i], &pubsubv1.Join{Topic: t}); j.GetError() != "" {
		c.t.Fatalf("node %d join %q: %s", i, t, j.GetError())
	}
	c.Heartbeats(1)
	m := sim.Request[*pubsubv1.Mesh](c.Nodes[i], &pubsubv1.GetMesh{Topic: t})
	return slices.ContainsFunc(m.GetPeers(), func(b []byte) bool { return peer.ID(b) == p })
}

// TestTopicAbuse (b.9 M9): a peer subscribes to an empty topic, to topics of
// 64 KiB (200 of them), to another cluster's shards and to strings that
// are no shard topic (non-UTF-8 among them), next to one legitimate shard
// of the node's cluster. With the waku node's subscription filter (our
// cluster's shards only), every abusive one is refused and counted by
// reason, none leaves state (joining one later shows the peer not
// subscribed, and the heap stays flat: before the topic-length bound, 1,024
// topics of 64 KiB per peer were kept), while the legitimate one is kept.
func TestTopicAbuse(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const cluster = 1
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku, configure: func(cfg *router.Config) {
			cfg.SubscriptionFilter = func(topic string) bool {
				s, err := sharding.ParseTopic(topic)
				return err == nil && s.Cluster == cluster
			}
		}})
		target := c.connectAttacker(0)
		before := heap()
		const long, rounds = 64 << 10, 100
		// Two 64 KiB topics per RPC: the Waku frame limit is 150 KiB.
		for r := range rounds {
			c.send(target, attacker.SubscribeRPC(true, attacker.LongTopic(long-r), attacker.LongTopic(long-r-rounds)))
			if r%100 == 0 {
				c.Heartbeats(1)
			}
		}
		other := sharding.Shard{Cluster: cluster + 1, Index: 3}.Topic()
		ours := sharding.Shard{Cluster: cluster, Index: 5}.Topic()
		c.send(target, attacker.SubscribeRPC(true, "", other, "not-a-shard", "\xff\xfe/waku", ours))
		var published []string
		published = append(published, c.Publish(5)...)
		c.Heartbeats(1)
		for reason, want := range map[string]float64{"empty_topic": 1, "topic_too_long": 2 * rounds, "topic_filtered": 3} {
			if got := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", reason); got != want {
				t.Errorf("inbound_drops{%s} = %v, want %v", reason, got, want)
			}
		}
		c.expectHeapGrowth(before, 4<<20, "200 subscriptions of 64 KiB topics")
		for _, refused := range []string{other, "not-a-shard"} {
			if c.subscribedAt(0, refused, c.atk.ID()) {
				t.Errorf("node 0 kept the refused subscription to %q", refused)
			}
		}
		if !c.subscribedAt(0, ours, c.atk.ID()) {
			t.Errorf("node 0 lost the subscription to its own cluster's shard %q", ours)
		}
		c.ExpectDelivered(published, deliveryTimeout)
	})
}

// TestFieldBombLeavesNoTopicState (b.5 M5): one frame of 2,000 SUBSCRIBEs
// (over the 1,024 limit) and one of 21,000 4-byte IHAVE ids (over the
// 20,000 limit, within the Waku frame) are refused whole by
// the pre-decode scan: the stream is reset and counted, and none of the
// frame's topics leaves state (joining one shows the attacker not
// subscribed). Rejecting a 1 MiB bomb costs 12–190 µs of CPU
// (BenchmarkRejectBomb in wire).
func TestFieldBombLeavesNoTopicState(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 3, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		names := make([]string, 2000)
		for i := range names {
			names[i] = fmt.Sprintf("bomb-%d", i)
		}
		ids := make([][]byte, 21000)
		for i := range ids {
			ids[i] = []byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		}
		before := c.Metric(0, "libp2p_pubsub_frame_rejections_total", "reason", "limit")
		for k, rpc := range []*gossipsubv1.RPC{attacker.SubscribeRPC(true, names...), attacker.IHaveRPC(topic, ids, len(ids))} {
			if err := c.atk.Open(t.Context(), target); err != nil {
				t.Fatal(err)
			}
			c.send(target, rpc)
			c.Heartbeats(1)
			if got := c.Metric(0, "libp2p_pubsub_frame_rejections_total", "reason", "limit") - before; got != float64(k+1) {
				t.Fatalf("bomb %d: %v frames refused over the entry limits, want %d", k, got, k+1)
			}
		}
		if r := c.atk.Record(target); r.IWantIDs != 0 {
			t.Fatalf("node 0 asked for %d ids of a refused IHAVE bomb", r.IWantIDs)
		}
		for _, name := range []string{names[0], names[1999]} {
			if c.subscribedAt(0, name, c.atk.ID()) {
				t.Errorf("node 0 kept a subscription to %q from a refused frame", name)
			}
		}
		c.ExpectDelivered(c.Publish(5), deliveryTimeout)
	})
}

// TestMessageIDFailure (b.10 M10): the topic's message-id function is an
// application's (Config.TopicMsgID) that gives no id for a message without
// payload and panics on another. The attacker's 100 such messages are
// refused — never delivered, forwarded or marked seen, counted as invalid
// and charged to it (P4, its score falls below zero) — without a panic in
// any actor; publishing one locally is refused with an error; honest
// messages keep flowing.
func TestMessageIDFailure(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		id := func(m *gossipsubv1.Message) []byte {
			switch string(m.GetData()) {
			case "":
				return nil
			case "panic":
				panic("message id: cannot hash this")
			}
			h := sha256.Sum256(m.GetData())
			return h[:]
		}
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku, configure: func(cfg *router.Config) {
			cfg.TopicMsgID = map[string]wire.MsgIDFn{topic: id}
		}})
		target := c.connectAttacker(0)
		c.send(target, attacker.JoinRPC(topic))
		c.Heartbeats(1)
		var published []string
		const bad = 100
		for k := range bad / 10 {
			rpc := &gossipsubv1.RPC{}
			for j := range 10 {
				data := []byte(nil)
				if (k+j)%2 == 1 {
					data = []byte("panic")
				}
				rpc.Publish = append(rpc.Publish, attacker.UnsignedMessage(topic, data))
			}
			c.send(target, rpc)
			published = append(published, c.Publish(2)...)
			c.Heartbeats(1)
		}
		invalid := c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "invalid_message")
		ignored := 10 * c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted")
		if invalid == 0 || invalid+ignored < bad {
			t.Fatalf("%v messages refused as invalid and %v ignored, want all %d", invalid, ignored, bad)
		}
		if s := c.Score(0, c.atk.ID()); s.GetScore() >= 0 {
			t.Fatalf("sender of messages without an id scores %.1f, want < 0 (P4)", s.GetScore())
		}
		p := sim.Request[*pubsubv1.Published](c.Nodes[1], &pubsubv1.Publish{Topic: topic, Data: []byte("panic")})
		if p.GetError() == "" {
			t.Fatal("a local publish whose id function panics was accepted")
		}
		t.Logf("%v refused as invalid, %v ignored once graylisted; local publish: %s", invalid, ignored, p.GetError())
		published = append(published, c.Publish(5)...)
		c.Heartbeats(1)
		c.ExpectDelivered(published, deliveryTimeout)
	})
}

// TestUnknownFieldsChangeNothing (b.11 M11): RPCs carrying fields this
// version does not define — on the RPC, its control message (the v1.3
// extensions field among them) and its messages — are read as if the fields
// were not there: no frame is refused, no penalty, and what the known fields
// say takes effect (the subscription, the GRAFT, a message delivered to
// every honest node), as from any interoperable peer.
func TestUnknownFieldsChangeNothing(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		join, err := attacker.UnknownFieldsFrame(attacker.JoinRPC(topic))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.atk.SendRaw(target, join); err != nil {
			t.Fatal(err)
		}
		c.Heartbeats(2)
		if !c.InMesh(0, c.atk.ID()) {
			t.Fatal("a GRAFT with unknown fields around it was not acted on")
		}
		data := sim.HonestPrefix + "from-a-newer-peer"
		msg, err := attacker.UnknownFieldsFrame(&gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Topic: proto.String(topic), Data: []byte(data)}}})
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if err := c.atk.SendRaw(target, msg); err != nil {
				t.Fatal(err)
			}
		}
		published := append([]string{data}, c.Publish(5)...)
		c.Heartbeats(2)
		if r := c.Metric(0, "libp2p_pubsub_frame_rejections_total"); r != 0 {
			t.Fatalf("%v frames refused", r)
		}
		if s := c.Score(0, c.atk.ID()); s.GetBehaviour() != 0 || s.GetScore() < 0 {
			t.Fatalf("peer with unknown fields penalised: score %.2f, behaviour %.2f", s.GetScore(), s.GetBehaviour())
		}
		if d := c.Metric(0, "libp2p_pubsub_inbound_drops_total"); d != 0 {
			t.Fatalf("%v inbound parts dropped", d)
		}
		c.ExpectDelivered(published, deliveryTimeout)
	})
}
