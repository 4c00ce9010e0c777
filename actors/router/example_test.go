package router_test

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// Embedding the router in your own actor system: spawn it on a host, send
// it heartbeat Ticks (normally from the heartbeat actor), join, subscribe,
// publish.
func Example() {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		panic(err)
	}
	defer h.Close()
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	r := sys.Root.Spawn(router.Props(router.DefaultConfig(wire.ProfileWaku),
		router.Deps{Host: h, Registerer: prometheus.NewRegistry()}))

	ask := func(msg any) any {
		res, err := sys.Root.RequestFuture(r, msg, 5*time.Second).Result()
		if err != nil {
			panic(err)
		}
		return res
	}
	fmt.Println(ask(&pubsubv1.Join{Topic: "/waku/2/rs/1/0"}).(*pubsubv1.Joined).GetError() == "")

	// A subscriber is any actor that sends Subscribe as a Request: it then
	// receives a pubsubv1.Delivered for every message on the topic.
	delivered := make(chan string, 1)
	sub := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if d, ok := c.Message().(*pubsubv1.Delivered); ok {
			delivered <- string(d.GetMessage().GetData())
		}
	}))
	sys.Root.RequestWithCustomSender(r, &pubsubv1.Subscribe{Topic: "/waku/2/rs/1/0"}, sub)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { // the heartbeat actor's job in a node
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				sys.Root.Send(r, &heartbeatv1.Tick{Now: timestamppb.Now()})
			}
		}
	}()
	ask(&pubsubv1.Publish{Topic: "/waku/2/rs/1/0", Data: []byte("hello")})
	select {
	case got := <-delivered:
		fmt.Println(got)
	case <-ctx.Done():
		fmt.Println("timeout")
	}
	// Output:
	// true
	// hello
}
