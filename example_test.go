package peermesh_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/actortest"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

const topic = "/waku/2/rs/0/0"

// newNode builds a node for the examples: loopback, a free port, nothing on
// disk, quiet logs.
func newNode(name string) *peermesh.Node {
	cfg := peermesh.DefaultConfig()
	cfg.Name = name
	cfg.Profile = peermesh.ProfileLibp2p // data is free-form bytes, not a WakuMessage
	cfg.PubsubTopics = []string{topic}
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := peermesh.New(cfg)
	if err != nil {
		panic(err)
	}
	return n
}

// waitForMesh polls GetMesh until n has a mesh peer on topic. The mesh forms
// on the router's heartbeat (1 s); each poll is a bounded request.
func waitForMesh(n *peermesh.Node) error {
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if mesh, err := n.Mesh(context.Background()); err == nil && len(mesh) > 0 && len(mesh[0].GetPeerIds()) > 0 {
			return nil
		}
		<-tick.C
	}
	return fmt.Errorf("no mesh peer on %s", topic)
}

// pair spawns two nodes, alice and bob, in an ActorSystem that stands for
// the embedding program's own; stop closes both nodes and the system.
func pair() (sys *actor.ActorSystem, a, b *peermesh.Node, alice, bob *actor.PID, stop func()) {
	sys = actor.NewActorSystem()
	a, b = newNode("alice"), newNode("bob")
	alice, errA := a.Spawn(sys.Root) // the node is a child of the caller's context
	bob, errB := b.Spawn(sys.Root)
	if errA != nil || errB != nil {
		panic(fmt.Sprint(errA, errB))
	}
	return sys, a, b, alice, bob, func() {
		_ = a.Close(context.Background())
		_ = b.Close(context.Background())
		sys.Shutdown()
	}
}

// subscriber is a user actor that passes on the payloads it receives.
func subscriber(out chan<- string) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*apiv1.MessageReceived); ok {
			out <- string(m.GetData())
		}
	})
}

// Two nodes embedded in one ActorSystem exchange a message over loopback.
func Example() {
	sys, a, b, alice, bob, stop := pair()
	defer stop()

	// Bob's own actor receives the topic's messages.
	got := make(chan string, 1)
	inbox := sys.Root.Spawn(subscriber(got))
	res, _ := sys.Root.RequestFuture(bob, &apiv1.Subscribe{Topic: topic, Subscriber: peermesh.Ref(inbox)}, 5*time.Second).Result()
	fmt.Println("subscribed:", res.(*apiv1.Subscribed).GetError() == "")

	res, _ = sys.Root.RequestFuture(alice, &apiv1.AddPeer{Multiaddr: b.Addrs()[0]}, 15*time.Second).Result()
	fmt.Println("connected:", res.(*apiv1.PeerAdded).GetError() == "")
	if err := waitForMesh(a); err != nil {
		fmt.Println(err)
		return
	}
	res, _ = sys.Root.RequestFuture(alice, &apiv1.Publish{Topic: topic, Data: []byte("hello bob")}, 5*time.Second).Result()
	fmt.Println("published:", res.(*apiv1.Published).GetError() == "")
	select {
	case m := <-got:
		fmt.Println("bob received:", m)
	case <-time.After(10 * time.Second):
		fmt.Println("nothing received")
	}
	// Output:
	// subscribed: true
	// connected: true
	// published: true
	// bob received: hello bob
}

// A user's own actor validates a topic's messages: the node forwards
// pubsubv1.RegisterValidator to its router, which asks the validator about
// every message received on the topic before delivering or forwarding it.
func Example_validator() {
	sys, a, b, alice, bob, stop := pair()
	defer stop()

	// Rejects anything that starts with "spam"; REJECT also counts against
	// the sender's score (P4).
	validator := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*pubsubv1.ValidateMessage); ok {
			outcome := pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_ACCEPT
			if bytes.HasPrefix(m.GetMessage().GetData(), []byte("spam")) {
				outcome = pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_REJECT
			}
			c.Respond(&pubsubv1.ValidationResult{MessageId: m.GetMessageId(), Outcome: outcome})
		}
	}))
	// The validator is the sender of RegisterValidator (here sent on its
	// behalf; it receives the ValidatorRegistered answer). Requests to the
	// node are handled in order, so it is in place before the subscription.
	sys.Root.RequestWithCustomSender(bob, &pubsubv1.RegisterValidator{Topic: topic}, validator)

	got := make(chan string, 2)
	inbox := sys.Root.Spawn(subscriber(got))
	sys.Root.RequestFuture(bob, &apiv1.Subscribe{Topic: topic, Subscriber: peermesh.Ref(inbox)}, 5*time.Second).Wait()
	sys.Root.RequestFuture(alice, &apiv1.AddPeer{Multiaddr: b.Addrs()[0]}, 15*time.Second).Wait()
	if err := waitForMesh(a); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range []string{"spam, buy now", "a real message"} {
		sys.Root.RequestFuture(alice, &apiv1.Publish{Topic: topic, Data: []byte(m)}, 5*time.Second).Wait()
	}
	fmt.Println("bob received:", <-got)
	select {
	case m := <-got:
		fmt.Println("unexpected:", m)
	case <-time.After(500 * time.Millisecond):
		fmt.Println("nothing else")
	}
	// Output:
	// bob received: a real message
	// nothing else
}

// An embedder tests against a node with the actortest probe: subscribe,
// publish, and expect the delivery, exactly as with any other actor.
func TestProbeAgainstEmbeddedNode(t *testing.T) {
	sys := actortest.NewSystem(t)
	n := newNode("probed")
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		t.Fatal(err)
	}
	p := actortest.NewProbe(t, sys)
	p.Request(pid, &apiv1.Subscribe{Topic: topic})
	p.ExpectMessage(&apiv1.Subscribed{Topic: topic})
	p.Request(pid, &apiv1.Publish{Topic: topic, Data: []byte("to myself")})
	// A local publish is delivered to local subscribers too.
	got := actortest.Fish(p, func(m *apiv1.MessageReceived) bool { return m.GetTopic() == topic })
	if string(got.GetData()) != "to myself" || got.GetReceivedFrom() != "" {
		t.Fatalf("got %v", got)
	}
	p.Request(pid, &apiv1.GetInfo{})
	info := actortest.Fish(p, func(*apiv1.Info) bool { return true })
	if info.GetPeerId() != n.ID().String() || len(info.GetTopics()) != 1 {
		t.Fatalf("info %v", info)
	}
}
