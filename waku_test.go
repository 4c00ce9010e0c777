package peermesh

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/sim"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/message"
	"github.com/peermesh/peermesh/waku/metadata"
	"github.com/peermesh/peermesh/waku/sharding"
)

// waitUntil polls cond every 50 ms for at most d (integration tests on real
// hosts cannot move the clock).
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		<-tick.C
	}
}

// TestRelayAppliesWakuMessageRules: a peer relaying WakuMessages that break
// the rules is treated as Waku peers treat it — a message every
// implementation rejects (meta over 64 bytes, no content topic, not a
// WakuMessage) charges it an invalid delivery (P4, −100 × count²); an empty
// payload, on which implementations disagree, is dropped without a penalty;
// a valid message is delivered. Real hosts on loopback.
func TestRelayAppliesWakuMessageRules(t *testing.T) {
	const topic = "/waku/2/rs/0/0"
	cfg := DefaultConfig()
	cfg.Name = "rules"
	cfg.PubsubTopics = []string{topic}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	sys := actortest.NewSystem(t)
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		t.Fatal(err)
	}
	sub := actortest.NewProbe(t, sys)
	sub.Request(pid, &apiv1.Subscribe{Topic: topic})
	if s := actortest.Expect[*apiv1.Subscribed](sub); s.GetError() != "" {
		t.Fatal(s.GetError())
	}

	atk := attacker.New(sim.LoopbackHost(t), attacker.Config{})
	t.Cleanup(func() { _ = atk.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := atk.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := atk.Open(ctx, n.ID()); err != nil {
		t.Fatal(err)
	}
	if err := atk.Send(n.ID(), attacker.SubscribeRPC(true, topic)); err != nil {
		t.Fatal(err)
	}
	wm := func(m *wakuv1.WakuMessage) []byte {
		b, _ := proto.Marshal(m)
		return b
	}
	send := func(data []byte) {
		t.Helper()
		if err := atk.Send(n.ID(), attacker.PublishRPC(attacker.UnsignedMessage(topic, data))); err != nil {
			t.Fatal(err)
		}
	}
	p4 := func() float64 {
		scores, err := n.Scores(context.Background())
		if err != nil {
			return 0
		}
		for _, s := range scores {
			if s.GetPeerId() == atk.ID().String() {
				for _, ts := range s.GetTopics() {
					return ts.GetInvalidMessageDeliveries()
				}
			}
		}
		return 0
	}
	invalid := func(rule, outcome string) float64 {
		return testutil.ToFloat64(n.metrics.invalid.WithLabelValues(rule, outcome))
	}

	send(wm(&wakuv1.WakuMessage{ContentTopic: "/app/1/chat/proto"})) // empty payload: ignored
	waitUntil(t, 10*time.Second, "empty payload counted", func() bool { return invalid("payload", "ignore") == 1 })
	if got := p4(); got != 0 {
		t.Fatalf("P4 after an ignored message = %v, want 0", got)
	}
	for _, c := range []struct {
		rule string
		data []byte
	}{
		{"meta", wm(&wakuv1.WakuMessage{Payload: []byte("x"), ContentTopic: "/app/1/chat/proto", Meta: make([]byte, 65)})},
		{"content_topic", wm(&wakuv1.WakuMessage{Payload: []byte("y")})},
		{"decode", []byte{0xff, 0xff, 0xff}},
	} {
		send(c.data)
		waitUntil(t, 10*time.Second, fmt.Sprintf("rejection by rule %s", c.rule), func() bool { return invalid(c.rule, "reject") == 1 })
	}
	// The score is refreshed on the router's heartbeat (1 s).
	waitUntil(t, 10*time.Second, "P4 charged to the sender", func() bool { return p4() < 0 })
	good := &wakuv1.WakuMessage{Payload: []byte("ok"), ContentTopic: "/app/1/chat/proto", Timestamp: proto.Int64(1)}
	send(wm(good))
	got := actortest.Fish(sub, func(*apiv1.MessageReceived) bool { return true })
	if got.GetMessageHash() != message.HashOf(topic, good).String() || string(got.GetData()) != string(wm(good)) {
		t.Fatalf("delivered %v", got)
	}
	sub.ExpectNoMessage(200 * time.Millisecond) // none of the invalid ones

}

// startWakuNode starts a waku-profile node on loopback in its own actor
// system, on cluster with the given shard topics.
func startWakuNode(t *testing.T, name string, cluster uint16, shards ...uint16) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name, cfg.ClusterID = name, cluster
	cfg.PubsubTopics = sharding.Topics(cluster, shards)
	return startNode(t, cfg)
}

// startNode starts a node of cfg (logs discarded) in its own actor system.
func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	return startNodeWith(t, cfg, defaultDeps())
}

// startNodeWith is startNode with the child actors of d.
func startNodeWith(t *testing.T, cfg Config, d deps) *Node {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := newNode(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	if _, err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n
}

func peerOf(t *testing.T, n *Node, id peer.ID) *apiv1.Peer {
	t.Helper()
	ps, err := n.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.GetPeerId() == id.String() {
			return p
		}
	}
	return nil
}

// TestMetadataOnEveryConnection: two nodes of cluster 1 learn each other's
// shards on connecting (both directions); a node of cluster 2 is
// disconnected, and the connectivity loop does not dial it again. Real hosts
// on loopback.
func TestMetadataOnEveryConnection(t *testing.T) {
	a := startWakuNode(t, "a", 1, 0, 1)
	b := startWakuNode(t, "b", 1, 1)
	c := startWakuNode(t, "c", 2, 0)
	ctx := context.Background()
	if _, err := a.AddPeer(ctx, b.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a learns b's shards", func() bool {
		p := peerOf(t, a, b.ID())
		return p != nil && slices.Equal(p.GetShards(), []uint32{1})
	})
	waitUntil(t, 10*time.Second, "b learns a's shards", func() bool {
		p := peerOf(t, b, a.ID())
		return p != nil && slices.Equal(p.GetShards(), []uint32{0, 1})
	})
	if _, err := a.AddPeer(ctx, c.Addrs()[0]); err != nil {
		t.Logf("add cluster-2 peer: %v", err) // the disconnect may race the answer
	}
	waitUntil(t, 10*time.Second, "the cluster-2 peer is disconnected", func() bool {
		p := peerOf(t, a, c.ID())
		return a.Host().Network().Connectedness(c.ID()) != network.Connected && p != nil && p.GetConnectedness() != "connected"
	})
	if got := a.Host().Network().Connectedness(b.ID()); got != network.Connected {
		t.Fatalf("cluster-1 peer %s", got)
	}
}

// TestNodeRecord: a waku node has a signed record with its peer id, its TCP
// address, the relay capability and its shards, shown by Info; a node given
// that record as a static node connects to it.
func TestNodeRecord(t *testing.T) {
	b := startWakuNode(t, "b", 1, 2, 5)
	r, err := enr.Parse(b.ENR())
	if err != nil {
		t.Fatalf("record %q: %v", b.ENR(), err)
	}
	if r.PeerID != b.ID() || r.Waku2 != enr.CapRelay || r.Cluster != 1 || !slices.Equal(r.Shards, []uint16{2, 5}) || len(r.Addrs) == 0 {
		t.Fatalf("record %+v", r)
	}
	if !slices.ContainsFunc(b.Host().Addrs(), r.Addrs[0].Equal) {
		t.Fatalf("record address %s is not a listen address %v", r.Addrs[0], b.Host().Addrs())
	}
	info, err := b.Info(context.Background())
	if err != nil || info.GetEnrUri() != b.ENR() || info.GetClusterId() != 1 {
		t.Fatalf("info %v %v", info, err)
	}

	cfg := DefaultConfig()
	cfg.Name, cfg.ClusterID, cfg.PubsubTopics = "a", 1, sharding.Topics(1, []uint16{2})
	cfg.StaticNodes = []string{b.ENR()}
	a := startNode(t, cfg)
	waitUntil(t, 10*time.Second, "a connects to its static node given as a record", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})

	// Only secp256k1 keys sign records: another key type means no record.
	cfg = DefaultConfig()
	cfg.Name, cfg.Logger = "ed", slog.New(slog.DiscardHandler)
	cfg.Key, _, _ = crypto.GenerateEd25519Key(rand.Reader)
	ed, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ed.Close(context.Background())
	if ed.ENR() != "" {
		t.Fatalf("Ed25519 node has record %q", ed.ENR())
	}
}

// TestWebSocketListenerAndIdentify: with WebSocketSupport the node listens
// on WebSocket too (what js-waku dials), a WebSocket-only peer connects,
// exchanges metadata over it, and identify tells it our agent and protocol
// version; the node record lists the WebSocket address.
func TestWebSocketListenerAndIdentify(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name, cfg.WebSocketSupport = "ws", true
	n := startNode(t, cfg)
	var wsAddr ma.Multiaddr
	for _, a := range n.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_WS); err == nil {
			wsAddr = a
		}
	}
	if wsAddr == nil {
		t.Fatalf("no WebSocket listen address in %v", n.Host().Addrs())
	}
	r, err := enr.Parse(n.ENR())
	if err != nil || !slices.ContainsFunc(r.Addrs, wsAddr.Equal) {
		t.Fatalf("record addresses %v lack %s (%v)", r.Addrs, wsAddr, err)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.NoTransports, libp2p.Transport(websocket.New),
		libp2p.Security(noise.ID, noise.New), libp2p.Muxer(yamux.ID, yamux.DefaultTransport))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: []ma.Multiaddr{wsAddr}}); err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	got, err := metadata.Request(ctx, h, n.ID(), metadata.Info{HasCluster: true}, 5*time.Second)
	if err != nil || !got.HasCluster || !slices.Equal(got.Shards, []uint32{0}) {
		t.Fatalf("metadata over WebSocket: %v %v", got, err)
	}
	waitUntil(t, 10*time.Second, "identify", func() bool {
		v, _ := h.Peerstore().Get(n.ID(), "AgentVersion")
		return v == UserAgent
	})
	if v, _ := h.Peerstore().Get(n.ID(), "ProtocolVersion"); v != ProtocolVersion {
		t.Fatalf("protocol version %v, want %s", v, ProtocolVersion)
	}
}

// TestPublishMessageAutosharding: the embedding API publishes a WakuMessage
// on its content topic's shard (cluster 1, 8 shards: /toychat/2/huilong/proto
// is on shard 3), stamps a missing timestamp and names it by its RFC 14 hash.
func TestPublishMessageAutosharding(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Name, cfg.ClusterID, cfg.NumShardsInNetwork = "auto", 1, 8
	cfg.PubsubTopics = sharding.Topics(1, sharding.AllShards(8))
	n := startNode(t, cfg)
	sys := n.System()
	sub := actortest.NewProbe(t, sys)
	sub.Request(n.PID(), &apiv1.Subscribe{Topic: "/waku/2/rs/1/3"})
	if s := actortest.Expect[*apiv1.Subscribed](sub); s.GetError() != "" {
		t.Fatal(s.GetError())
	}
	if got, err := n.ShardTopic("/toychat/2/huilong/proto"); err != nil || got != "/waku/2/rs/1/3" {
		t.Fatalf("ShardTopic = %q, %v", got, err)
	}
	wm := &wakuv1.WakuMessage{Payload: []byte("hi"), ContentTopic: "/toychat/2/huilong/proto"}
	topic, hash, err := n.PublishMessage(context.Background(), "", wm)
	if err != nil || topic != "/waku/2/rs/1/3" {
		t.Fatalf("PublishMessage: %q %q %v", topic, hash, err)
	}
	got := actortest.Fish(sub, func(*apiv1.MessageReceived) bool { return true })
	var sent wakuv1.WakuMessage
	if err := proto.Unmarshal(got.GetData(), &sent); err != nil || sent.GetTimestamp() == 0 {
		t.Fatalf("delivered %v (%v): timestamp not set", &sent, err)
	}
	if want := message.HashOf(topic, &sent).String(); hash != want || got.GetMessageHash() != want {
		t.Fatalf("hash %s, delivered as %s, want %s", hash, got.GetMessageHash(), want)
	}
	if wm.Timestamp != nil {
		t.Fatal("PublishMessage changed the caller's message")
	}
	if _, _, err := n.PublishMessage(context.Background(), "", &wakuv1.WakuMessage{Payload: []byte("x"), ContentTopic: "bad"}); err == nil {
		t.Fatal("a malformed content topic was published")
	}
}
