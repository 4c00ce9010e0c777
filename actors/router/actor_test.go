package router_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/wire"
)

// simPair is two routers on an in-memory mocknet inside a synctest bubble.
type simPair struct {
	sys    *actor.ActorSystem
	probe  *actortest.Probe
	hosts  [2]host.Host
	router [2]*actor.PID
	net    mocknet.Mocknet
}

func newSimPair(t *testing.T, cfg router.Config) *simPair {
	t.Helper()
	// The network closes before the actor system is waited out at cleanup
	// (cleanups run last first): its disconnect events reach stopped actors.
	sys := actortest.NewSystem(t)
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
	p := &simPair{sys: sys, probe: actortest.NewProbe(t, sys), net: mn}
	for i := range 2 {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		p.hosts[i] = h
		p.router[i] = sys.Root.Spawn(router.Props(cfg, router.Deps{Host: h, Registerer: prometheus.NewRegistry()}))
		pid := p.router[i]
		t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	// Both routers have run Started (registered their stream handlers)
	// before a test connects them: a connection to a router that has not yet
	// registered its protocol fails the peer's stream open ("protocols not
	// supported"), and its session only reopens at the next heartbeat.
	synctest.Wait()
	return p
}

func (p *simPair) connect(t *testing.T) {
	t.Helper()
	if err := p.net.ConnectAllButSelf(); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
}

func (p *simPair) tick() {
	for _, r := range p.router {
		p.probe.Send(r, &heartbeatv1.Tick{Now: timestamppb.Now()})
	}
	synctest.Wait()
}

func TestRouterJoinPublishDeliver(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		p := newSimPair(t, router.DefaultConfig(wire.ProfileWaku))
		sub := actortest.NewProbe(t, p.sys)
		for _, r := range p.router {
			p.probe.Request(r, &pubsubv1.Join{Topic: "t"})
			p.probe.ExpectMessage(&pubsubv1.Joined{Topic: "t"})
		}
		sub.Request(p.router[1], &pubsubv1.Subscribe{Topic: "t"})
		sub.ExpectMessage(&pubsubv1.Subscribed{Topic: "t"})
		p.connect(t)
		p.tick()
		p.probe.Request(p.router[0], &pubsubv1.GetMesh{Topic: "t"})
		if m := actortest.Expect[*pubsubv1.Mesh](p.probe); len(m.GetMesh()) != 1 {
			t.Fatalf("mesh %v", m)
		}
		p.probe.Request(p.router[0], &pubsubv1.Publish{Topic: "t", Data: []byte("x")})
		pub := actortest.Expect[*pubsubv1.Published](p.probe)
		if pub.GetPeers() != 1 {
			t.Fatalf("published %v", pub)
		}
		d := actortest.Expect[*pubsubv1.Delivered](sub)
		if string(d.GetMessage().GetData()) != "x" || d.GetMessage().From != nil {
			t.Fatalf("delivered %v (StrictNoSign: no from)", d)
		}
	})
}

func joinBoth(t *testing.T, p *simPair, topic string) {
	t.Helper()
	for _, r := range p.router {
		p.probe.Request(r, &pubsubv1.Join{Topic: topic})
		p.probe.ExpectMessage(&pubsubv1.Joined{Topic: topic})
	}
}

func TestRouterSubscriptionsAndLeave(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		p := newSimPair(t, router.DefaultConfig(wire.ProfileLibp2p))
		joinBoth(t, p, "t")
		p.connect(t)
		p.probe.Request(p.router[0], &pubsubv1.GetMesh{Topic: "t"})
		if m := actortest.Expect[*pubsubv1.Mesh](p.probe); len(m.GetPeers()) != 1 || string(m.GetPeers()[0]) != string(p.hosts[1].ID()) {
			t.Fatalf("router 0 does not track router 1's subscription: %v", m)
		}
		p.tick()
		p.probe.Request(p.router[1], &pubsubv1.Leave{Topic: "t"})
		p.probe.ExpectMessage(&pubsubv1.Left{Topic: "t"})
		synctest.Wait()
		p.probe.Request(p.router[0], &pubsubv1.GetMesh{Topic: "t"})
		if m := actortest.Expect[*pubsubv1.Mesh](p.probe); len(m.GetPeers()) != 0 || len(m.GetMesh()) != 0 {
			t.Fatalf("after Leave, router 0 still has %v", m)
		}
		// Requests about a topic that is not joined answer with an error.
		p.probe.Request(p.router[1], &pubsubv1.Subscribe{Topic: "t"})
		expectError[*pubsubv1.Subscribed](t, p.probe, "Subscribe to a left topic")
		p.probe.Request(p.router[1], &pubsubv1.Leave{Topic: "t"})
		expectError[*pubsubv1.Left](t, p.probe, "second Leave")
	})
}

func TestRouterFanoutPublish(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		p := newSimPair(t, router.DefaultConfig(wire.ProfileLibp2p))
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: "t"})
		p.probe.ExpectMessage(&pubsubv1.Joined{Topic: "t"})
		sub := actortest.NewProbe(t, p.sys)
		sub.Request(p.router[0], &pubsubv1.Subscribe{Topic: "t"})
		sub.ExpectMessage(&pubsubv1.Subscribed{Topic: "t"})
		p.connect(t)
		p.probe.Request(p.router[1], &pubsubv1.Publish{Topic: "t", Data: []byte("from outside")})
		if pub := actortest.Expect[*pubsubv1.Published](p.probe); pub.GetPeers() != 1 || pub.GetError() != "" {
			t.Fatalf("fanout publish %v", pub)
		}
		d := actortest.Expect[*pubsubv1.Delivered](sub)
		if len(d.GetMessage().GetSignature()) == 0 || string(d.GetMessage().GetFrom()) != string(p.hosts[1].ID()) {
			t.Fatalf("libp2p profile: want a signed message from router 1, got %v", d)
		}
		p.probe.Request(p.router[1], &pubsubv1.GetMesh{Topic: "t"})
		if m := actortest.Expect[*pubsubv1.Mesh](p.probe); len(m.GetFanout()) != 1 || len(m.GetMesh()) != 0 {
			t.Fatalf("publisher's fanout %v", m)
		}
	})
}

func TestRouterRefusesBadRequests(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := router.DefaultConfig(wire.ProfileWaku)
		p := newSimPair(t, cfg)
		p.probe.Request(p.router[0], &pubsubv1.Publish{Topic: "t", Data: make([]byte, cfg.MaxMessageSize+1)})
		expectError[*pubsubv1.Published](t, p.probe, "oversized publish")
		d := uint32(2)
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: "t", Params: &pubsubv1.TopicParams{D: &d, DHi: &d, DLo: &d}})
		expectError[*pubsubv1.Joined](t, p.probe, "Join with Dout > D/2")
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: ""})
		expectError[*pubsubv1.Joined](t, p.probe, "Join of an empty topic")
	})
}

func TestRouterValidators(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := router.DefaultConfig(wire.ProfileWaku)
		cfg.ValidationTimeout = time.Second
		p := newSimPair(t, cfg)
		joinBoth(t, p, "t")
		val := actortest.NewProbe(t, p.sys)
		val.Request(p.router[1], &pubsubv1.RegisterValidator{Topic: "t"})
		val.ExpectMessage(&pubsubv1.ValidatorRegistered{Topic: "t"})
		sub := actortest.NewProbe(t, p.sys)
		sub.Request(p.router[1], &pubsubv1.Subscribe{Topic: "t"})
		sub.ExpectMessage(&pubsubv1.Subscribed{Topic: "t"})
		p.connect(t)
		p.tick()

		publish := func(data string) {
			p.probe.Request(p.router[0], &pubsubv1.Publish{Topic: "t", Data: []byte(data)})
			actortest.Expect[*pubsubv1.Published](p.probe)
		}
		// Reject: not delivered, and counted against the sender (P4).
		publish("bad")
		vm := actortest.Expect[*pubsubv1.ValidateMessage](val)
		if string(vm.GetReceivedFrom()) != string(p.hosts[0].ID()) {
			t.Fatalf("validation request %v", vm)
		}
		val.Respond(&pubsubv1.ValidationResult{MessageId: vm.GetMessageId(), Outcome: pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_REJECT})
		sub.ExpectNoMessage(time.Second)
		p.tick()
		p.tick()
		p.probe.Request(p.router[1], &pubsubv1.GetScores{})
		scores := actortest.Expect[*pubsubv1.Scores](p.probe)
		if len(scores.GetPeers()) != 1 || len(scores.GetPeers()[0].GetTopics()) != 1 || scores.GetPeers()[0].GetTopics()[0].GetInvalidMessages() >= 0 {
			t.Fatalf("want a negative P4 for router 0, got %v", scores)
		}
		before := scores.GetPeers()[0].GetScore()

		// No answer within ValidationTimeout: IGNORE, no delivery, no penalty.
		publish("slow")
		actortest.Expect[*pubsubv1.ValidateMessage](val)
		sub.ExpectNoMessage(2 * time.Second)
		p.tick()
		p.probe.Request(p.router[1], &pubsubv1.GetScores{})
		if after := actortest.Expect[*pubsubv1.Scores](p.probe).GetPeers()[0].GetScore(); after < before {
			t.Fatalf("an ignored message lowered the score from %v to %v", before, after)
		}

		// An explicit IGNORE: no delivery, no penalty either.
		publish("ignored")
		vm = actortest.Expect[*pubsubv1.ValidateMessage](val)
		val.Respond(&pubsubv1.ValidationResult{MessageId: vm.GetMessageId(), Outcome: pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_IGNORE})
		sub.ExpectNoMessage(time.Second)
		p.tick()
		p.probe.Request(p.router[1], &pubsubv1.GetScores{})
		if after := actortest.Expect[*pubsubv1.Scores](p.probe).GetPeers()[0].GetScore(); after < before {
			t.Fatalf("an explicitly ignored message lowered the score from %v to %v", before, after)
		}

		// Accept: delivered.
		publish("good")
		vm = actortest.Expect[*pubsubv1.ValidateMessage](val)
		val.Respond(&pubsubv1.ValidationResult{MessageId: vm.GetMessageId(), Outcome: pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_ACCEPT})
		if d := actortest.Expect[*pubsubv1.Delivered](sub); string(d.GetMessage().GetData()) != "good" {
			t.Fatalf("delivered %v", d)
		}
	})
}

func TestRouterRegistersWithHeartbeat(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		// The network closes before the actor system is waited out at cleanup
		// (cleanups run last first): its disconnect events reach stopped actors.
		sys := actortest.NewSystem(t)
		mn := mocknet.New()
		t.Cleanup(func() { _ = mn.Close() })
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hb := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(router.Props(router.DefaultConfig(wire.ProfileWaku),
			router.Deps{Host: h, Registerer: prometheus.NewRegistry(), Heartbeat: hb.PID()}))
		t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
		reg := actortest.Expect[*heartbeatv1.Register](hb)
		if reg.GetName() != router.HeartbeatName || reg.GetInterval().AsDuration() != time.Second {
			t.Fatalf("register %v", reg)
		}
		hb.Respond(&heartbeatv1.Registered{Name: reg.GetName()})
		hb.Send(pid, &heartbeatv1.Tick{Name: reg.GetName(), Now: timestamppb.Now()})
		hb.Request(pid, &pubsubv1.GetScores{})
		actortest.Expect[*pubsubv1.Scores](hb)
	})
}

// expectError expects the next message to be a T carrying an error.
func expectError[T interface{ GetError() string }](t *testing.T, p *actortest.Probe, what string) {
	t.Helper()
	if m := actortest.Expect[T](p); m.GetError() == "" {
		t.Fatalf("%s succeeded: %v", what, m)
	}
}

func TestRouterRejoinAfterLeave(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		p := newSimPair(t, router.DefaultConfig(wire.ProfileWaku))
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: "t"})
		p.probe.ExpectMessage(&pubsubv1.Joined{Topic: "t"})
		// Leave and Join back to back: the old topic actor may still be stopping.
		p.probe.Request(p.router[0], &pubsubv1.Leave{Topic: "t"})
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: "t"})
		got := map[string]string{}
		for range 2 {
			switch m := actortest.Expect[proto.Message](p.probe).(type) {
			case *pubsubv1.Left:
				got["left"] = m.GetError()
			case *pubsubv1.Joined:
				got["joined"] = m.GetError()
			}
		}
		if e, ok := got["left"]; !ok || e != "" {
			t.Fatalf("Left: %v", got)
		}
		if e, ok := got["joined"]; !ok || e != "" {
			t.Fatalf("Joined: %v", got)
		}
		p.probe.Request(p.router[0], &pubsubv1.GetMesh{Topic: "t"})
		if m := actortest.Expect[*pubsubv1.Mesh](p.probe); m.GetError() != "" {
			t.Fatalf("topic not joined after rejoin: %v", m)
		}
	})
}

func TestRouterMessageIDPerTopic(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := router.DefaultConfig(wire.ProfileWaku)
		firstByte := func(m *gossipsubv1.Message) []byte { return m.GetData()[:1] }
		cfg.TopicMsgID = map[string]wire.MsgIDFn{"short": firstByte}
		p := newSimPair(t, cfg)
		joinBoth(t, p, "short")
		sub := actortest.NewProbe(t, p.sys)
		sub.Request(p.router[1], &pubsubv1.Subscribe{Topic: "short"})
		sub.ExpectMessage(&pubsubv1.Subscribed{Topic: "short"})
		p.connect(t)
		p.tick()
		p.probe.Request(p.router[0], &pubsubv1.Publish{Topic: "short", Data: []byte("xyz")})
		if pub := actortest.Expect[*pubsubv1.Published](p.probe); string(pub.GetMessageId()) != "x" {
			t.Fatalf("publisher id %q, want the topic's function", pub.GetMessageId())
		}
		if d := actortest.Expect[*pubsubv1.Delivered](sub); string(d.GetMessageId()) != "x" {
			t.Fatalf("receiver id %q, want the topic's function", d.GetMessageId())
		}
		// Same first byte: a duplicate by this topic's ids, not delivered again.
		p.probe.Request(p.router[0], &pubsubv1.Publish{Topic: "short", Data: []byte("xab")})
		actortest.Expect[*pubsubv1.Published](p.probe)
		sub.ExpectNoMessage(time.Second)
		// Other topics keep the profile's sha256(data).
		p.probe.Request(p.router[0], &pubsubv1.Publish{Topic: "other", Data: []byte("xyz")})
		if pub := actortest.Expect[*pubsubv1.Published](p.probe); len(pub.GetMessageId()) != 32 {
			t.Fatalf("other topic id %x", pub.GetMessageId())
		}
	})
}

// Config.Score.Topics sets a topic's score parameters: a topic listed there
// is joined with its own parameters (here invalid ones, which Join refuses
// naming the parameter), every other topic with the default.
func TestRouterPerTopicScoreParams(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := router.DefaultConfig(wire.ProfileWaku)
		bad := cfg.Mesh.Score
		bad.MeshMessageDeliveriesWeight = 1 // a penalty weight must be ≤ 0
		cfg.Score.Topics = map[string]score.TopicParams{"custom": bad}
		p := newSimPair(t, cfg)
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: "custom"})
		j := actortest.Expect[*pubsubv1.Joined](p.probe)
		if !strings.Contains(j.GetError(), "MeshMessageDeliveriesWeight") {
			t.Fatalf("Join of the custom topic: %q, want an error naming MeshMessageDeliveriesWeight", j.GetError())
		}
		p.probe.Request(p.router[0], &pubsubv1.Join{Topic: "default"})
		p.probe.ExpectMessage(&pubsubv1.Joined{Topic: "default"})
	})
}
