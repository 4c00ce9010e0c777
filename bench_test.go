package peermesh

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/internal/actorkit"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
)

// BenchmarkPublishToLocalSubscriber measures the node's API hop: Publish
// through the node to a (fake, in-process) router and the delivery back
// through the node to a subscriber actor.
func BenchmarkPublishToLocalSubscriber(b *testing.B) {
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	defer sys.Shutdown()
	cfg := testConfig("bench")
	n, err := newNode(cfg, deps{router: func(*Node, *actor.PID) *actor.Props {
		return actorkit.Props(func() actor.Actor { return &fakeRouter{subs: map[string][]*actor.PID{}} })
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, 1)
	sink := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*apiv1.MessageReceived); ok {
			got <- struct{}{}
		}
	}))
	if err := n.Subscribe(context.Background(), "/t", sink); err != nil {
		b.Fatal(err)
	}
	msg := &apiv1.Publish{Topic: "/t", Data: make([]byte, 256)}
	b.ReportAllocs()
	for b.Loop() {
		sys.Root.Send(pid, msg)
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			b.Fatal("no delivery")
		}
	}
}
