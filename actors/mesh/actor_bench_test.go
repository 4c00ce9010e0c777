package mesh

import (
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router/session"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// actorBenchSink stands in for a session: it counts what it is sent.
type actorBenchSink struct{ n *actortest.Counter }

func (s actorBenchSink) Receive(c actor.Context) {
	if _, ok := c.Message().(*pubsubv1.SendToPeer); ok {
		s.n.Add(1)
	}
}

// actorBenchParent stands in for the router: sinks for n peers, the topic actor,
// and reports forwarded to a channel.
type actorBenchParent struct {
	peers   int
	sent    *actortest.Counter
	topic   *actor.Props
	reports chan *pubsubv1.TopicReport
	spawned chan struct{} // closed once the topic actor exists
}

func (p *actorBenchParent) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		for i := range p.peers {
			_, _ = c.SpawnNamed(actorkit.Props(func() actor.Actor { return actorBenchSink{p.sent} }), "peer/"+actorBenchPeer(i).String())
		}
		_, _ = c.SpawnNamed(p.topic, "topic/bench")
		close(p.spawned)
	case *pubsubv1.TopicReport:
		select {
		case p.reports <- m:
		default:
		}
	}
}

func actorBenchPeer(i int) peer.ID { return peer.ID([]byte{0, 4, 'b', byte(i)}) }

func benchTopicActor(b *testing.B, peers int, cfg Config) (*actor.ActorSystem, *actor.PID, *actortest.Counter, chan *pubsubv1.TopicReport) {
	sys := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(
		func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	b.Cleanup(sys.Shutdown)
	sent := &actortest.Counter{}
	spawned := make(chan struct{})
	reports := make(chan *pubsubv1.TopicReport, 1)
	props := Props(cfg, Deps{Topic: "bench"})
	parent := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
		return &actorBenchParent{peers: peers, sent: sent, topic: props, reports: reports, spawned: spawned}
	}))
	topic := session.TopicPID(parent, "bench")
	select {
	case <-spawned:
	case <-time.After(5 * time.Second):
		b.Fatal("the bench parent did not spawn the topic actor")
	}
	sub := true
	for i := range peers {
		sys.Root.Send(topic, &pubsubv1.PeerSubscriptions{Peer: []byte(actorBenchPeer(i)), Protocol: string(wire.ProtocolMeshsub12),
			Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String("bench"), Subscribe: &sub}}})
	}
	if _, err := sys.Root.RequestFuture(topic, &pubsubv1.Join{Topic: "bench"}, 5*time.Second).Result(); err != nil {
		b.Fatal(err)
	}
	return sys, topic, sent, reports
}

// BenchmarkTopicActorForward: received messages through one topic actor
// (seen check, accept without validator, deliver, forward to a mesh of 6),
// measured until every forward reached its session.
func BenchmarkTopicActorForward(b *testing.B) {
	cfg := DefaultConfig(ProfileLibp2p)
	// The loop posts b.N messages without waiting (no session windows in
	// front of the actor): the mailbox bound would drop most of them. This
	// measures throughput, not the bound.
	cfg.MaxMailbox = math.MaxInt32
	sys, topic, sent, _ := benchTopicActor(b, 8, cfg)
	base := sent.Load()
	from := []byte(actorBenchPeer(0))
	data := make([]byte, 1024)
	i := 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		i++
		id := []byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}
		sys.Root.Send(topic, &pubsubv1.ReceivedMessages{Peer: from,
			Messages: []*pubsubv1.IdentifiedMessage{{Id: id, Message: &gossipsubv1.Message{Topic: proto.String("bench"), Data: data}}}})
	}
	// The last message is forwarded once its SendToPeers arrived: wait for the
	// mesh size (D-1 = 5 peers besides the sender) per message.
	want := base + int64(i)*int64(cfg.D-1)
	if !sent.WaitFor(want, 30*time.Second) {
		b.Fatalf("%d of %d forwards reached their sessions", sent.Load()-base, want-base)
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkTopicActorHeartbeat100: one heartbeat of a joined topic with 100
// subscribed peers (scores, rebalance, gossip, report).
func BenchmarkTopicActorHeartbeat100(b *testing.B) {
	sys, topic, _, reports := benchTopicActor(b, 100, DefaultConfig(ProfileLibp2p))
	// Some traffic so that gossip has a window to advertise.
	for i := range 100 {
		sys.Root.Send(topic, &pubsubv1.ReceivedMessages{Peer: []byte(actorBenchPeer(i % 100)),
			Messages: []*pubsubv1.IdentifiedMessage{{Id: []byte{byte(i), 1}, Message: &gossipsubv1.Message{Topic: proto.String("bench"), Data: []byte{byte(i)}}}}})
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		sys.Root.Send(topic, &heartbeatv1.Tick{Now: timestamppb.New(now)})
		<-reports
	}
}
